"""items.json, the item vocabulary of an item model, and catalogs (docs/FORMATS.md): writing them."""
import json

from .baskets import SPECIAL_TOKENS


def write_items_json(path, items, special_tokens=SPECIAL_TOKENS):
    """Writes `items` (dicts in token order) as items.json: one item per line, so that the file
    stays small and its diffs readable."""
    with open(path, "w", encoding="utf-8") as f:
        head = {"format": "gptrec-items", "version": 1, "special_tokens": list(special_tokens)}
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ',\n "items": [\n')
        f.write(",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in items))
        f.write("\n ]\n}\n")


def write_catalog(path, items, rest=None):
    """Writes a catalog: a JSON array of `items` one per line, or with `rest` (other top-level
    keys) the object {**rest, "items": [...]}."""
    listing = "[\n" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in items) + "\n]"
    if rest is not None:
        head = json.dumps(rest, ensure_ascii=False)[:-1]
        listing = head + (", " if rest else "") + '"items": ' + listing + "}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(listing + "\n")
