#!/usr/bin/env python3
"""`gptrec eval --protocol last-basket` must give the numbers of its independent Python
implementation (tools/eval_last_basket.py, a plain PyTorch forward pass) on the same data.

    test_eval_crosscheck.py GPTREC_BINARY REPO_DIR
Exit 77 (skipped) when PyTorch is missing.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    sys.exit(77)


def compare(gptrec, repo, repeat):
    """Max |python - gptrec| over the 30 metrics, or None when the customer counts differ."""
    data = os.path.join(repo, "examples", "online-retail-sample.jsonl")
    model = os.path.join(repo, "tests", "data", "models", "tiny-items")
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
             "item-knn": "item-knn", "markov": "markov", "gpt (tiny-items)": cpp["methods"][0]["method"]}
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
        print(f"repeat {repeat}: max |python - gptrec| over 30 metrics: {worst:.3g}")
        status |= worst > 1e-9
    # The repeat component must change the ranking on this data (the comparison above is not vacuous).
    if results[None] == results[(0.3, 0.8)]:
        print("the repeat component changed nothing")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
