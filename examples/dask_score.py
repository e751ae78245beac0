#!/usr/bin/python3
"""Score a JSONL file of customer histories on a Dask distributed cluster.

The output equals `gptrec score` on the same input, line for line: one result line per input
record, in input order, error records for bad lines, blank lines skipped (but counted).

    /usr/bin/python3 examples/dask_score.py --input customers.jsonl --output suggestions.jsonl \
        --model models/online-retail [--top 10] [--scheduler tcp://host:8786] [--partition-size 10000]

How it works: this process (the client) reads the input and sends it to the workers in partitions
of --partition-size lines; each task scores one partition with the `gptrec` Python module and
returns its result lines; the client writes them in input order, keeping at most two partitions
per worker thread in flight, so memory stays bounded for inputs of any size. Each worker loads the
model once, when it joins (a worker plugin), and its threads share it (the module releases the
GIL, so a worker's threads score in parallel).

Without --scheduler a LocalCluster of --workers workers is started on this machine. With it, every
worker must be able to `import gptrec` (the same build as this client's) and read --model (and
--catalog): a path on shared storage, or the same path on every machine.

Exit status: 0 when every record was scored, 3 when some were bad (their error records are in the
output), otherwise the gptrec.Error code (2 bad argument, 4 bad model, 5 file error) or 1.
"""

import argparse
import collections
import gzip
import json
import os
import sys
import tempfile
import time

PLUGIN_NAME = "gptrec-model"


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    default_model = os.environ.get("GPTREC_MODEL") or os.path.join(here, "..", "models", "online-retail")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="histories, one JSON per line (.jsonl, .jsonl.gz, or - for stdin)")
    p.add_argument("--output", required=True, help="result lines (a file, or - for stdout)")
    p.add_argument("--model", default=default_model, help="model directory, as the workers see it "
                   "(default: $GPTREC_MODEL, else the shipped models/online-retail)")
    p.add_argument("--catalog", help="catalog JSON (read here and sent to the workers)")
    p.add_argument("--top", type=int, default=10, help="suggestions per customer (default 10)")
    p.add_argument("--mode", choices=["mixed", "buy-again", "discover", "all"], default="mixed",
                   help="which items: the best re-buys and new items, half each (default); only re-buys; "
                        "only new items; by score alone (as gptrec score --mode)")
    p.add_argument("--exclude-purchased", action="store_true", help="only items the customer has not bought "
                   "(the same as --mode discover)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster: number of workers (default 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="LocalCluster: threads per worker (default 1)")
    p.add_argument("--processes", action="store_true",
                   help="LocalCluster: one process per worker (default: threads of this process)")
    p.add_argument("--partition-size", type=int, default=10000, help="input lines per task (default 10000)")
    p.add_argument("--threads-per-task", type=int, default=1,
                   help="OpenMP threads inside each task (default 1: the worker's threads give the parallelism)")
    p.add_argument("--quiet", action="store_true", help="no summary on stderr")
    args = p.parse_args(argv)
    if args.exclude_purchased and args.mode not in ("mixed", "discover"):
        p.error("--exclude-purchased contradicts --mode " + args.mode)
    for name in ("top", "workers", "threads_per_worker", "partition_size", "threads_per_task"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def open_input(path):
    """The input as a binary stream, gunzipped when it starts with the gzip magic (as the CLI)."""
    if path == "-":
        return gzip.GzipFile(fileobj=sys.stdin.buffer) if sys.stdin.buffer.peek(2)[:2] == b"\x1f\x8b" \
            else sys.stdin.buffer
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_partitions(stream, size):
    """Yields (number of its first line, payload) per `size` input lines; the payload holds the
    lines, each without its "\\n" and one trailing "\\r" (as the CLI reads them), joined by "\\n"."""
    first, lines = 1, []
    for line in stream:
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        lines.append(line)
        if len(lines) == size:
            yield first, b"\n".join(lines)
            first, lines = first + size, []
    if lines:
        yield first, b"\n".join(lines)


def make_plugin(model_dir, catalog):
    from distributed.diagnostics.plugin import WorkerPlugin

    class GptrecModel(WorkerPlugin):
        """Loads the recommender once per worker, when the plugin is registered (or the worker joins)."""

        name = PLUGIN_NAME

        def __init__(self, model_dir, catalog):
            self.model_dir = model_dir
            self.catalog = catalog
            self.recommender = None
            self.loads = 0

        def setup(self, worker):
            import gptrec

            self.recommender = gptrec.load(self.model_dir, self.catalog)
            self.loads += 1

    return GptrecModel(model_dir, catalog)


def score_partition(first_line, payload, source, top, mode, exclude_purchased, threads):
    """Runs on a worker: the partition's result lines ("\\n"-terminated), records and errors."""
    from distributed import get_worker

    numbers, records = [], []
    for number, line in enumerate(payload.split(b"\n"), start=first_line):
        if line.strip(b" \t"):  # blank lines are not records, as in `gptrec score`
            numbers.append(number)
            records.append(line)
    recommender = get_worker().plugins[PLUGIN_NAME].recommender
    lines = recommender.score_lines(records, top=top, mode=mode, exclude_purchased=exclude_purchased,
                                    threads=threads, source=source, line_numbers=numbers)
    # Only an error record has the key "error": inside a JSON string every quote is escaped, so
    # '"error":' cannot come from a value.
    errors = sum('"error":' in line for line in lines)
    return "".join(line + "\n" for line in lines), len(lines), errors


def register_plugin(client, plugin):
    # distributed >= 2023.9 names it register_plugin; Debian 12's 2022.12 has register_worker_plugin.
    if hasattr(client, "register_plugin"):
        client.register_plugin(plugin, name=PLUGIN_NAME)
    else:
        client.register_worker_plugin(plugin, name=PLUGIN_NAME)


def run(args):
    from distributed import Client, LocalCluster

    catalog = None
    if args.catalog:
        with open(args.catalog, encoding="utf-8") as f:
            catalog = json.load(f)
    model_dir = os.path.abspath(args.model) if not args.scheduler else args.model
    source = "<stdin>" if args.input == "-" else args.input

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                               processes=args.processes, dashboard_address=None)
        client = Client(cluster)
    try:
        register_plugin(client, make_plugin(model_dir, catalog))
        slots = max(1, sum(client.nthreads().values()))
        started = time.monotonic()
        records = errors = 0
        with open_input(args.input) as stream, Output(args.output) as out:
            in_flight = collections.deque()

            def write_oldest():
                nonlocal records, errors
                text, count, bad = in_flight.popleft().result()
                out.write(text.encode("utf-8"))
                records += count
                errors += bad

            for first_line, payload in read_partitions(stream, args.partition_size):
                if len(in_flight) >= 2 * slots:
                    write_oldest()
                # Scattered rather than passed to submit(): a partition is megabytes, too big to
                # travel inside the task through the scheduler.
                data = client.scatter(payload, hash=False)
                in_flight.append(client.submit(score_partition, first_line, data, source, args.top, args.mode,
                                               args.exclude_purchased, args.threads_per_task, pure=False))
            while in_flight:
                write_oldest()
        seconds = time.monotonic() - started
        loads = client.run(lambda dask_worker: dask_worker.plugins[PLUGIN_NAME].loads)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if not args.quiet or errors:
        rate = records / seconds if seconds > 0 else 0.0
        print(f"dask_score.py: scored {records} records ({errors} errors) in {seconds:.2f} s, {rate:.0f} records/s "
              f"on {len(loads)} workers; model loads per worker: {sorted(loads.values())}", file=sys.stderr)
    return 3 if errors else 0


class Output:
    """The output file, written to a temporary file beside it and renamed into place when complete,
    so a failed run leaves no partial output; "-" is standard output."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        if self.path == "-":
            self.file = sys.stdout.buffer
        else:
            folder = os.path.dirname(os.path.abspath(self.path))
            fd, self.temporary = tempfile.mkstemp(dir=folder, prefix=".dask_score.", suffix=".part")
            self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, kind, value, traceback):
        if self.path == "-":
            self.file.flush()
            return False
        try:
            if kind is None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
            if kind is None:
                os.chmod(self.temporary, 0o644)
                os.replace(self.temporary, self.path)
        finally:
            if os.path.exists(self.temporary):
                os.unlink(self.temporary)
        return False


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The client needs the module too: a worker's gptrec.Error reaches it pickled.
    import gptrec

    try:
        return run(args)
    except gptrec.Error as e:
        print(f"dask_score.py: error: {e}", file=sys.stderr)
        return e.code
    except OSError as e:
        print(f"dask_score.py: error: {e}", file=sys.stderr)
        return 5


if __name__ == "__main__":
    sys.exit(main())
