#!/usr/bin/env python3
"""`gptrec eval --protocol sasrec` must give the numbers of its Python implementation
(tools/eval_sasrec.py: tools/gptrec_tools/sasrec.py and a PyTorch forward pass of the exported
weights), for item models that tools/train.py --split sasrec trains with learned and with
sinusoidal positions, on synthetic sequences without timestamps ("user item" lines, and lines
of a user's whole sequence as the S3-Rec files have them): every ranking (full without the
input's items, the headline; full; sampled), in JSON and in the table. The sequences repeat
items, so the exclusion of the input's items changes the full ranking and some test items are
inside their input (a miss by the convention): a wrong exclusion shows.

    test_sasrec_crosscheck.py GPTREC_BINARY REPO_DIR
Exit 77 (skipped) when PyTorch is missing.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch  # noqa: F401
except ImportError:
    sys.exit(77)


def write_data(tmp):
    """300 users over 80 items: each walks a noisy cycle (item k is mostly followed by k + 1), so a
    trained model beats chance; a few users have fewer than 3 items (not evaluated)."""
    rng = random.Random(7)
    sequences = {}
    for u in range(1, 301):
        n = rng.choice([1, 2]) if u % 50 == 0 else rng.randint(3, 25)
        k = rng.randint(1, 80)
        items = []
        for _ in range(n):
            items.append(str(k))
            k = k % 80 + 1 if rng.random() < 0.7 else rng.randint(1, 80)
        sequences[str(u)] = items
    txt, jsonl = os.path.join(tmp, "seq.txt"), os.path.join(tmp, "seq.jsonl")
    with open(txt, "w") as f:
        for u, items in sequences.items():
            f.writelines(f"{u} {i}\n" for i in items)
    # The S3-Rec files' form: a user's whole sequence on one line.
    with open(os.path.join(tmp, "seq_lines.txt"), "w") as f:
        for u, items in sequences.items():
            f.write(f"{u} {' '.join(items)}\n")
    with open(jsonl, "w") as f:
        for u, items in sequences.items():
            f.write(json.dumps({"customer_id": u, "events": [{"item": i} for i in items]}) + "\n")
    return sequences, txt, jsonl


def write_candidates(repo, sequences, path):
    sys.path.insert(0, os.path.join(repo, "tools"))
    from gptrec_tools import sasrec
    train, _, test = sasrec.split(sequences)
    universe = sasrec.Universe(sequences)
    negatives = sasrec.draw_negatives(universe, train, list(test), np.random.default_rng(3))
    with open(path, "w") as f:
        for n, u in enumerate(test):
            f.write(json.dumps({"customer_id": u, "split": "test", "target": test[u],
                                "negatives": [universe.ids[j] for j in negatives[u]],
                                "in_util_subset": n % 2 == 0}) + "\n")


def table_row(text, method):
    """The numbers of `method`'s row of gptrec eval's table."""
    for line in text.splitlines():
        if line.startswith(method + " "):
            return [float(v) for v in line[len(method):].split()]
    raise AssertionError(f"no row {method!r} in:\n{text}")


def main():
    gptrec, repo = sys.argv[1], sys.argv[2]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        sequences, txt, jsonl = write_data(tmp)
        inside = sum(s[-1] in s[:-1] for s in sequences.values() if len(s) >= 3)
        if inside == 0:
            print("the fixture has no test item inside its input: the exclusion rule is not exercised")
            failures += 1
        candidates = os.path.join(tmp, "candidates.jsonl")
        write_candidates(repo, sequences, candidates)
        # The learned-positions model is evaluated on "user item" lines, the sinusoidal one on
        # whole-sequence lines (the same sequences).
        for positions, txt in (("learned", txt), ("sinusoidal", os.path.join(tmp, "seq_lines.txt"))):
            model = os.path.join(tmp, positions)
            subprocess.run([sys.executable, os.path.join(repo, "tools", "train.py"), "--data", jsonl, "--out", model,
                            "--sequence-format", "items", "--split", "sasrec", "--position-encoding", positions,
                            "--n-positions", "11", "--n-embd", "16", "--n-head", "2", "--epochs", "3",
                            "--batch-tokens", "512", "--warmup-steps", "5", "--lr", "1e-2", "--dtype", "F32",
                            "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(model, "config.json")) as f:
                if json.load(f)["position_encoding"] != positions:
                    print(f"{positions}: config.json does not say position_encoding {positions}")
                    failures += 1
            py_json = os.path.join(tmp, positions + ".json")
            subprocess.run([sys.executable, os.path.join(repo, "tools", "eval_sasrec.py"), "--model", model,
                            "--data", txt, "--candidates", candidates, "--json", py_json, "--threads", "1"],
                           check=True, stdout=subprocess.DEVNULL)
            python = json.load(open(py_json))
            out = subprocess.run([gptrec, "eval", "--protocol", "sasrec", "--model", model, "--data", txt,
                                  "--candidates", candidates, "--format", "json", "--quiet"],
                                 check=True, capture_output=True, text=True).stdout
            cpp = json.loads(out)
            gpt = cpp["methods"][0]
            failures_before = failures
            if (python["evaluated"], python["subset_evaluated"]) != (cpp["evaluated"], cpp["subset_evaluated"]):
                print(f"{positions}: users python {python['evaluated']}/{python['subset_evaluated']} "
                      f"vs gptrec {cpp['evaluated']}/{cpp['subset_evaluated']}")
                failures += 1
            for key in ("sampled", "sampled_subset", "full", "full_excl"):
                for metric in ("hr", "ndcg"):
                    a, b = python[key][metric], gpt[key][metric]
                    if abs(a - b) > 1e-9:
                        print(f"{positions} {key} {metric}: python {a} vs gptrec {b}")
                        failures += 1
            if gpt["full_excl"]["recall"] != gpt["full_excl"]["hr"]:
                print(f"{positions}: full_excl recall {gpt['full_excl']['recall']} is not its HR@10")
                failures += 1
            if all(python["full_excl"][m] == python["full"][m] for m in ("hr", "ndcg")):
                print(f"{positions}: excluding the input's items changed nothing: the fixture does not test it")
                failures += 1
            # The table: Recall@10 and NDCG@10 (the headline) first, then full and sampled.
            text = subprocess.run([gptrec, "eval", "--protocol", "sasrec", "--model", model, "--data", txt,
                                   "--candidates", candidates, "--quiet"],
                                  check=True, capture_output=True, text=True).stdout
            row = table_row(text, gpt["method"])
            expected = [python[key][metric] for key in ("full_excl", "full", "sampled", "sampled_subset")
                        for metric in ("hr", "ndcg")]
            if len(row) != len(expected) or any(abs(a - b) > 6e-5 for a, b in zip(row, expected)):
                print(f"{positions}: table row {row}, expected {[round(v, 4) for v in expected]}")
                failures += 1
            if gpt["sampled"]["hr"] <= 0.3:
                print(f"{positions}: sampled HR@10 {gpt['sampled']['hr']:.3f}, no better than chance")
                failures += 1
            if failures == failures_before:
                print(f"{positions}: Recall@10 {gpt['full_excl']['recall']:.4f} NDCG@10 {gpt['full_excl']['ndcg']:.4f} "
                      f"(input excluded), full HR@10 {gpt['full']['hr']:.4f}, sampled HR@10 "
                      f"{gpt['sampled']['hr']:.4f} NDCG@10 {gpt['sampled']['ndcg']:.4f}: python and gptrec agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
