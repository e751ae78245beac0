#!/usr/bin/env python3
"""Marks the service lines of a data set (postage, fees, discounts, adjustments) "product": false
in an items.json or a catalog (docs/FORMATS.md), by the data set's rule
(tools/gptrec_tools/non_products.py). gptrec then never suggests them and never gives them as a
reason; a model still reads them in histories, so the weights need no retraining. Entries already
marked stay marked; the file's item order is kept (token ids do not change).

  /usr/bin/python3 tools/mark_non_products.py --rule online-retail models/online-retail/items.json
  /usr/bin/python3 tools/mark_non_products.py --rule online-retail \\
      ../shared/data/online-retail/catalog.json --out /tmp/catalog.json

tools/train.py --non-products RULE applies the same rule when it writes a model's items.json.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import non_products  # noqa: E402
from gptrec_tools.items_json import write_catalog, write_items_json  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", help="an items.json, or a catalog JSON ([{...}] or {\"items\": [...]})")
    ap.add_argument("--rule", required=True, choices=sorted(non_products.RULES))
    ap.add_argument("--out", help="file to write (default: PATH itself)")
    args = ap.parse_args(argv)
    try:
        with open(args.path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"mark_non_products.py: {args.path}: {e}")
    is_vocabulary = isinstance(doc, dict) and doc.get("format") == "gptrec-items"
    items = doc["items"] if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not all(isinstance(e, dict) and "id" in e for e in items):
        sys.exit(f"mark_non_products.py: {args.path}: expected a list of items with an \"id\" each")
    marked = non_products.mark(items, args.rule)
    out = args.out or args.path
    if is_vocabulary:
        write_items_json(out, items, doc["special_tokens"])
    else:
        write_catalog(out, items, {k: v for k, v in doc.items() if k != "items"}
                      if isinstance(doc, dict) else None)
    print(f"{out}: {len(marked)} of {len(items)} items are not products: {', '.join(marked)}")


if __name__ == "__main__":
    main()
