#!/usr/bin/env python3
"""Evaluates item models and the classic baselines with the last-basket protocol of
docs/EVALUATION.md: for every customer with at least 2 baskets, the last basket is held out and
predicted from the ones before it; training data (for the baselines' statistics) is every
customer's baskets but the last. Reports HR@10, Recall@10 and NDCG@10 in the "next basket" and
"discovery" settings for popularity, repeat-then-popularity, item-kNN, first-order Markov, personal
top-frequency, Markov with popularity back-off and TIFU-KNN (the last three with hyper-parameters
chosen on validation baskets) and each --model (an exported model directory, run with a plain float32 PyTorch forward pass).

This is the Python cross-check of `gptrec eval --protocol last-basket`.

  /usr/bin/python3 tools/eval_last_basket.py --data ../shared/data/online-retail/histories.jsonl.gz \\
      --model models/online-retail [--write-readme models/online-retail]
"""
import argparse
import json
import os
import shlex
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import baskets as bk  # noqa: E402
from gptrec_tools import basket_ranker, item_gpt, last_basket  # noqa: E402
from train import replace_section  # noqa: E402


def mix_repeat(tokens, log_probs, n_special, sequence_format, weight, decay):
    """The repeat component (docs/EVALUATION.md): log((1 - w) softmax + w copy), copy = each item
    occurrence in `tokens` weighted decay^age (age in units, newest 0), normalised. In place."""
    if weight <= 0:
        return
    mass = {}
    w, total, unit_open = 1.0, 0.0, False
    for token in reversed(tokens):
        if token == bk.SEP:
            if unit_open:
                w *= decay
            unit_open = False
            continue
        j = token - n_special
        if j < 0:
            continue
        mass[j] = mass.get(j, 0.0) + w
        total += w
        if sequence_format == "baskets":
            unit_open = True
        else:
            w *= decay
    if total <= 0:
        return
    p = (1.0 - weight) * np.exp(log_probs.astype(np.float64))
    for j, m in mass.items():
        p[j] += weight * m / total
    with np.errstate(divide="ignore"):
        log_probs[:] = np.log(p)


def gpt_scores(model_dir, universe, cases, batch_tokens, repeat=None):
    """Scores of an exported model for every case, over universe indices (-inf: not in vocabulary).
    repeat: (weight, decay) instead of the model's own config.json "gptrec.repeat"."""
    model, config, items = item_gpt.load_model_dir(model_dir)
    fmt = config.get("gptrec", {}).get("sequence_format", "baskets")
    if fmt != "baskets":
        raise SystemExit(f"{model_dir}: the last-basket protocol needs a `baskets` model, not {fmt!r}")
    n_special = len(items["special_tokens"])
    item_ids = {str(e["id"]): n_special + j for j, e in enumerate(items["items"])}
    col = np.array([item_ids.get(i, -1) for i in universe.ids])
    scores = item_gpt.score_next_units(model, item_ids, fmt, [c[1] for c in cases], batch_tokens).astype(np.float64)
    ranker = config.get("gptrec", {}).get("ranker")
    if repeat is None:
        r = config.get("gptrec", {}).get("repeat", {})
        repeat = (r.get("weight", 0.0), r.get("decay", 1.0))
    else:
        ranker = None  # as gptrec eval --repeat-weight: the GPT with a repeat component
    if repeat[0] > 0:
        for row, (_, inputs, _) in zip(scores, cases):
            tokens = bk.build_sequence(inputs, item_ids, fmt, config["n_positions"])[0]
            mix_repeat(tokens, row, n_special, fmt, *repeat)
    if ranker is not None:
        item_index = {i: t - n_special for i, t in item_ids.items()}
        pool = basket_ranker.load_pool(os.path.join(model_dir, ranker["neighbors"]["file"]), item_index, ranker)
        for r, (cid, inputs, _) in enumerate(cases):
            known = basket_ranker.known_baskets(inputs, item_index)
            z = basket_ranker.logits(scores[r], known, pool.share(known, cid), ranker)
            scores[r] = basket_ranker.log_softmax(z)
    out = np.full((len(cases), len(universe)), -np.inf)
    known = col >= 0
    out[:, known] = scores[:, col[known] - n_special]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="histories JSONL, optionally .gz")
    ap.add_argument("--model", action="append", default=[], metavar="DIR",
                    help="an exported item model directory (repeatable); reported under its folder name")
    ap.add_argument("--no-baselines", action="store_true", help="evaluate only the models")
    ap.add_argument("--k", type=int, default=10, help="cut-off K (default 10)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--write-readme", metavar="DIR",
                    help="put the table (and this command) into DIR/README.md's evaluation section")
    ap.add_argument("--copy-ceiling", type=int, action="append", default=[], metavar="C",
                    help="also score an analysis method (not a baseline): the customer's exact purchase "
                         "counts pushed through random C-dimensional item embeddings, score(j) = e_j . "
                         "sum_i count_i e_i, i.e. a perfect 'buy again' copy through one C-dim vector, "
                         "as a tied-embedding GPT of width C must score (repeatable)")
    ap.add_argument("--repeat", nargs=2, type=float, metavar=("WEIGHT", "DECAY"),
                    help="score the models with this repeat component instead of their config's "
                         "(as gptrec eval --repeat-weight W --repeat-decay D)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    units = {}
    for h in bk.read_histories(args.data):
        b = bk.baskets_of(h)
        if b:
            units[str(h.get("customer_id", len(units))) if isinstance(h, dict) else str(len(units))] = b
    train, cases = last_basket.last_unit_split(units)
    universe = last_basket.Universe(train)
    ev = last_basket.Evaluation(universe, args.k)
    chosen = {}
    if not args.no_baselines:
        base = last_basket.Baselines(universe, train)
        for _, inputs, held_out in cases:
            for name in base.names:
                ev.add(name, inputs, held_out, base.scores(name, inputs))
        for method_class in last_basket.TUNED:
            print(f"choosing {method_class.name} on validation baskets", file=sys.stderr, flush=True)
            params, _ = last_basket.choose(method_class, train, args.k)
            chosen[method_class.name] = params
            method = method_class(universe, train)
            for (_, inputs, held_out), s in zip(cases, method.scores(cases, params)):
                ev.add(method_class.name, inputs, held_out, s)
    for C in args.copy_ceiling:
        emb = np.random.default_rng(0).standard_normal((len(universe), C))
        for _, inputs, held_out in cases:
            counts = np.zeros(len(universe))
            for b in inputs:
                counts[universe.indices(b)] += 1
            ev.add(f"count copy through {C} dims", inputs, held_out, emb @ (counts @ emb))
    for model_dir in args.model:
        name = "gpt (" + os.path.basename(os.path.normpath(model_dir)) + ")"
        scores = gpt_scores(model_dir, universe, cases, args.batch_tokens, args.repeat)
        for (_, inputs, held_out), s in zip(cases, scores):
            ev.add(name, inputs, held_out, s)

    table = ev.table()
    if chosen:
        table += "\n\nChosen on validation baskets (docs/EVALUATION.md):\n" + "\n".join(
            f"- {name}: " + ", ".join(f"{k} {v:g}" for k, v in params.items()) for name, params in chosen.items())
    print(table)
    print(f"({len(universe)} items in the training data; {time.time() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            out = {m: {s: ev.result(m, s) for s in ev.settings} for m in ev.methods()}
            for name, params in chosen.items():
                out[name]["parameters"] = params
            json.dump(out, f, indent=1)
    if args.write_readme:
        command = "/usr/bin/python3 tools/eval_last_basket.py " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        body = "\n".join(["## Evaluation (last-basket protocol, docs/EVALUATION.md)", "",
                          "Each customer's last order is held out (never seen in training) and predicted from "
                          "the orders before it; K = 10. Produced by:", "", "```sh", command, "```", "", table])
        readme = os.path.join(args.write_readme, "README.md")
        text = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
        with open(readme, "w", encoding="utf-8") as f:
            f.write(replace_section(text, "eval_last_basket.py", body))


if __name__ == "__main__":
    main()
