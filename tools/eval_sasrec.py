#!/usr/bin/env python3
"""The SASRec protocol (docs/EVALUATION.md) in Python, for an item model directory: the check of
`gptrec eval --protocol sasrec` (same split, candidates, ranking rule and metrics, computed with
PyTorch from the exported weights) and of tools/train.py's validation figures.

  /usr/bin/python3 tools/eval_sasrec.py --model models/games --data ../shared/data/games/Video.txt \\
      --candidates ../shared/data/games/sampled_test_seed0.jsonl.gz

It prints HR@10 and NDCG@10 of the three rankings: full_excl (every item but the input's, the
headline; HR@10 = Recall@10), full and sampled.

--split test (default) ranks each user's last item, the input being every item before it;
--split valid ranks the second last from the items before it, against the negatives that
tools/train.py --split sasrec validates with (seed 0). Without --candidates, the test negatives
are drawn with numpy (seed --seed), not as the C++ tool draws them.

--model DIR DIR ...: the models' mean log-softmax over the items as one score (an ensemble; the
engine runs one model, so this is for trying ensembles on the validation items).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import baskets as bk  # noqa: E402
from gptrec_tools import item_gpt, sasrec, torch_runtime  # noqa: E402


def read_sequences(path):
    """{user: [item, ...]}: "user item [item ...]" lines (Video.txt: one item a line; the S3-Rec
    files: a user's whole sequence) or histories JSONL(.gz), file order."""
    out = {}
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    u, *items = line.split()
                    out.setdefault(u, []).extend(items)
        return out
    for n, h in enumerate(bk.read_histories(path)):
        items = [str(e["item"]) for e in bk.purchase_events(h)]
        if items:
            out[str(h.get("customer_id", n)) if isinstance(h, dict) else str(n)] = items
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, nargs="+", help="model directory (several: their mean log-softmax)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--candidates", help="task file with fixed negatives (test split)")
    ap.add_argument("--split", choices=["test", "valid"], default="test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON (the keys of `gptrec eval --format json`)")
    args = ap.parse_args(argv)
    torch_runtime.keep_freed_memory()
    torch.set_num_threads(args.threads)

    sequences = read_sequences(args.data)
    train, valid, test = sasrec.split(sequences)
    universe = sasrec.Universe(sequences)
    if args.split == "test":
        cases = [(u, train[u] + [valid[u]], test[u]) for u in test]
    else:
        cases = [(u, train[u], valid[u]) for u in valid]
    subset = None
    if args.candidates:
        fixed = sasrec.read_candidates(args.candidates, universe)
        negatives = {u: fixed[u][0] for u, _, _ in cases}
        subset = np.array([fixed[u][1] for u, _, _ in cases])
    else:
        negatives = sasrec.draw_negatives(universe, train, [c[0] for c in cases], np.random.default_rng(args.seed))

    scorers = []
    for path in args.model:
        model, config, items = item_gpt.load_model_dir(path)
        n_special = len(items["special_tokens"])
        item_ids = {e["id"]: n_special + j for j, e in enumerate(items["items"])}
        scorers.append(sasrec.model_scorer(model, item_ids, universe, n_special))
    if len(scorers) == 1:
        score_fn = scorers[0]
    else:
        def score_fn(inputs):
            return sum(torch.log_softmax(f(inputs), dim=1) for f in scorers) / len(scorers)
    m, (hr, ndcg), _ = sasrec.evaluate(score_fn, cases, universe, negatives)
    print(f"{args.split}: {len(cases)} users, {len(universe)} items")
    print(f"{'':12} {'HR@10':>8} {'NDCG@10':>8}")
    for name in ("full_excl", "full", "sampled"):
        print(f"{name:12} {m[name]['hr']:8.4f} {m[name]['ndcg']:8.4f}")
    print("(full_excl: against every item but the input's, the headline; HR@10 = Recall@10)")
    result = {"evaluated": len(cases), "items": len(universe),
              **{name: {"hr": m[name]["hr"], "ndcg": m[name]["ndcg"]} for name in ("full_excl", "full", "sampled")}}
    result["full_excl"] = {"recall": m["full_excl"]["hr"], **result["full_excl"]}
    if subset is not None and subset.any():
        print(f"{'subset':12} {hr[subset].mean():8.4f} {ndcg[subset].mean():8.4f}  ({int(subset.sum())} users)")
        result["sampled_subset"] = {"hr": float(hr[subset].mean()), "ndcg": float(ndcg[subset].mean())}
        result["subset_evaluated"] = int(subset.sum())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
