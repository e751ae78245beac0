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


def main():
    gptrec, repo = sys.argv[1], sys.argv[2]
    data = os.path.join(repo, "examples", "online-retail-sample.jsonl")
    model = os.path.join(repo, "tests", "data", "models", "tiny-items")
    with tempfile.TemporaryDirectory() as tmp:
        py_json = os.path.join(tmp, "py.json")
        subprocess.run([sys.executable, os.path.join(repo, "tools", "eval_last_basket.py"), "--data", data,
                        "--model", model, "--json", py_json, "--threads", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        python = json.load(open(py_json))
    out = subprocess.run([gptrec, "eval", "--model", model, "--data", data, "--format", "json", "--quiet"],
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
                    print(f"{py_name} {py_setting} {metric}: python {a} vs gptrec {b}")
    counts = (python["popularity"]["next basket"]["customers"], python["popularity"]["discovery"]["customers"])
    if counts != (cpp["evaluated"]["next_basket"], cpp["evaluated"]["discovery"]):
        print(f"customers: python {counts} vs gptrec {cpp['evaluated']}")
        return 1
    print(f"max |python - gptrec| over 30 metrics: {worst:.3g}")
    return 0 if worst <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
