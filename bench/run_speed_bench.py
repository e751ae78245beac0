"""Driver of bench/run_speed_bench.sh: gptrec against PyTorch on one model, in one run, and the
machine's limits (GEMM GFLOP/s, read bandwidth). See run_speed_bench.sh for the command.

Each (task, threads) runs as one gptrec_bench_speed process and one speed_torch.py process, one
after the other (their order alternates between rounds), so the two sides see the same machine.
Each process loads the model, runs `--warmup` untimed runs, then `--runs` timed ones; the table
shows the median and min-max over all timed runs of all rounds, and the ratio of the medians.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from openblas_check import describe, gemm_is_fair, torch_env_for_cpu

HERE = os.path.dirname(os.path.abspath(__file__))
BLAS_DIRS = {"openmp": "/usr/lib/x86_64-linux-gnu/openblas-openmp",
             "pthread": "/usr/lib/x86_64-linux-gnu/openblas-pthread"}
# Malloc keeps freed memory instead of returning it (and faulting it in again): what PyTorch
# needs to be at its best on these machines (issue 9). Both sides run with it.
TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184"
TASKS = ["prefill128", "prefill512", "decode", "score"]


def run_json(cmd, env=None):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


WAIT_POLICY = {}
# Per BLAS build: OPENBLAS_CORETYPE when OpenBLAS misdetects this CPU (openblas_check.py).
CORETYPE = {}
BLAS_REPORTS = {}


def torch_env(blas, threads):
    env = dict(os.environ, GLIBC_TUNABLES=TUNABLES, OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), **WAIT_POLICY)
    if blas in BLAS_DIRS and os.path.isdir(BLAS_DIRS[blas]):
        env["LD_LIBRARY_PATH"] = BLAS_DIRS[blas]
    if blas not in BLAS_REPORTS:
        _, BLAS_REPORTS[blas] = torch_env_for_cpu(env)
        if BLAS_REPORTS[blas]["coretype_set"]:
            CORETYPE[blas] = BLAS_REPORTS[blas]["coretype_set"]
        print(f"PyTorch with OpenBLAS-{blas}: {describe(BLAS_REPORTS[blas])}", flush=True)
    if blas in CORETYPE:
        env["OPENBLAS_CORETYPE"] = CORETYPE[blas]
    return env


def gptrec_env(threads):
    return dict(os.environ, GLIBC_TUNABLES=TUNABLES, OMP_NUM_THREADS=str(threads), **WAIT_POLICY)


def model_numbers(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    C, L, V = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    inner = cfg.get("n_inner") or 4 * C
    block_params = L * (C * 3 * C + C * C + 2 * C * inner)

    def prefill_flops(T):
        # Linear layers over T rows, causal attention (QK^T and AV over the lower triangle:
        # 2 * T^2 * C per layer), the head for the last row.
        return 2 * T * block_params + L * 2 * T * T * C + 2 * C * V

    def decode_bytes(pos):
        # Weights streamed per token (block matrices and the head, float32) and the KV cache read.
        return 4 * (block_params + V * C) + 4 * 2 * L * pos * C

    return cfg, prefill_flops, decode_bytes


def fmt_rate(r):
    return f"{r['median']:.1f} ({r['min']:.1f}-{r['max']:.1f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--torch-blas", default="openmp", choices=["auto", "openmp", "pthread", "system"])
    ap.add_argument("--int8-model", help="an int8 copy of the model (gptrec quantize): gptrec "
                    "runs every task on it too")
    ap.add_argument("--f16-model", help="an F16 copy of the model: gptrec runs every task on it "
                    "too (weights kept half-size)")
    ap.add_argument("--bf16-model", help="a BF16 copy of the model, as --f16-model")
    ap.add_argument("--json", help="also write every result here")
    ap.add_argument("--omp-wait-policy", choices=["active", "passive"],
                    help="OMP_WAIT_POLICY for both sides (default: OpenMP's own, spinning a while): "
                    "passive keeps a loaded machine from stalling every parallel region")
    args = ap.parse_args()
    if args.omp_wait_policy:
        WAIT_POLICY["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    threads_list = [int(t) for t in args.threads.split(",")]
    tasks = args.tasks.split(",")
    bench = os.path.join(args.build, "bench", "gptrec_bench_speed")
    torch_py = [sys.executable, os.path.join(HERE, "speed_torch.py"), args.model]
    cfg, prefill_flops, decode_bytes = model_numbers(args.model)
    C, L, V = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    block_params = L * (C * 3 * C + C * C + 2 * C * (cfg.get("n_inner") or 4 * C))
    int8_mib = 0
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "loadavg_start": open("/proc/loadavg").read().split()[:3], "limits": {}, "runs": []}

    print(f"model {args.model}: {cfg['n_layer']} layers, width {cfg['n_embd']}, vocabulary "
          f"{cfg['vocab_size']}; {os.cpu_count()} cores; load average "
          f"{' '.join(results['loadavg_start'])}"
          + (f"; OMP_WAIT_POLICY={WAIT_POLICY['OMP_WAIT_POLICY']}" if WAIT_POLICY else ""),
          flush=True)

    # The machine's limits, measured before the tasks and again after them (the bandwidth of this
    # shared machine drifts by 10-20% over minutes); the better of the two is the limit.
    def measure_limits(when):
        measured = {}
        for t in threads_list:
            lim = {"gemm": {}}
            lim["gemm"]["eigen"] = run_json([bench, "--task", "gemm", "--threads", str(t)],
                                            gptrec_env(t))["gflops"]
            for blas in ("openmp", "pthread"):
                if os.path.isdir(BLAS_DIRS[blas]):
                    r = run_json(torch_py + ["--task", "gemm", "--threads", str(t)],
                                 torch_env(blas, t))
                    lim["gemm"][f"openblas-{blas} (torch.matmul)"] = r["gflops"]
            bw = run_json([bench, "--task", "bandwidth", "--threads", str(t)], gptrec_env(t))
            lim["bandwidth_gbs"] = bw["gbs"]
            lim["bandwidth_4k_gbs"] = bw.get("gbs_4k_pages", bw["gbs"])
            lim["bandwidth_huge_gbs"] = bw.get("gbs_huge_pages", bw["gbs"])
            measured[t] = lim
            for name, g in lim["gemm"].items():
                shapes = ", ".join(f"{k} {v:.1f}" for k, v in g.items())
                print(f"{when}, {t} thread(s): GEMM GFLOP/s {name}: {shapes}", flush=True)
            print(f"{when}, {t} thread(s): read bandwidth {lim['bandwidth_4k_gbs']:.1f} GB/s on 4 KiB "
                  f"pages, {lim['bandwidth_huge_gbs']:.1f} GB/s on 2 MiB pages", flush=True)
        return measured

    limits_before = measure_limits("before")
    limits = limits_before

    def torch_blas_for(t):
        if args.torch_blas != "auto":
            return args.torch_blas
        best = max(("openmp", "pthread"),
                   key=lambda b: limits[t]["gemm"].get(f"openblas-{b} (torch.matmul)",
                                                      {}).get("512x768x2304", -1))
        return best

    variants = {name: path for name, path in (("int8", args.int8_model), ("f16", args.f16_model),
                                               ("bf16", args.bf16_model)) if path}
    collected = {}
    adjacent_bw = {}
    for rnd in range(args.rounds):
        for t in threads_list:
            blas = torch_blas_for(t)
            for task in tasks:
                common = ["--task", task, "--threads", str(t), "--runs", str(args.runs),
                          "--warmup", str(args.warmup)]
                if task == "decode":
                    # Decode is bandwidth-bound and this machine's bandwidth drifts: it is measured
                    # right before and right after the decode runs too, for the % of limit.
                    adjacent_bw.setdefault(t, []).append(run_json(
                        [bench, "--task", "bandwidth", "--threads", str(t)], gptrec_env(t))["gbs"])
                sides = [("gptrec", [bench, args.model] + common, gptrec_env(t)),
                         ("pytorch", torch_py + common, torch_env(blas, t))]
                if rnd % 2:
                    sides.reverse()
                for side, cmd, env in sides:
                    r = run_json(cmd, env)
                    if side == "pytorch":
                        r["blas_choice"] = blas
                    results["runs"].append(r)
                    c = collected.setdefault((task, t, side), {"rates": [], "rss": 0.0})
                    c["rates"] += r["rates"]
                    c["rss"] = max(c["rss"], r["peak_rss_mb"])
                    print(f"round {rnd + 1}, {t} thread(s), {task}, {side}: median "
                          f"{r['median']:.1f} tok/s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
                for variant, path in variants.items():
                    r = run_json([bench, path] + common, gptrec_env(t))
                    r["side"] = f"gptrec-{variant}"
                    results["runs"].append(r)
                    c = collected.setdefault((task, t, r["side"]), {"rates": [], "rss": 0.0})
                    c["rates"] += r["rates"]
                    c["rss"] = max(c["rss"], r["peak_rss_mb"])
                    print(f"round {rnd + 1}, {t} thread(s), {task}, gptrec {variant}: median "
                          f"{r['median']:.1f} tok/s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
                if task == "decode":
                    adjacent_bw[t].append(run_json(
                        [bench, "--task", "bandwidth", "--threads", str(t)], gptrec_env(t))["gbs"])
                    print(f"round {rnd + 1}, {t} thread(s), read bandwidth around decode: "
                          + ", ".join(f"{v:.1f}" for v in adjacent_bw[t][-2:]) + " GB/s", flush=True)

    limits_after = measure_limits("after")
    limits = {}
    for t in threads_list:
        b, a = limits_before[t], limits_after[t]
        limits[t] = {"gemm": {name: {shape: max(v, a["gemm"][name][shape]) for shape, v in g.items()}
                              for name, g in b["gemm"].items()},
                     "bandwidth_gbs": max(b["bandwidth_gbs"], a["bandwidth_gbs"])}
    results["limits"] = {"before": limits_before, "after": limits_after, "best": limits,
                         "bandwidth_around_decode": adjacent_bw}
    results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    weight_mb = os.path.getsize(os.path.join(args.model, "model.safetensors")) / 2**20

    def summary(task, t, side):
        c = collected.get((task, t, side))
        if not c:
            return None
        return {"median": statistics.median(c["rates"]), "min": min(c["rates"]),
                "max": max(c["rates"]), "rss": c["rss"], "n": len(c["rates"])}

    def fair(t):
        # PyTorch's bare GEMM (its BLAS at this thread count) against the machine's peak.
        g = limits[t]["gemm"]
        torch_gemm = g.get(f"openblas-{torch_blas_for(t)} (torch.matmul)", {}).get("512x768x2304", 0)
        return gemm_is_fair(torch_gemm, max(v["512x768x2304"] for v in g.values()))

    results["openblas"] = BLAS_REPORTS
    for t in threads_list:
        if not fair(t):
            print(f"{t} thread(s): PyTorch's bare GEMM is below half the machine's peak: "
                  "no gptrec / PyTorch ratio is printed for this thread count")
    print()
    print(f"load average at the end {' '.join(results['loadavg_end'])}; weights file "
          f"{weight_mb:.0f} MiB; PyTorch BLAS: "
          + ", ".join(f"{t} thread(s) OpenBLAS-{torch_blas_for(t)}" for t in threads_list))
    print()
    print("| task | threads | gptrec tok/s median (min-max) | PyTorch tok/s median (min-max) | "
          "gptrec / PyTorch | peak RSS MiB gptrec / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|")
    table = []
    for task in tasks:
        for t in threads_list:
            g, p = summary(task, t, "gptrec"), summary(task, t, "pytorch")
            if not g or not p:
                continue
            ratio = g["median"] / p["median"]
            table.append({"task": task, "threads": t, "gptrec": g, "pytorch": p, "ratio": ratio,
                          "fair": fair(t)})
            shown = f"{ratio:.2f}x" if fair(t) else "withheld (PyTorch's GEMM below half the peak)"
            print(f"| {task} | {t} | {fmt_rate(g)} | {fmt_rate(p)} | {shown} | "
                  f"{g['rss']:.0f} / {p['rss']:.0f} |")
    results["table"] = table
    kv_decode_mib = 4 * 2 * L * (32 + 128) * C / 2**20  # the decode session's cache (160 positions)
    variant_mib = {}
    for variant, path in variants.items():
        print()
        mib = os.path.getsize(os.path.join(path, "model.safetensors")) / 2**20
        variant_mib[f"gptrec-{variant}"] = mib
        print(f"{variant} ({path}, weights file {mib:.0f} MiB), each task right after gptrec "
              "float32:")
        print()
        print(f"| task | threads | gptrec {variant} tok/s median (min-max) | gptrec f32 | "
              f"{variant} / f32 | {variant} / PyTorch f32 | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for task in tasks:
            for t in threads_list:
                q, g = summary(task, t, f"gptrec-{variant}"), summary(task, t, "gptrec")
                p = summary(task, t, "pytorch")
                if q and g and p:
                    vs_torch = f"{q['median'] / p['median']:.2f}x" if fair(t) else "withheld"
                    print(f"| {task} | {t} | {fmt_rate(q)} | {g['median']:.1f} | "
                          f"{q['median'] / g['median']:.2f}x | {vs_torch} | {q['rss']:.0f} |")
                    results.setdefault(variant, []).append(
                        {"task": task, "threads": t, variant: q, "f32": g})

    print()
    print("Peak RSS of decode against the weights file plus the KV cache "
          f"({kv_decode_mib:.1f} MiB for the 160-position session):")
    print()
    print("| model | threads | peak RSS MiB | weights + KV MiB | ratio |")
    print("|---|---:|---:|---:|---:|")
    for side, mib in [("gptrec", weight_mb)] + list(variant_mib.items()) + [("pytorch", weight_mb)]:
        for t in threads_list:
            c = summary("decode", t, side)
            if c:
                print(f"| {side} | {t} | {c['rss']:.0f} | {mib + kv_decode_mib:.0f} | "
                      f"{c['rss'] / (mib + kv_decode_mib):.2f} |")

    if "score" in tasks:
        # PyTorch's one batch holds the KV cache of all 4,096 positions; gptrec scores in passes of
        # ScoringOptions::batch_tokens (512) tokens and holds one pass's KV cache at a time. Both
        # ratios are printed: against the weights plus the whole task's KV cache (the target's
        # denominator), and against the weights plus the KV cache of one 512-token pass.
        kv_score_mib = 4 * 2 * L * 64 * 64 * C / 2**20
        kv_pass_mib = 4 * 2 * L * 512 * C / 2**20
        print()
        print(f"Peak RSS of score (64 x 64 tokens) against the weights file plus the KV cache of "
              f"the 4,096 positions ({kv_score_mib:.0f} MiB) and of one 512-token pass "
              f"({kv_pass_mib:.0f} MiB; gptrec's passes):")
        print()
        print("| model | threads | peak RSS MiB | weights + KV of 4,096 MiB | ratio | "
              "weights + KV of 512 MiB | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for side, mib in ([("gptrec", weight_mb)] + list(variant_mib.items())
                          + [("pytorch", weight_mb)]):
            for t in threads_list:
                c = summary("score", t, side)
                if c:
                    print(f"| {side} | {t} | {c['rss']:.0f} | {mib + kv_score_mib:.0f} | "
                          f"{c['rss'] / (mib + kv_score_mib):.2f} | {mib + kv_pass_mib:.0f} | "
                          f"{c['rss'] / (mib + kv_pass_mib):.2f} |")

    print()
    print("Limits (the better of before and after): " + "; ".join(
        f"{t} thread(s) GEMM {max(g['512x768x2304'] for g in limits[t]['gemm'].values()):.1f} "
        f"GFLOP/s, read {limits[t]['bandwidth_gbs']:.1f} GB/s" for t in threads_list))
    print()
    print("| task | threads | side | achieved | limit | % of limit |")
    print("|---|---:|---|---:|---:|---:|")
    for row in table:
        t, task = row["threads"], row["task"]
        lim = limits[t]
        peak = max(g["512x768x2304"] for g in lim["gemm"].values())
        for side in ("gptrec", "pytorch"):
            rate = row[side]["median"]
            if task.startswith("prefill"):
                T = int(task.removeprefix("prefill"))
                gflops = prefill_flops(T) * rate / T / 1e9
                print(f"| {task} | {t} | {side} | {gflops:.1f} GFLOP/s | {peak:.1f} GFLOP/s "
                      f"(best GEMM 512x768x2304) | {100 * gflops / peak:.0f}% |")
            elif task == "decode":
                gbs = decode_bytes(32 + 64) * rate / 1e9
                bw = max(adjacent_bw.get(t, [lim["bandwidth_gbs"]]))
                roof = bw * 1e9 / decode_bytes(32 + 64)
                print(f"| decode | {t} | {side} | {gbs:.1f} GB/s of weights + KV | {bw:.1f} GB/s "
                      f"(best read around the decode runs; roofline {roof:.0f} tok/s) | "
                      f"{100 * gbs / bw:.0f}% |")
        for variant, weight_bytes in (("int8", 1), ("f16", 2), ("bf16", 2)):
            if task != "decode" or not summary("decode", t, f"gptrec-{variant}"):
                continue
            # Bytes per token: the block and head weights as stored, plus the float32 KV cache.
            per_token = weight_bytes * (block_params + V * C) + 4 * 2 * L * (32 + 64) * C
            rate = summary("decode", t, f"gptrec-{variant}")["median"]
            gbs, bw = per_token * rate / 1e9, max(adjacent_bw.get(t, [lim["bandwidth_gbs"]]))
            print(f"| decode | {t} | gptrec {variant} | {gbs:.1f} GB/s of weights + KV | "
                  f"{bw:.1f} GB/s (roofline {bw * 1e9 / per_token:.0f} tok/s) | "
                  f"{100 * gbs / bw:.0f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
