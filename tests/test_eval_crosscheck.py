#!/usr/bin/env python3
"""`gptrec eval --protocol last-basket` must give the numbers of its independent Python
implementation (tools/eval_last_basket.py, a plain PyTorch forward pass, and the numpy ranker of
tools/gptrec_tools/basket_ranker.py) on the same data: the baselines with the hyper-parameters each
chose on validation baskets, the model as its config says, with a repeat component, and with a
ranker (config.json "gptrec.ranker" and a neighbours file).

    test_eval_crosscheck.py GPTREC_BINARY REPO_DIR
Exit 77 (skipped) when PyTorch is missing.
"""
import json
import os
import subprocess
import sys
import shutil
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    sys.exit(77)


# A ranker with every weight in use (not fitted: the comparison needs each term to count).
RANKER = {"mix": 0.4, "decay": 0.6,
          "weights": {"explore": 0.9, "repeat": 1.3, "count": 0.7, "decayed": 0.5, "last": -0.4,
                      "baskets": 0.2, "repeat_explore": -0.3},
          "neighbors": {"file": "neighbors.json", "k": 5, "within_decay": 0.8, "group_decay": 0.6,
                        "groups": 3}}


def with_ranker(model, data, out_dir):
    """A copy of `model` with RANKER and, as its neighbours, every customer's orders but the last
    (read here with the json module; the sample's events are in time order)."""
    shutil.copytree(model, out_dir)
    baskets = {}
    for line in open(data, encoding="utf-8"):
        h = json.loads(line)
        orders = {}
        for e in h["events"]:
            if e.get("type", "purchase") == "purchase":
                orders.setdefault(e["order"], []).append(e["item"])
        if len(orders) >= 2:  # orders in file order are oldest first in the sample
            baskets[h["customer_id"]] = list(orders.values())[:-1]
    with open(os.path.join(out_dir, "neighbors.json"), "w") as f:
        json.dump({"format": "gptrec-neighbors", "version": 1,
                   "customers": [{"id": c, "baskets": b} for c, b in baskets.items()]}, f)
    config = json.load(open(os.path.join(out_dir, "config.json")))
    config["gptrec"]["ranker"] = RANKER
    json.dump(config, open(os.path.join(out_dir, "config.json"), "w"))


def compare(gptrec, repo, repeat, model=None):
    """Max |python - gptrec| over the 48 metrics, or None when the customer counts differ."""
    data = os.path.join(repo, "examples", "online-retail-sample.jsonl")
    model = model or os.path.join(repo, "tests", "data", "models", "tiny-items")
    py_args, cpp_args = [], []
    if repeat is not None:
        py_args = ["--repeat", str(repeat[0]), str(repeat[1])]
        cpp_args = ["--repeat-weight", str(repeat[0]), "--repeat-decay", str(repeat[1])]
    with tempfile.TemporaryDirectory() as tmp:
        py_json = os.path.join(tmp, "py.json")
        subprocess.run([sys.executable, os.path.join(repo, "tools", "eval_last_basket.py"), "--data", data,
                        "--model", model, "--json", py_json, "--threads", "1"] + py_args,
                       check=True, stdout=subprocess.DEVNULL)
        python = json.load(open(py_json))
    out = subprocess.run([gptrec, "eval", "--model", model, "--data", data, "--format", "json", "--quiet"] + cpp_args,
                         check=True, capture_output=True, text=True).stdout
    cpp = json.loads(out)
    names = {"popularity": "popularity", "repeat-then-popularity": "repeat-then-popularity",
             "item-knn": "item-knn", "markov": "markov", "top-frequency": "top-frequency",
             "markov-backoff": "markov-backoff", "tifu-knn": "tifu-knn",
             "gpt (tiny-items)": cpp["methods"][0]["method"]}
    settings = {"next basket": "next_basket", "discovery": "discovery"}
    by_name = {m["method"]: m for m in cpp["methods"]}
    worst = 0.0
    for py_name, cpp_name in names.items():
        for py_setting, cpp_setting in settings.items():
            for metric in ("hr", "recall", "ndcg"):
                a = python[py_name][py_setting][metric]
                b = by_name[cpp_name][cpp_setting][metric]
                worst = max(worst, abs(a - b))
                if abs(a - b) > 1e-9:
                    print(f"repeat {repeat}: {py_name} {py_setting} {metric}: python {a} vs gptrec {b}")
    # The hyper-parameters each implementation chose on validation baskets.
    for name in ("top-frequency", "markov-backoff", "tifu-knn"):
        if python[name]["parameters"] != by_name[name].get("parameters"):
            print(f"{name}: python chose {python[name]['parameters']}, gptrec {by_name[name].get('parameters')}")
            worst = max(worst, 1.0)
    counts = (python["popularity"]["next basket"]["customers"], python["popularity"]["discovery"]["customers"])
    if counts != (cpp["evaluated"]["next_basket"], cpp["evaluated"]["discovery"]):
        print(f"customers: python {counts} vs gptrec {cpp['evaluated']}")
        return None
    return worst, python["gpt (tiny-items)"]["next basket"]


def main():
    gptrec, repo = sys.argv[1], sys.argv[2]
    status = 0
    results = {}
    # The model as its config says (no repeat component), and with one (weight 0.3, decay 0.8).
    for repeat in (None, (0.3, 0.8)):
        r = compare(gptrec, repo, repeat)
        if r is None:
            return 1
        worst, results[repeat] = r
        print(f"repeat {repeat}: max |python - gptrec| over 48 metrics: {worst:.3g}")
        status |= worst > 1e-9
    # The repeat component must change the ranking on this data (the comparison above is not vacuous).
    if results[None] == results[(0.3, 0.8)]:
        print("the repeat component changed nothing")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "tiny-items")  # the Python row is named after the directory
        with_ranker(os.path.join(repo, "tests", "data", "models", "tiny-items"),
                    os.path.join(repo, "examples", "online-retail-sample.jsonl"), model)
        r = compare(gptrec, repo, None, model)
        if r is None:
            return 1
        worst, ranked = r
        print(f"ranker: max |python - gptrec| over 48 metrics: {worst:.3g}")
        status |= worst > 1e-9
        if ranked == results[None]:
            print("the ranker changed nothing")
            return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
