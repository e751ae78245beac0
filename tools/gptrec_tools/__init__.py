"""Python helpers shared by gptrec's tools (fixtures, converter, trainer, comparisons)."""
