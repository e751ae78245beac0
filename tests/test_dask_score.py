#!/usr/bin/python3
"""examples/dask_score.py on Dask LocalClusters of 2 workers gives the output of `gptrec score`.

    test_dask_score.py --gptrec GPTREC_BINARY --repo REPO_DIR
Runs the script on a cluster of threads, on one of processes (gzipped input), and on a cluster
this test starts and passes by --scheduler address; each output must equal the CLI's byte for
byte (bad and blank lines included), each worker must have loaded the model once, and a bad model
directory must fail with exit 4 and leave no output. Exit 77 (skipped) when `distributed` (Debian
python3-distributed) or the gptrec module cannot be imported.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

try:
    import distributed
    import gptrec  # noqa: F401 - the workers of the --scheduler cluster import it in this process
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAILED:", message)


def make_input(repo):
    with open(os.path.join(repo, "examples", "online-retail-sample.jsonl"), "rb") as f:
        sample = f.read()
    out = b""
    for i in range(4):
        out += sample
        out += [b"{not json\n", b"\n", b'{"customer_id": "x", "events": [{"item": 1, "date": "soon"}]}\r\n',
                b"  \t\n"][i]
    return out  # 1,204 lines, 1,202 records, 2 of them bad


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gptrec", required=True)
    p.add_argument("--repo", required=True)
    args = p.parse_args()
    script = os.path.join(args.repo, "examples", "dask_score.py")
    model = os.path.join(args.repo, "tests", "data", "models", "tiny-items")
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "in.jsonl")
        packed = os.path.join(tmp, "in.jsonl.gz")
        data = make_input(args.repo)
        with open(plain, "wb") as f:
            f.write(data)
        with gzip.open(packed, "wb") as f:
            f.write(data)

        def reference(path):
            out = os.path.join(tmp, os.path.basename(path) + ".cli")
            r = subprocess.run([args.gptrec, "score", "--model", model, "--input", path, "--output", out, "--top",
                                "3", "--quiet"], capture_output=True, text=True)
            check(r.returncode == 3, f"gptrec score exit {r.returncode}: {r.stderr}")
            with open(out, "rb") as f:
                return f.read()

        def run_script(name, path, *options, model_dir=model, expect_status=3):
            out = os.path.join(tmp, name + ".jsonl")
            r = subprocess.run([sys.executable, script, "--input", path, "--output", out, "--model", model_dir, "--top", "3",
                                *options], capture_output=True, text=True, timeout=240)
            print(f"{name}: exit {r.returncode}; {r.stderr.strip().splitlines()[-1:]}")
            check(r.returncode == expect_status, f"{name}: exit {r.returncode}, expected {expect_status}: {r.stderr}")
            return out, r.stderr

        want_plain, want_packed = reference(plain), reference(packed)
        check(want_plain.count(b"\n") == 1202, "the CLI wrote one line per record")

        # Threads of this process, small partitions: many tasks per worker.
        out, err = run_script("threads", plain, "--workers", "2", "--partition-size", "100")
        check(open(out, "rb").read() == want_plain, "threads: output differs from gptrec score")
        check("1202 records (2 errors)" in err and "on 2 workers; model loads per worker: [1, 1]" in err,
              f"threads: summary {err!r}")

        # Worker processes (the plugin and tasks are pickled to them), gzipped input.
        out, err = run_script("processes", packed, "--workers", "2", "--processes", "--partition-size", "500")
        check(open(out, "rb").read() == want_packed, "processes: output differs from gptrec score")
        check("model loads per worker: [1, 1]" in err, f"processes: summary {err!r}")

        # A cluster that the script does not own, reached by its scheduler's address (TCP on loopback).
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                      host="127.0.0.1", dashboard_address=None) as cluster:
            out, err = run_script("scheduler", plain, "--scheduler", cluster.scheduler_address,
                                  "--partition-size", "300")
            check(open(out, "rb").read() == want_plain, "scheduler: output differs from gptrec score")
            check("on 2 workers; model loads per worker: [1, 1]" in err, f"scheduler: summary {err!r}")

        # A model directory without a model: the workers cannot load it; nothing is written.
        out, err = run_script("bad-model", plain, "--workers", "1", model_dir=tmp, expect_status=4)
        check("dask_score.py: error: " in err and "config.json" in err, f"bad model: {err!r}")
        check(not os.path.exists(out) and not [n for n in os.listdir(tmp) if n.endswith(".part")],
              f"bad model: output left behind: {os.listdir(tmp)}")
    if FAILURES:
        print(f"{len(FAILURES)} failed checks")
        return 1
    print("dask_score.py equals gptrec score on 3 clusters; a bad model exits 4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
