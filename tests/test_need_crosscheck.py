#!/usr/bin/env python3
"""`gptrec eval --protocol need` must build the queries of its independent Python implementation
(tools/need_queries.py, written from docs/EVALUATION.md) and give the same numbers for the text
baselines, on the online-retail sample with the names of tests/data/need/catalog.json, for two
seeds and both match rules.

    test_need_crosscheck.py GPTREC_BINARY REPO_DIR
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    gptrec, repo = sys.argv[1], sys.argv[2]
    data = os.path.join(repo, "examples", "online-retail-sample.jsonl")
    catalog = os.path.join(repo, "tests", "data", "need", "catalog.json")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed, match, weight in ((0, "compound", "1"), (7, "exact", "0.5")):
            py_q, cpp_q = os.path.join(tmp, "py.jsonl"), os.path.join(tmp, "cpp.jsonl")
            py_json = os.path.join(tmp, "py.json")
            subprocess.run([sys.executable, os.path.join(repo, "tools", "need_queries.py"), "--data", data,
                            "--catalog", catalog, "--seed", str(seed), "--match", match,
                            "--need-weight", weight, "--queries", py_q, "--json", py_json], check=True)
            out = subprocess.run([gptrec, "eval", "--protocol", "need", "--baselines-only", "--data", data,
                                  "--catalog", catalog, "--seed", str(seed), "--need-match", match,
                                  "--need-weight", weight, "--write-queries", cpp_q, "--format", "json",
                                  "--quiet"], check=True, capture_output=True, text=True).stdout
            cpp = json.loads(out)
            python = json.load(open(py_json))
            py_lines = [json.loads(l) for l in open(py_q)]
            cpp_lines = [json.loads(l) for l in open(cpp_q)]
            if py_lines != cpp_lines:
                failures += 1
                diff = next((a, b) for a, b in zip(py_lines, cpp_lines) if a != b) \
                    if len(py_lines) == len(cpp_lines) else (len(py_lines), len(cpp_lines))
                print(f"seed {seed} {match}: queries differ, first: python {diff[0]} vs gptrec {diff[1]}")
            if python["queries"] != cpp["queries"]:
                failures += 1
                print(f"seed {seed} {match}: query counts python {python['queries']} vs gptrec {cpp['queries']}")
            by_name = {m["method"]: m for m in cpp["methods"]}
            for m in python["methods"]:
                for setting in ("all", "never_bought"):
                    for metric in ("hr", "ndcg", "mrr"):
                        a, b = m[setting][metric], by_name[m["method"]][setting][metric]
                        if abs(a - b) > 1e-9:
                            failures += 1
                            print(f"seed {seed} {match}: {m['method']} {setting} {metric}: python {a} vs gptrec {b}")
            print(f"seed {seed} {match}: {len(cpp_lines)} queries, "
                  f"{len(python['methods'])} methods x 6 metrics compared")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
