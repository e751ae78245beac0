#!/usr/bin/env python3
"""Writes the sample customer histories under examples/ from the UCI Online Retail data set
(CC BY 4.0; see examples/README.md):

  examples/customers/<id>.json        a few real customers, every order before their last one
  examples/online-retail-sample.jsonl  300 real customers (whole histories), one per line

Histories keep the fields of docs' history format: item, type (purchase or return), timestamp,
quantity, order. Deterministic (fixed customer list and seed).

  /usr/bin/python3 tools/make_examples.py --data ../shared/data/online-retail/histories.jsonl.gz
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import baskets as bk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Chosen for varied histories: customers in Norway (8 orders), Italy (10), the UK (8; and one with 24
# orders, who reorders often) and France (7).
EXAMPLE_CUSTOMERS = ["12352", "12594", "12910", "13113", "12494"]
SAMPLE_SIZE = 300


def slim(history, drop_last_order=False):
    events = [{"item": e["item"], "type": e["type"], "timestamp": e["timestamp"],
               "quantity": e["quantity"], "order": e["order"]} for e in history["events"]]
    if drop_last_order:
        orders = [e["order"] for e in bk.purchase_events(history)]
        last = orders[-1]
        cut = next(i for i, e in enumerate(events) if e["order"] == last)
        events = events[:cut]
    return {"customer_id": history["customer_id"], "events": events}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="online-retail histories.jsonl.gz")
    ap.add_argument("--out", default=os.path.join(ROOT, "examples"))
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    histories = list(bk.read_histories(args.data))
    by_id = {h["customer_id"]: h for h in histories}
    os.makedirs(os.path.join(args.out, "customers"), exist_ok=True)
    for cid in EXAMPLE_CUSTOMERS:
        with open(os.path.join(args.out, "customers", f"{cid}.json"), "w") as f:
            h = slim(by_id[cid], drop_last_order=True)
            # One event per line: easy to read and to edit by hand.
            f.write('{"customer_id": %s, "events": [\n' % json.dumps(h["customer_id"]))
            f.write(",\n".join("  " + json.dumps(e) for e in h["events"]))
            f.write("\n]}\n")

    # Customers with 2 to 15 orders and at most 60 order lines keep the file small.
    eligible = [h for h in histories
                if 2 <= len(bk.baskets_of(h)) <= 15 and len(h["events"]) <= 60]
    rng = np.random.default_rng(args.seed)
    pick = sorted(rng.choice(len(eligible), size=SAMPLE_SIZE, replace=False).tolist())
    with open(os.path.join(args.out, "online-retail-sample.jsonl"), "w") as f:
        for i in pick:
            f.write(json.dumps(slim(eligible[i]), separators=(",", ":")) + "\n")
    print(f"wrote {len(EXAMPLE_CUSTOMERS)} customers and a sample of {SAMPLE_SIZE} under {args.out}")


if __name__ == "__main__":
    main()
