"""Driver of bench/run_main_bench.sh: the main job (`gptrec score` with an item model over a file
of customer histories) against the same job in PyTorch at its best (bench/main_job_torch.py), in
one run, with the roofline, and the latency of one customer.

Per thread count and round (the sides' order alternates between rounds):
  gptrec    `gptrec score --model M --input DATA --output F --threads N --quiet` as one process;
            customers/s = customers / the process's wall time (loading the model included)
  pytorch   main_job_torch.py --input DATA --threads N; customers/s = customers / the time from
            reading the input to the last line written (interpreter start, `import torch` and
            loading the model excluded: generous to PyTorch)
The outputs are compared customer by customer (the same suggestions in the same order).
Customers per CPU-second (the customers over the CPU time of all the side's threads: the whole
gptrec process, PyTorch's span above) is printed beside the wall-clock rate: on a machine shared
with other work the wall-clock rate measures the share of the cores a side got as much as its
speed.

Roofline: the FLOPs of the job (main_job_torch.py's flops_per_sequence, the work both sides do)
over the machine's best float32 GEMM (Eigen, 512x768x2304, measured in the same run).

Latency of one customer: `gptrec suggest --format json` and `main_job_torch.py --suggest` as whole
processes (start to printed JSON, median of --suggest-runs); and one warm library call
(gptrec_bench_recommend: Recommender::recommend on a parsed history; main_job_torch.py --latency:
the parsed history to its result object), median and 90th percentile over the first
--latency-customers customers.
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from openblas_check import describe, gemm_is_fair, torch_env_for_cpu

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184"


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timed(cmd, env, stdout=subprocess.DEVNULL):
    """(wall seconds, CPU seconds of the child) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=stdout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# Two lists that differ only where their scores agree this closely (relative) differ by a float
# near-tie: the two sides round the same sums in different orders (docs/BENCHMARKS.md).
NEAR_TIE = 1e-5


def compare_outputs(path_g, path_p):
    """Customer by customer: (how many lists are the same, how many differ only at near-ties, the
    lines of the others)."""
    with open(path_g, encoding="utf-8") as f, open(path_p, encoding="utf-8") as g:
        pairs = list(zip((json.loads(line) for line in f), (json.loads(line) for line in g)))
    same, near, other = 0, 0, []
    for a, b in pairs:
        la, lb = a.get("suggestions", []), b.get("suggestions", [])
        if [s["item"] for s in la] == [s["item"] for s in lb] and a.get("score") == b.get("score"):
            same += 1
            continue
        # A near-tie: at every rank the two sides' scores agree (items that trade places there
        # score alike on both sides).
        ok = len(la) == len(lb) and all(
            abs(x["score"] - y["score"]) <= NEAR_TIE * max(abs(x["score"]), abs(y["score"]))
            for x, y in zip(la, lb))
        if ok:
            near += 1
        else:
            other.append(a.get("line"))
    return same, near, other


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "online-retail"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "online-retail",
                                                   "histories.jsonl.gz"))
    ap.add_argument("--history", default=os.path.join(ROOT, "examples", "customers", "12352.json"),
                    help="the one customer of the whole-process latency")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--suggest-runs", type=int, default=10)
    ap.add_argument("--latency-customers", type=int, default=1000)
    ap.add_argument("--json", help="also write every result here")
    args = ap.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]
    gptrec = os.path.join(args.build, "gptrec")
    bench_speed = os.path.join(args.build, "bench", "gptrec_bench_speed")
    bench_recommend = os.path.join(args.build, "bench", "gptrec_bench_recommend")
    torch_py = [sys.executable, os.path.join(HERE, "main_job_torch.py"), args.model]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
               "loadavg_start": open("/proc/loadavg").read().split()[:3], "runs": []}
    print(f"commit {commit}; model {args.model}; data {args.data}; {os.cpu_count()} cores; "
          f"load average {' '.join(results['loadavg_start'])}", flush=True)

    def gptrec_env(t):
        return dict(os.environ, GLIBC_TUNABLES=TUNABLES, OMP_NUM_THREADS=str(t))

    base_torch_env = dict(os.environ, GLIBC_TUNABLES=TUNABLES)
    if os.path.isdir(BLAS_DIR):
        base_torch_env["LD_LIBRARY_PATH"] = BLAS_DIR
    base_torch_env, blas = torch_env_for_cpu(base_torch_env)
    results["openblas"] = blas
    print(f"PyTorch: {describe(blas)}", flush=True)

    def torch_env(t):
        return dict(base_torch_env, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))

    # The machine's GEMM peak (Eigen) and PyTorch's bare GEMM, per thread count.
    gemm = {}
    for t in threads_list:
        eigen = run_json([bench_speed, "--task", "gemm", "--threads", str(t)], gptrec_env(t))
        torch_gemm = run_json([sys.executable, os.path.join(HERE, "speed_torch.py"), args.model,
                               "--task", "gemm", "--threads", str(t)], torch_env(t))
        gemm[t] = {"eigen": eigen["gflops"]["512x768x2304"],
                   "torch": torch_gemm["gflops"]["512x768x2304"]}
        print(f"{t} thread(s): GEMM 512x768x2304 Eigen {gemm[t]['eigen']:.1f} GFLOP/s, "
              f"torch.matmul {gemm[t]['torch']:.1f}", flush=True)
    results["gemm"] = gemm

    tmp = tempfile.mkdtemp(prefix="gptrec-main-bench-")
    plain = os.path.join(tmp, "histories.jsonl")
    opener = gzip.open if args.data.endswith(".gz") else open
    with opener(args.data, "rt", encoding="utf-8") as f, open(plain, "w", encoding="utf-8") as g:
        g.write(f.read())

    job = {}
    for rnd in range(args.rounds):
        for t in threads_list:
            out_g = os.path.join(tmp, f"gptrec-{t}.jsonl")
            out_p = os.path.join(tmp, f"pytorch-{t}.jsonl")
            sides = ["gptrec", "pytorch"]
            if rnd % 2:
                sides.reverse()
            for side in sides:
                if side == "gptrec":
                    wall, cpu = timed([gptrec, "score", "--model", args.model, "--input", args.data,
                                       "--output", out_g, "--threads", str(t), "--quiet"],
                                      gptrec_env(t))
                    with open(out_g, encoding="utf-8") as f:
                        customers = sum(1 for _ in f)
                    r = {"side": side, "threads": t, "customers": customers, "seconds": wall,
                         "cpu_seconds": cpu}
                else:
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    r = run_json(torch_py + ["--input", args.data, "--output", out_p,
                                             "--threads", str(t)], torch_env(t))
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    r["cpu_seconds_process"] = (after.ru_utime - before.ru_utime
                                                + after.ru_stime - before.ru_stime)
                r["round"] = rnd + 1
                r["rate"] = r["customers"] / r["seconds"]
                r["cpu_rate"] = r["customers"] / r["cpu_seconds"]
                results["runs"].append(r)
                job.setdefault((side, t), []).append(r)
                print(f"round {rnd + 1}, {t} thread(s), {side}: {r['rate']:.0f} customers/s "
                      f"({r['seconds']:.2f} s; {r['cpu_rate']:.0f} per CPU-second)", flush=True)
            same, near, other = compare_outputs(out_g, out_p)
            total = same + near + len(other)
            results.setdefault("same_suggestions", {})[t] = [same, total]
            results.setdefault("near_ties", {})[t] = near
            results.setdefault("different", {})[t] = other
            print(f"{t} thread(s): same suggestions for {same} of {total} customers; {near} "
                  f"differ at a float near-tie; {len(other)} differ otherwise"
                  + (f" (lines {other[:20]})" if other else ""), flush=True)

    flops = job[("pytorch", threads_list[0])][0]["flops"]
    customers = job[("pytorch", threads_list[0])][0]["customers"]

    latency = {}
    for t in threads_list:
        sample = os.path.join(tmp, "latency.jsonl")
        with open(plain, encoding="utf-8") as f, open(sample, "w", encoding="utf-8") as g:
            for i, line in enumerate(f):
                if i >= args.latency_customers:
                    break
                g.write(line)
        lib_g = run_json([bench_recommend, args.model, sample, "--threads", str(t)], gptrec_env(t))
        lib_p = run_json(torch_py + ["--latency", sample, "--threads", str(t)], torch_env(t))
        proc = {"gptrec": [], "pytorch": []}
        for i in range(args.suggest_runs):
            cmds = [("gptrec", [gptrec, "suggest", "--model", args.model, "--history", args.history,
                                "--format", "json"], gptrec_env(t)),
                    ("pytorch", torch_py + ["--suggest", args.history, "--threads", str(t)],
                     torch_env(t))]
            if i % 2:
                cmds.reverse()
            for side, cmd, env in cmds:
                proc[side].append(timed(cmd, env)[0])
        latency[t] = {"library": {"gptrec": lib_g, "pytorch": lib_p},
                      "process_ms": {s: 1e3 * statistics.median(v) for s, v in proc.items()}}
        print(f"{t} thread(s): one customer, warm library call median {lib_g['median_ms']:.3f} ms "
              f"(PyTorch {lib_p['median_ms']:.3f}); whole suggest process median "
              f"{latency[t]['process_ms']['gptrec']:.0f} ms (PyTorch "
              f"{latency[t]['process_ms']['pytorch']:.0f})", flush=True)
    results["latency"] = latency
    results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]

    print()
    print(f"commit {commit}; {customers} customers, {flops / customers / 1e6:.1f} MFLOP per "
          f"customer (the work both sides do); load average {' '.join(results['loadavg_start'])} "
          f"at the start, {' '.join(results['loadavg_end'])} at the end; PyTorch {describe(blas)}")
    print()
    print("| threads | gptrec customers/s (rounds) | PyTorch customers/s (rounds) | gptrec / "
          "PyTorch | per CPU-second gptrec / PyTorch | roofline customers/s (GEMM peak) | gptrec "
          "% of roofline | PyTorch % of roofline | same suggestions |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = []
    for t in threads_list:
        g = [r["rate"] for r in job[("gptrec", t)]]
        p = [r["rate"] for r in job[("pytorch", t)]]
        gc = max(r["cpu_rate"] for r in job[("gptrec", t)])
        pc = max(r["cpu_rate"] for r in job[("pytorch", t)])
        peak = gemm[t]["eigen"]
        roof = peak * 1e9 / (flops / customers)
        fair = gemm_is_fair(gemm[t]["torch"], peak)
        ratio = max(g) / max(p)
        same, total = results["same_suggestions"][t]
        table.append({"threads": t, "gptrec": g, "pytorch": p, "ratio": ratio, "fair": fair,
                      "roofline": roof, "peak_gflops": peak, "cpu_rates": [gc, pc]})
        shown = f"**{ratio:.2f}x**" if fair else (
            f"withheld (torch.matmul {gemm[t]['torch']:.0f} GFLOP/s, below half the peak)")
        cpu_shown = f"{gc:.0f} / {pc:.0f} ({gc / pc:.2f}x)" if fair else f"{gc:.0f} / {pc:.0f}"
        print(f"| {t} | {max(g):.0f} ({' / '.join(f'{v:.0f}' for v in g)}) | {max(p):.0f} "
              f"({' / '.join(f'{v:.0f}' for v in p)}) | {shown} | {cpu_shown} | {roof:.0f} ({peak:.0f} "
              f"GFLOP/s) | {100 * max(g) / roof:.0f}% | {100 * max(p) / roof:.0f}% | "
              f"{same} / {total} |")
    results["table"] = table
    print()
    print("| threads | one customer | gptrec | PyTorch | PyTorch / gptrec |")
    print("|---:|---|---:|---:|---:|")
    for t in threads_list:
        lat = latency[t]
        lg, lp = lat["library"]["gptrec"], lat["library"]["pytorch"]
        print(f"| {t} | warm library call, median (p90) ms | {lg['median_ms']:.3f} "
              f"({lg['p90_ms']:.3f}) | {lp['median_ms']:.3f} ({lp['p90_ms']:.3f}) | "
              f"{lp['median_ms'] / lg['median_ms']:.1f}x |")
        pg, pp = lat["process_ms"]["gptrec"], lat["process_ms"]["pytorch"]
        print(f"| {t} | `suggest` whole process, median ms | {pg:.0f} | {pp:.0f} | "
              f"{pp / pg:.1f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
