#!/usr/bin/python3
"""The `gptrec` Python module against the CLI on the same inputs.

    test_python.py --gptrec GPTREC_BINARY --repo REPO_DIR GROUP
GROUP: Suggest | Score | Errors | GilReleased | Need. The module must be importable (CTest sets
PYTHONPATH to the build's python/ folder). Exit 77 (skipped) only when the module is not built.
"""
import argparse
import gzip
import json
import operator
import os
import pickle
import subprocess
import sys
import tempfile
import threading

try:
    import gptrec
except ImportError as e:
    print(f"skipped: the gptrec module is not importable ({e})")
    sys.exit(77)

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAILED:", message)


class Paths:
    def __init__(self, cli, repo):
        self.cli = cli
        self.repo = repo
        self.model = os.path.join(repo, "tests", "data", "models", "tiny-items")
        self.sample = os.path.join(repo, "examples", "online-retail-sample.jsonl")
        self.customers = os.path.join(repo, "examples", "customers")


def run_cli(paths, *args, stdin=None):
    return subprocess.run([paths.cli, *args], input=stdin, capture_output=True)


def catalog_for(paths):
    """A catalog over the model's items, with prices and two categories, for the filters."""
    with open(os.path.join(paths.model, "items.json"), encoding="utf-8") as f:
        items = json.load(f)["items"]
    return [{"id": it["id"], "name": f"Item {it['id']}", "price": round(1.25 + i * 0.5, 2),
             "category": "even" if i % 2 == 0 else "odd"} for i, it in enumerate(items)]


def test_suggest(paths):
    rec = gptrec.load(paths.model)
    check(rec.kind == "items" and rec.model_dir == paths.model, f"properties: {rec!r}")
    histories = sorted(os.path.join(paths.customers, n) for n in os.listdir(paths.customers))
    with open(paths.sample, encoding="utf-8") as f:
        sample_lines = [line for line in f if line.strip()]
    cases = [(path, None) for path in histories] + [(None, sample_lines[i]) for i in (0, 17, 123, 299)]
    compared = 0
    with tempfile.TemporaryDirectory() as tmp:
        catalog = catalog_for(paths)
        catalog_path = os.path.join(tmp, "catalog.json")
        with open(catalog_path, "w", encoding="utf-8") as f:
            json.dump(catalog, f)
        with_catalog = gptrec.load(paths.model, catalog=catalog)
        for path, line in cases:
            if path is None:
                path = os.path.join(tmp, "history.json")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(line)
            with open(path, encoding="utf-8") as f:
                history = json.load(f)
            variants = [
                (rec, {}, []),
                (rec, {"top": 4, "explain": True}, ["--top", "4", "--explain"]),
                (rec, {"exclude_purchased": True, "top": 7}, ["--exclude-purchased", "--top", "7"]),
                (with_catalog, {"category": "odd", "explain": True}, ["--catalog", catalog_path, "--category", "odd",
                                                                       "--explain"]),
            ]
            for r, kwargs, flags in variants:
                cli = run_cli(paths, "suggest", "--model", paths.model, "--history", path, "--format", "json", *flags)
                check(cli.returncode == 0, f"suggest {path} {flags}: {cli.stderr.decode()}")
                want = json.loads(cli.stdout)
                for form in (history, history["events"], json.dumps(history), json.dumps(history).encode()):
                    got = r.suggest(form, **kwargs)
                    if isinstance(form, list):  # a bare list of events has no customer id
                        want_here = dict(want, customer_id="")
                    else:
                        want_here = want
                    check(got == want_here, f"suggest({os.path.basename(path)}, {kwargs}) as {type(form).__name__}:"
                                            f"\n got  {got}\n want {want_here}")
                    compared += 1
    check(compared >= 100, f"only {compared} comparisons")
    # The results are Python values of the right types, not strings.
    got = rec.suggest(history, top=3, explain=True)
    check(isinstance(got["suggestions"][0]["score"], float) and isinstance(got["suggestions"][0]["because"], list)
          and got["fallback"] is None, f"types: {got}")
    print(f"suggest: {compared} results equal to `gptrec suggest --format json`")


def score_input(paths):
    """The sample plus bad and blank lines, as the bytes of a JSONL file."""
    with open(paths.sample, "rb") as f:
        sample = f.read()
    extra = (b'{oops\n'
             b'\n'
             b'{"customer_id": "b", "events": [{"item": "22423", "timestamp": "someday"}]}\n'
             b'{"customer_id": "c", "events": []}\r\n'
             b'   \t\n'
             b'[{"item": "22423"}, {"item": "no-such-item"}]\n'
             b'{"customer_id": "caf\xc3\xa9 \xff", "events": [{"item": "22423"}]}\n'
             b'42\n')
    middle = sample.index(b"\n", len(sample) // 2) + 1
    return sample[:middle] + extra + sample[middle:]


def records_of(data):
    """(line numbers, records) the way the CLI reads them: blank lines skipped, numbers kept."""
    numbers, records = [], []
    for n, line in enumerate(data.split(b"\n"), start=1):
        line = line[:-1] if line.endswith(b"\r") else line
        if line.strip(b" \t"):
            numbers.append(n)
            records.append(line)
    return numbers, records


def test_score(paths):
    data = score_input(paths)
    rec = gptrec.load(paths.model)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.jsonl")
        with open(path, "wb") as f:
            f.write(data)
        for top in (3, 10):
            cli = run_cli(paths, "score", "--model", paths.model, "--input", path, "--output", "-", "--top", str(top),
                          "--quiet")
            check(cli.returncode == 3, f"gptrec score exit {cli.returncode}: {cli.stderr.decode()}")
            want_lines = cli.stdout.decode("utf-8").splitlines()
            numbers, records = records_of(data)
            check(len(want_lines) == len(records) == 306, f"{len(want_lines)} CLI lines, {len(records)} records")

            # Byte for byte, as lines, from the raw bytes of each line.
            for threads in (1, 2, 0):
                got_lines = rec.score_lines(records, top=top, threads=threads, source=path, line_numbers=numbers)
                check(got_lines == want_lines, f"score_lines(top={top}, threads={threads}) differs from the CLI: "
                                               f"{first_difference(got_lines, want_lines)}")

            # As dicts, from dicts where the line is JSON (else its text), numbered 1, 2, ... here.
            want = [json.loads(line) for line in want_lines]
            mixed = []
            for r in records:
                try:
                    mixed.append(json.loads(r))
                except ValueError:
                    mixed.append(r.decode("utf-8", "surrogateescape"))
            got = rec.score(iter(mixed), top=top, threads=2, source=path, line_numbers=numbers)
            check(got == want, f"score(dicts, top={top}) differs from the CLI: {first_difference(got, want)}")
            got = rec.score(mixed, top=top)
            check([g.get("line") for g in got] == list(range(1, len(mixed) + 1)), "default line numbers 1, 2, ...")
            check(all(g.get("suggestions") == w.get("suggestions") for g, w in zip(got, want)),
                  "default numbering changes only line and source")

    errors = [r for r in want if "error" in r]
    bad = [n for n, r in zip(numbers, records) if r.startswith((b"{oops", b"42")) or b"someday" in r or b"\xff" in r]
    check([e["line"] for e in errors] == bad, f"error records: {errors}, expected on lines {bad}")
    check(set(errors[0]) == {"line", "customer_id", "error"}, f"error record keys: {errors[0]}")
    # More records than one chunk (4096) of the module, in order.
    many = records * 15
    got = rec.score_lines(many, top=2, threads=2)
    check(len(got) == len(many) and [json.loads(g)["line"] for g in got] == list(range(1, len(many) + 1)),
          "score_lines over several chunks keeps order and numbering")
    check(rec.score([], top=3) == [], "no records, no results")
    print(f"score: {len(records)} records equal to `gptrec score` (lines and dicts, 1, 2 and all threads)")


def first_difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"record {i}:\n got  {g}\n want {w}"
    return f"lengths {len(got)} and {len(want)}"


def test_errors(paths):
    def raises(fn, code, fragment):
        try:
            fn()
        except gptrec.Error as e:
            check(e.code == code, f"code {e.code}, expected {code}: {e}")
            check(fragment in str(e), f"message {str(e)!r} lacks {fragment!r}")
            return e
        except Exception as e:  # noqa: BLE001 - any other type is the failure being tested
            check(False, f"{type(e).__name__} instead of gptrec.Error: {e}")
            return None
        check(False, f"no error (expected code {code}, {fragment!r})")
        return None

    with tempfile.TemporaryDirectory() as tmp:
        raises(lambda: gptrec.load(os.path.join(tmp, "nowhere")), gptrec.Error.BAD_MODEL, "nowhere")
        raises(lambda: gptrec.load(paths.model, catalog=os.path.join(tmp, "nothing.json")), gptrec.Error.IO,
               "nothing.json: cannot open")
        raises(lambda: gptrec.load(paths.model, catalog=[{"id": "22423", "price": "cheap"}]), gptrec.Error.BAD_INPUT,
               "[0].price")
    rec = gptrec.load(paths.model)
    e = raises(lambda: rec.suggest({"customer_id": "x", "events": [{"item": "22423", "timestamp": "someday"}]}),
               gptrec.Error.BAD_INPUT, "events[0].timestamp: not a date")
    if e is not None:
        again = pickle.loads(pickle.dumps(e))  # as Dask sends it from a worker
        check(type(again) is gptrec.Error and again.code == e.code and str(again) == str(e), "pickled error")
    import datetime

    raises(lambda: rec.suggest({"events": [{"item": "1", "timestamp": datetime.datetime(2024, 1, 1)}]}),
           gptrec.Error.BAD_INPUT, "events[0].timestamp: a Python datetime.datetime is not JSON")
    raises(lambda: rec.suggest("{oops"), gptrec.Error.BAD_INPUT, "not valid JSON")
    raises(lambda: rec.suggest({"events": [{"item": "22423", "quantity": float("nan")}]}), gptrec.Error.BAD_INPUT,
           "events[0].quantity: not a finite number")
    raises(lambda: rec.score([{"events": []}], top=0), gptrec.Error.INVALID_ARGUMENT, "top must be at least 1")
    raises(lambda: rec.score([{"events": []}], threads=-1), gptrec.Error.INVALID_ARGUMENT, "threads")

    # In score(), a record that is not JSON is an error record and the run goes on.
    got = rec.score([{"customer_id": "a", "events": [{"item": "22423"}]},
                     {"customer_id": "b", "events": [{"item": "22423", "when": {1, 2}}]},
                     {"customer_id": "c", "events": [{"item": "22423"}]}], top=2, source="batch")
    check(len(got) == 3 and got[0]["customer_id"] == "a" and got[2]["customer_id"] == "c", f"run went on: {got}")
    check(got[1] == {"line": 2, "customer_id": None, "error": "batch:2: events[0].when: a Python set is not JSON"},
          f"error record for a set: {got[1]}")
    try:
        rec.score([{}, {}], line_numbers=[1])
        check(False, "line_numbers shorter than records: no error")
    except ValueError:
        pass
    try:
        rec.score(5)
        check(False, "a non-iterable: no error")
    except TypeError:
        pass
    print("errors: gptrec.Error with codes, paths in messages, bad records in score()")


def test_gil_released(paths):
    """A Python thread runs while score() works: it sees score's iterator part-consumed.

    score() takes records from the iterator a chunk (4096) at a time and scores each chunk with the
    GIL released. While it holds the GIL no other thread runs, and a list iterator runs no Python
    code, so another thread can only see the iterator untouched or exhausted. Seeing it in between
    means that thread ran while score() was working: the count of such observations must be > 0.
    """
    with open(paths.sample, "rb") as f:
        lines = [line for line in f.read().split(b"\n") if line.strip()]
    records = lines * 50  # 15,000 records: 4 chunks of the module
    rec = gptrec.load(paths.model)
    it = iter(records)
    stop = threading.Event()
    observed = {"inside": 0, "total": 0}

    def watch():
        while not stop.is_set():
            left = operator.length_hint(it)
            observed["total"] += 1
            if 0 < left < len(records):
                observed["inside"] += 1

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = rec.score_lines(it, top=3, threads=1)
    finally:
        stop.set()
        watcher.join()
    check(len(results) == len(records), "all records scored")
    check(observed["inside"] > 0, f"the other thread never ran while score() worked: {observed}")
    print(f"GIL: another thread ran {observed['inside']} of {observed['total']} loop iterations while score() worked")


def test_need(paths):
    """need=, min_price=, max_price= and a record's "need" give what the CLI gives."""
    catalog = os.path.join(paths.repo, "tests", "data", "need", "catalog.json")
    rec = gptrec.load(paths.model, catalog=catalog)
    histories = sorted(os.path.join(paths.customers, n) for n in os.listdir(paths.customers))
    compared = 0
    for path in histories:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
        for kwargs, flags, status in (
                ({"need": "cake"}, ["--need", "cake"], 0),
                ({"need": "lunch bag", "top": 4, "explain": True}, ["--need", "lunch bag", "--top", "4", "--explain"], 0),
                ({"need": "bag", "max_price": 2.0, "min_price": 0.5},
                 ["--need", "bag", "--max-price", "2", "--min-price", "0.5"], 0),
                ({"need": "zzzqqq"}, ["--need", "zzzqqq"], 6)):
            cli = run_cli(paths, "suggest", "--model", paths.model, "--catalog", catalog, "--history", path,
                          "--format", "json", *flags)
            check(cli.returncode == status, f"suggest {path} {flags}: status {cli.returncode} {cli.stderr.decode()}")
            got = rec.suggest(history, **kwargs)
            check(got == json.loads(cli.stdout), f"suggest({os.path.basename(path)}, {kwargs}):\n got  {got}\n"
                                                 f" want {cli.stdout.decode()}")
            compared += 1
    # score: a record's need, and need= for every record, as `gptrec score` writes them.
    with open(paths.sample, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()][:40]
    for k, r in enumerate(records):
        if k % 3 == 0:
            r["need"] = ["cake", "bag", "zzzqqq", "heart"][k % 4]
    with tempfile.TemporaryDirectory() as tmp:
        path, out = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
        for kwargs, flags in (({}, []), ({"need": "candle", "max_price": 3.0}, ["--need", "candle", "--max-price", "3"])):
            cli = run_cli(paths, "score", "--model", paths.model, "--catalog", catalog, "--input", path, "--output", out,
                          "--quiet", *flags)
            check(cli.returncode == 0, f"score {flags}: {cli.stderr.decode()}")
            with open(out, encoding="utf-8") as f:
                want = f.read().splitlines()
            got = rec.score_lines(records, source=path, **kwargs)
            check(got == want, f"score_lines({kwargs}): {first_difference(got, want)}")
            compared += 1
    e = None
    try:
        rec.suggest(records[0], need="")
    except gptrec.Error as err:
        e = err
    check(e is not None and e.code == 2 and "need: empty" in str(e), f"need='' raises: {e!r}")
    print(f"need: {compared} results equal to the CLI's")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gptrec", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("group", choices=["Suggest", "Score", "Errors", "GilReleased", "Need"])
    args = p.parse_args()
    paths = Paths(args.gptrec, args.repo)
    {"Suggest": test_suggest, "Score": test_score, "Errors": test_errors, "GilReleased": test_gil_released,
     "Need": test_need}[args.group](paths)
    if FAILURES:
        print(f"{len(FAILURES)} failed checks")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
