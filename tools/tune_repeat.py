#!/usr/bin/env python3
"""Chooses an item model's repeat component (config.json "gptrec": {"repeat": {"weight", "decay"}},
docs/EVALUATION.md) on validation orders the model never saw, and writes it into the shipped model.

The shipped model is trained on every order but each customer's last (the test order). Its own
training orders cannot choose the weight: the GPT has learned them, looks far better on them than
on new orders, and the choice would lean toward it. So the choice is made with a second model of
the same recipe trained one order earlier:

  1. --write-validation FILE: the histories without each customer's last order. On FILE, the
     last-basket protocol holds out each customer's second last order (the validation order).
  2. train the tuning model on FILE with tools/train.py and the shipped model's hyper-parameters
     (--no-valid, --epochs = the shipped model's selected epochs): it never sees the validation
     orders.
  3. --tune-model DIR: `gptrec eval` of DIR on FILE for every weight x decay of the grid (one run,
     one forward pass per customer); the pair with the best mean of next-basket Recall@10 and
     NDCG@10 wins (the discovery setting ranks only items never bought, which the repeat component
     leaves in the same order); --apply-to MODEL writes it into MODEL/config.json and the table
     into MODEL/README.md.

  /usr/bin/python3 tools/tune_repeat.py --data ../shared/data/online-retail/histories.jsonl.gz \\
      --write-validation /tmp/retail-valid.jsonl
  /usr/bin/python3 tools/train.py --data /tmp/retail-valid.jsonl ... --no-valid --epochs 16 --out /tmp/tune
  /usr/bin/python3 tools/tune_repeat.py --validation /tmp/retail-valid.jsonl --tune-model /tmp/tune \\
      --gptrec build/gptrec --apply-to models/online-retail
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import baskets as bk  # noqa: E402
from train import replace_section  # noqa: E402

WEIGHTS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
DECAYS = [0.5, 0.7, 0.8, 0.9, 0.95, 1]


def write_validation(data, out):
    """Each history without its last basket, as purchase events (one order id per basket)."""
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for h in bk.read_histories(data):
            events = []
            for b, items in enumerate(bk.baskets_of(h)[:-1]):
                events += [{"item": item, "type": "purchase", "timestamp": "2000-01-01", "order": f"b{b:05d}"}
                           for item in items]
            customer = h.get("customer_id", str(n)) if isinstance(h, dict) else str(n)
            f.write(json.dumps({"customer_id": customer, "events": events}) + "\n")
            n += 1
    print(f"{out}: {n} customers", file=sys.stderr)


def tune(args):
    command = [args.gptrec, "eval", "--model", args.tune_model, "--data", args.validation, "--format", "json",
               "--quiet", "--repeat-weight", ",".join(map(str, args.weights)),
               "--repeat-decay", ",".join(map(str, args.decays))]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    rows = []
    for m in report["methods"]:
        if " repeat " not in m["method"]:
            continue
        w, d = (float(x) for x in m["method"].rsplit(" repeat ", 1)[1].split("/"))
        nb = m["next_basket"]
        rows.append(((nb["recall"] + nb["ndcg"]) / 2, w, d, nb))
    best = max(rows, key=lambda r: r[0])
    base = next(r for r in rows if r[1] == 0)
    lines = ["| weight | decay | next HR@10 | next Recall@10 | next NDCG@10 |", "|---:|---:|---:|---:|---:|"]
    for _, w, d, nb in sorted(rows, key=lambda r: (r[1], r[2])):
        if w == 0 and d != args.decays[0]:
            continue  # weight 0 ignores the decay: one row
        mark = " **(chosen)**" if (w, d) == (best[1], best[2]) else ""
        lines.append(f"| {w:g} | {d:g}{mark} | {nb['hr']:.4f} | {nb['recall']:.4f} | {nb['ndcg']:.4f} |")
    table = "\n".join(lines)
    print(table)
    print(f"chosen: weight {best[1]:g}, decay {best[2]:g} (validation next-basket Recall@10 "
          f"{best[3]['recall']:.4f}, NDCG@10 {best[3]['ndcg']:.4f}; without: {base[3]['recall']:.4f}, "
          f"{base[3]['ndcg']:.4f}); {report['evaluated']['next_basket']} validation customers")
    if args.apply_to:
        path = os.path.join(args.apply_to, "config.json")
        config = json.load(open(path, encoding="utf-8"))
        config.setdefault("gptrec", {})["repeat"] = {"weight": best[1], "decay": best[2]}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        this = "/usr/bin/python3 tools/tune_repeat.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        body = "\n".join([
            "## Repeat component (chosen on validation)", "",
            f"`config.json` has `\"repeat\": {{\"weight\": {best[1]:g}, \"decay\": {best[2]:g}}}`: the suggestions are "
            f"{1 - best[1]:g} x the GPT's softmax + {best[1]:g} x the customer's own past items, each order weighted "
            f"{best[2]:g}^age (docs/EVALUATION.md). Chosen on each customer's second last order "
            f"({report['evaluated']['next_basket']} customers) with a model of the same recipe trained without "
            "those orders (tools/tune_repeat.py explains why), by the mean of next-basket Recall@10 and NDCG@10:", "",
            "```sh", this, "```", "", table])
        readme = os.path.join(args.apply_to, "README.md")
        text = open(readme, encoding="utf-8").read()
        with open(readme, "w", encoding="utf-8") as f:
            f.write(replace_section(text, "tune_repeat.py", body))
        print(f"wrote {path} and {readme}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="histories JSONL(.gz) (with --write-validation)")
    ap.add_argument("--write-validation", metavar="FILE", help="write the histories without each last order")
    ap.add_argument("--validation", metavar="FILE", help="the file --write-validation wrote")
    ap.add_argument("--tune-model", metavar="DIR", help="the model trained on the validation file")
    ap.add_argument("--gptrec", default="build/gptrec", help="the gptrec binary (default build/gptrec)")
    ap.add_argument("--weights", type=float, nargs="+", default=WEIGHTS)
    ap.add_argument("--decays", type=float, nargs="+", default=DECAYS)
    ap.add_argument("--apply-to", metavar="MODEL", help="write the chosen pair into MODEL/config.json")
    args = ap.parse_args()
    if args.write_validation:
        if not args.data:
            ap.error("--write-validation needs --data")
        write_validation(args.data, args.write_validation)
    if args.tune_model:
        if not args.validation:
            ap.error("--tune-model needs --validation")
        tune(args)
    if not args.write_validation and not args.tune_model:
        ap.error("nothing to do: give --write-validation or --tune-model")


if __name__ == "__main__":
    main()
