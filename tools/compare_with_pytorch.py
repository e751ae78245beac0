#!/usr/bin/env python3
"""Checks gptrec's log-probabilities on a model directory against a PyTorch reference.

    /usr/bin/python3 tools/compare_with_pytorch.py MODEL_DIR [--ids 1,2,3 | --length N --seed S]
                                                   [--gptrec PATH] [--tolerance 1e-4]

The reference is tools/gptrec_tools/reference.py: PyTorch's own ops (F.layer_norm, F.gelu,
F.softmax) in float64 on the weights as stored (F16/BF16 widened exactly). gptrec runs as
`gptrec logprobs MODEL_DIR --ids ... --format json --top 5`. Printed: the largest |Δ| over every
position's next-token log-prob and over the top-5 log-probs (gptrec's k-th best against the
reference's k-th best, and each token gptrec lists against the reference's value for it).
Exit status 0 when the largest |Δ| is within --tolerance, 1 when not, 2 on bad arguments.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import reference, safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = 5


def default_gptrec():
    built = os.path.join(ROOT, "build", "gptrec")
    return built if os.path.isfile(built) else shutil.which("gptrec")


def reference_logprobs(model_dir, config, ids):
    """log_softmax of the reference logits, float64, (T, V)."""
    weights, _ = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    logits = reference.forward(weights, config, ids)
    return torch.log_softmax(logits, dim=-1).numpy()


def gptrec_logprobs(gptrec, model_dir, ids):
    cmd = [gptrec, "logprobs", model_dir, "--ids", ",".join(map(str, ids)), "--format", "json",
           "--top", str(TOP)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"compare_with_pytorch.py: gptrec exited with {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)["positions"]


def compare(ref, positions, ids):
    """(max |Δ| next-token, max |Δ| top-5, worst position) of gptrec's positions vs `ref`."""
    if len(positions) != len(ids):
        sys.exit(f"compare_with_pytorch.py: gptrec returned {len(positions)} positions for "
                 f"{len(ids)} ids")
    next_delta, top_delta, worst = 0.0, 0.0, (-1.0, 0)
    for t, p in enumerate(positions):
        row = ref[t]
        if t + 1 < len(ids):
            d = abs(p["next_logprob"] - row[ids[t + 1]])
            next_delta = max(next_delta, d)
            worst = max(worst, (d, t))
        best = np.sort(row)[::-1][:TOP]
        if len(p["top"]) != len(best):
            sys.exit(f"compare_with_pytorch.py: position {t}: gptrec lists {len(p['top'])} top "
                     f"tokens, expected {len(best)}")
        for k, e in enumerate(p["top"]):
            # gptrec's k-th value against the reference's value for that token and against the
            # reference's k-th value: a wrong value or a wrong token shows in one of them.
            d = max(abs(e["logprob"] - row[e["token"]]), abs(e["logprob"] - best[k]))
            top_delta = max(top_delta, d)
            worst = max(worst, (d, t))
    return next_delta, top_delta, worst[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                 epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", metavar="MODEL_DIR")
    ap.add_argument("--ids", help="token ids, comma-separated (default: random, see --length)")
    ap.add_argument("--length", type=int, default=128, help="random sequence length (default 128)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random ids (default 0)")
    ap.add_argument("--gptrec", default=default_gptrec(),
                    help="the gptrec binary (default: build/gptrec, else gptrec on PATH)")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest allowed |Δ| (default 1e-4)")
    args = ap.parse_args()
    if not args.gptrec or not os.path.isfile(args.gptrec):
        ap.error("no gptrec binary found; build it or pass --gptrec PATH")

    with open(os.path.join(args.model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    vocab = config["vocab_size"]
    context = config.get("n_positions") or config.get("n_ctx") or config.get("context_length")
    if args.ids:
        try:
            ids = [int(s) for s in args.ids.split(",") if s.strip()]
        except ValueError:
            ap.error("--ids: expected comma-separated integers")
    else:
        if not 1 <= args.length <= context:
            ap.error(f"--length must be in [1, {context}]")
        ids = np.random.default_rng(args.seed).integers(0, vocab, size=args.length).tolist()
    if not ids or any(not 0 <= i < vocab for i in ids):
        ap.error(f"--ids: need ids in [0, {vocab})")

    start = time.perf_counter()
    positions = gptrec_logprobs(args.gptrec, args.model_dir, ids)
    gptrec_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ref = reference_logprobs(args.model_dir, config, ids)
    ref_seconds = time.perf_counter() - start
    next_delta, top_delta, worst = compare(ref, positions, ids)
    largest = max(next_delta, top_delta)
    ok = largest <= args.tolerance
    print(f"{args.model_dir}: {len(ids)} tokens, {config['n_layer']} layers, width "
          f"{config['n_embd']}, vocab {vocab} (gptrec {gptrec_seconds:.1f} s, PyTorch float64 "
          f"{ref_seconds:.1f} s)")
    print(f"max |Δ| next-token log-prob: {next_delta:.3e}")
    print(f"max |Δ| top-{TOP} log-probs:   {top_delta:.3e}")
    print(f"max |Δ| overall:             {largest:.3e} at position {worst} "
          f"({'within' if ok else 'ABOVE'} tolerance {args.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
