#!/usr/bin/env python3
"""Fits an item model's next-basket ranker (config.json "gptrec": {"ranker": ...},
docs/EVALUATION.md "The ranker") on validation orders the model never saw, and writes it, with its
neighbour customers (neighbors.json), into the shipped model.

The ranker turns the GPT's probabilities into the final scores with what the GPT cannot hold in one
vector: the customer's own purchase counts and recency per item, and the purchases of the
customers most like them (TIFU-KNN's neighbours). Its weights are fitted on orders the GPT never
saw, with a model of the same recipe trained one order earlier (tools/tune_repeat.py explains why
the shipped model's own training orders cannot be used):

  1. tools/tune_repeat.py --data FILE --write-validation VALID: the histories without each
     customer's last order; train the tuning model on VALID with tools/train.py and the shipped
     model's hyper-parameters (--no-valid, --epochs = the shipped model's selected epochs).
  2. this tool, --data FILE --tune-model DIR: the last-basket protocol's training data (each
     customer's last order removed) gives
     - the neighbour settings (k, r_b, r_g, G): TIFU-KNN's, chosen on validation baskets as the
       tifu-knn baseline chooses them (last_basket.choose);
     - the validation orders: each customer's last training order (the tuning model's held-out
       order), predicted from the orders before it; neighbours: the other customers' orders
       before their own validation order.
     For every mix in MIXES the weights are fitted by maximum likelihood (the multi-label softmax
     of tools/train.py over all items, a convex problem, L-BFGS), and the mix with the best mean
     of Recall@10 and NDCG@10 over next basket and discovery is kept. A two-fold split of the
     validation customers (fit on one half, score the other) reports what to expect on new orders.
  3. --apply-to MODEL: writes the ranker into MODEL/config.json, the training data's customers
     (every order but the last) into MODEL/neighbors.json, and the table into MODEL/README.md.

  /usr/bin/python3 tools/tune_ranker.py --data ../shared/data/online-retail/histories.jsonl.gz \\
      --tune-model /tmp/tune --apply-to models/online-retail
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

MIXES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
DECAY = 0.7  # d(j)'s per-order decay, fixed by the recipe


class Validation:
    """Everything the fit needs on the validation orders, over the tuning model's vocabulary."""

    def __init__(self, train, tune_model, neighbors, threads):
        fit, self.cases = last_basket.last_unit_split(train)
        self.universe = last_basket.Universe(fit)
        model, config, items = item_gpt.load_model_dir(tune_model)
        n_special = len(items["special_tokens"])
        self.item_ids = [str(e["id"]) for e in items["items"]]
        item_index = {i: j for j, i in enumerate(self.item_ids)}
        token_ids = {i: n_special + j for i, j in item_index.items()}
        torch.set_num_threads(threads)
        self.log_p = item_gpt.score_next_units(model, token_ids, config["gptrec"]["sequence_format"],
                                               [c[1] for c in self.cases]).astype(np.float64)
        pool = basket_ranker.NeighborPool([(c, basket_ranker.known_baskets(u, item_index)) for c, u in fit.items()],
                                          len(self.item_ids), neighbors["k"], neighbors["within_decay"],
                                          neighbors["group_decay"], neighbors["groups"])
        self.baskets = [basket_ranker.known_baskets(inputs, item_index) for _, inputs, _ in self.cases]
        self.share = np.stack([pool.share(b, c) for b, (c, _, _) in zip(self.baskets, self.cases)])
        self.targets = np.zeros_like(self.log_p)
        for r, (_, _, held_out) in enumerate(self.cases):
            self.targets[r, [item_index[i] for i in set(held_out) if i in item_index]] = 1
        self.column = np.array([item_index.get(i, -1) for i in self.universe.ids])
        feats = [basket_ranker.item_features(b, len(self.item_ids), DECAY) for b in self.baskets]
        self.H = np.stack([f[0] for f in feats])
        self.repeat_features = np.stack([np.stack([f[0], f[1], f[2], f[3], f[0] * f[4]], -1) for f in feats])

    def features(self, mix):
        """(customers, items, 7) in basket_ranker.WEIGHTS order."""
        M = np.log((1 - mix) * np.exp(self.log_p) + mix * self.share)
        return np.concatenate([M[..., None], self.repeat_features, (self.H * M)[..., None]], -1)

    def fit(self, mix, rows):
        X = torch.from_numpy(self.features(mix)[rows])
        Y = torch.from_numpy(self.targets[rows])
        w = torch.zeros(X.shape[-1], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=1000, tolerance_grad=1e-10, tolerance_change=1e-14,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            lp = torch.log_softmax(X @ w, -1)
            loss = -((lp * Y).sum(-1) / Y.sum(-1).clamp(min=1)).mean()
            loss.backward()
            return loss

        opt.step(closure)
        return w.detach().numpy()

    def evaluate(self, mix, w, rows, ev, name):
        X = self.features(mix)
        for r in rows:
            z = X[r] @ w
            s = np.full(len(self.universe), -np.inf)
            known = self.column >= 0
            s[known] = z[self.column[known]]
            _, inputs, held_out = self.cases[r]
            ev.add(name, inputs, held_out, s)


def ranker_config(mix, w, neighbors):
    return {"mix": mix, "decay": DECAY,
            "weights": {name: float(v) for name, v in zip(basket_ranker.WEIGHTS, w)},
            "neighbors": {"file": "neighbors.json", "k": int(neighbors["k"]),
                          "within_decay": neighbors["within_decay"], "group_decay": neighbors["group_decay"],
                          "groups": int(neighbors["groups"])}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the histories JSONL(.gz) the shipped model was trained on")
    ap.add_argument("--tune-model", required=True, metavar="DIR", help="the model trained without the validation orders")
    ap.add_argument("--apply-to", metavar="MODEL", help="write the ranker and neighbors.json into MODEL")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    t0 = time.time()

    units = {}
    for h in bk.read_histories(args.data):
        b = bk.baskets_of(h)
        if b:
            units[str(h.get("customer_id", len(units)))] = b
    train, _ = last_basket.last_unit_split(units)
    tifu, _ = last_basket.choose(last_basket.TifuKnn, train)
    neighbors = {"k": tifu["neighbors"], "within_decay": tifu["within_decay"],
                 "group_decay": tifu["group_decay"], "groups": tifu["groups"]}
    print(f"neighbours (TIFU-KNN's, chosen on validation baskets): {neighbors}", file=sys.stderr, flush=True)
    v = Validation(train, args.tune_model, neighbors, args.threads)
    everyone = np.arange(len(v.cases))
    ev = last_basket.Evaluation(v.universe)
    fitted = {}
    for mix in MIXES:
        fitted[mix] = v.fit(mix, everyone)
        v.evaluate(mix, fitted[mix], everyone, ev, f"mix {mix:g}")
        print(f"mix {mix:g}: selection {last_basket.selection_score(ev, f'mix {mix:g}'):.4f}", file=sys.stderr, flush=True)
    best = max(MIXES, key=lambda m: last_basket.selection_score(ev, f"mix {m:g}"))
    folds = everyone % 2
    for k in (0, 1):
        w = v.fit(best, everyone[folds != k])
        v.evaluate(best, w, everyone[folds == k], ev, f"mix {best:g}, two-fold")
    # The validation orders' baselines, for comparison.
    fit, _ = last_basket.last_unit_split(train)
    for method_class in (last_basket.TopFrequency, last_basket.TifuKnn):
        params = tifu if method_class is last_basket.TifuKnn else last_basket.choose(method_class, train)[0]
        method = method_class(v.universe, fit)
        for (_, inputs, held_out), s in zip(v.cases, method.scores(v.cases, params)):
            ev.add(method_class.name, inputs, held_out, s)
    table = ev.table()
    print(table)
    print(f"chosen: mix {best:g}, weights {dict(zip(basket_ranker.WEIGHTS, np.round(fitted[best], 4)))} "
          f"({time.time() - t0:.0f} s)", file=sys.stderr)

    if args.apply_to:
        config_path = os.path.join(args.apply_to, "config.json")
        config = json.load(open(config_path, encoding="utf-8"))
        g = config.setdefault("gptrec", {})
        g.pop("repeat", None)
        g["ranker"] = ranker_config(best, fitted[best], neighbors)
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        with open(os.path.join(args.apply_to, "neighbors.json"), "w", encoding="utf-8") as f:
            # One customer per line: every order but the last (the training data).
            f.write('{"format": "gptrec-neighbors", "version": 1, "customers": [\n')
            f.write(",\n".join(json.dumps({"id": c, "baskets": u}, ensure_ascii=False) for c, u in train.items()))
            f.write("\n]}\n")
        this = "/usr/bin/python3 tools/tune_ranker.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        body = "\n".join([
            "## Ranker (fitted on validation orders)", "",
            "`config.json` has the ranker (docs/EVALUATION.md, \"The ranker\"): mix "
            f"{best:g}, neighbours {neighbors}, weights "
            + ", ".join(f"{n} {x:.4f}" for n, x in zip(basket_ranker.WEIGHTS, fitted[best])) + ". "
            f"Fitted on each customer's second last order ({len(v.cases)} customers) with a model of the same "
            "recipe trained without those orders (tools/tune_ranker.py explains how); the rows \"mix m\" are the "
            "weights fitted and scored on all validation customers, \"two-fold\" fits on half of them and scores "
            "the other half (what to expect on new orders); top-frequency and tifu-knn are the baselines on the "
            "same orders:", "", "```sh", this, "```", "", table])
        readme = os.path.join(args.apply_to, "README.md")
        text = open(readme, encoding="utf-8").read()
        with open(readme, "w", encoding="utf-8") as f:
            f.write(replace_section(text, "tune_ranker.py", body))
        print(f"wrote {config_path}, neighbors.json and README.md", file=sys.stderr)


if __name__ == "__main__":
    main()
