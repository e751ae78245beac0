#!/usr/bin/env python3
"""tools/prepare-data.sh on the shipped samples gives the outputs that the independent
tools/make_prepare_data_expectations.py made, and the README's eval command runs as written on the
shipped sample and on a prepared file.

usage: test_prepare_data.py GPTREC REPO
"""
import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

gptrec, repo = sys.argv[1], Path(sys.argv[2])
script = repo / "tools" / "prepare-data.sh"
failures = []
checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def prepare(kind, src, dst):
    r = subprocess.run(["sh", str(script), kind, str(src), str(dst)], capture_output=True,
                       text=True)
    check(r.returncode == 0, f"prepare-data.sh {kind} {src}: exit {r.returncode}: {r.stderr}")


with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    data = repo / "tests" / "data"
    cases = [("online-retail", data / "online-retail" / "sample.csv",
              data / "online-retail" / "sample.histories.jsonl"),
             ("sequences", data / "s3rec" / "sample.txt", data / "s3rec" / "sample.histories.jsonl"),
             ("sequences", data / "s3rec" / "pairs.txt", data / "s3rec" / "pairs.histories.jsonl")]
    for kind, src, expected in cases:
        want = expected.read_bytes()
        out = tmp / "out.jsonl"
        prepare(kind, src, out)
        check(out.read_bytes() == want, f"{kind} {src.name}: differs from {expected.name}")
        # Compressed input and output give the same histories.
        gz_in = tmp / (src.name + ".gz")
        gz_in.write_bytes(gzip.compress(src.read_bytes()))
        prepare(kind, gz_in, tmp / "out.jsonl.gz")
        check(gzip.decompress((tmp / "out.jsonl.gz").read_bytes()) == want,
              f"{kind} {src.name}: the gzip round differs from {expected.name}")

    # The Online Retail catalog, service lines marked "product": false.
    catalog = tmp / "catalog.json"
    r = subprocess.run(["sh", str(script), "online-retail", str(data / "online-retail" / "sample.csv"),
                        str(tmp / "h.jsonl"), "--catalog", str(catalog)], capture_output=True, text=True)
    check(r.returncode == 0, f"--catalog: exit {r.returncode}: {r.stderr}")
    check(catalog.exists() and catalog.read_bytes() ==
          (data / "online-retail" / "sample.catalog.json").read_bytes(),
          "online-retail --catalog: differs from sample.catalog.json")
    r = subprocess.run(["sh", str(script), "sequences", str(data / "s3rec" / "pairs.txt"),
                        str(tmp / "s.jsonl"), "--catalog", str(catalog)], capture_output=True, text=True)
    check(r.returncode == 2 and "only the online-retail data has a catalog" in r.stderr,
          f"sequences --catalog: {r.returncode} {r.stderr}")

    # Bad input: one line on stderr naming the file, non-zero exit.
    bad = tmp / "bad.csv"
    bad.write_text("InvoiceNo,StockCode\n1,2\n")
    r = subprocess.run(["sh", str(script), "online-retail", str(bad), str(tmp / "x.jsonl")],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "bad.csv: missing column(s)" in r.stderr, f"bad CSV: {r.stderr}")

    # The README's eval command on the shipped sample, then on the prepared sample.
    readme = (repo / "README.md").read_text()
    commands = [line for line in readme.splitlines()
                if line.startswith("build/gptrec eval") and "examples/" in line]
    check(len(commands) >= 1, "the README shows no eval command on the shipped sample")
    for command in commands:
        args = [gptrec] + command.split()[1:]
        r = subprocess.run(args + ["--quiet"], capture_output=True, text=True, cwd=repo)
        check(r.returncode == 0 and "Protocol last-basket" in r.stdout,
              f"{command}: exit {r.returncode}: {r.stderr}")
    prepared = tmp / "histories.jsonl.gz"
    prepare("online-retail", data / "online-retail" / "sample.csv", prepared)
    r = subprocess.run([gptrec, "eval", "--model", str(repo / "models" / "online-retail"),
                        "--data", str(prepared), "--quiet"], capture_output=True, text=True)
    check(r.returncode == 0 and "7 customers" in r.stdout,
          f"eval on the prepared sample: {r.stdout} {r.stderr}")

print(f"{checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
