#!/usr/bin/env python3
"""tools/train.py warns when PyTorch runs on the reference BLAS, and only then: a tiny training
run with Debian's reference libblas.so.3 preloaded (so that PyTorch's sgemm_ resolves to it) must
print the warning; the same run on the system's own libblas.so.3 must print it exactly when that
resolves to the reference BLAS too.

    test_train_blas.py REPO_DIR
Exit 77 (skipped) when PyTorch or the reference BLAS (Debian's libblas3) is missing.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    sys.exit(77)

WARNING = "PyTorch runs its matrix products on the reference BLAS"


def train(repo, tmp, env):
    data = os.path.join(tmp, "h.jsonl")
    with open(data, "w") as f:
        for u in range(20):
            f.write(json.dumps({"customer_id": str(u),
                                "events": [{"item": str((u + k) % 7)} for k in range(5)]}) + "\n")
    return subprocess.run([sys.executable, os.path.join(repo, "tools", "train.py"), "--data", data,
                           "--out", os.path.join(tmp, "m"), "--sequence-format", "items", "--n-positions", "8",
                           "--n-embd", "8", "--n-head", "1", "--n-layer", "1", "--epochs", "1", "--no-valid",
                           "--max-steps", "1", "--threads", "1"],
                          env=env, capture_output=True, text=True, check=True)


def main():
    repo = sys.argv[1]
    reference = sorted(glob.glob("/usr/lib/*/blas/libblas.so.3"))
    if not reference:
        print("no reference BLAS (/usr/lib/*/blas/libblas.so.3): skipped")
        return 77
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LD_PRELOAD=reference[0])
        r = train(repo, tmp, env)
        if WARNING not in r.stderr:
            print(f"no warning with {reference[0]} preloaded; stderr:\n{r.stderr}")
            failures += 1
        system = os.path.realpath(reference[0]) == os.path.realpath(
            subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                            "from gptrec_tools import torch_runtime; print(torch_runtime.blas_library())",
                            os.path.join(repo, "tools")], capture_output=True, text=True, check=True).stdout.strip())
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        r = train(repo, tmp, env)
        if (WARNING in r.stderr) != system:
            print(f"system BLAS {'is' if system else 'is not'} the reference one, but the warning "
                  f"{'is missing' if system else 'is printed'}; stderr:\n{r.stderr}")
            failures += 1
    print("the reference BLAS is detected" if not failures else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
