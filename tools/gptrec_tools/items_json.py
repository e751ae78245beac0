"""items.json, the item vocabulary of an item model (docs/FORMATS.md): writing it."""
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
