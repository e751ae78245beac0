"""PyTorch side of bench/run_speed_bench.sh: the same GPT-2 forward pass as gptrec, in torch ops.

    speed_torch.py MODEL_DIR --task prefill128|prefill512|decode|score|gemm --threads N
                   [--runs 5] [--warmup 1]

Prints one JSON line: {"side": "pytorch", "task", "threads", "rates": [...], "peak_rss_mb", ...}.

PyTorch at its best: inference mode, torch.set_num_threads(N), weights as contiguous float32
tensors in nn.Linear's (out, in) layout (F.linear calls BLAS gemm without a copy; a single row
goes to gemv through addmv, see `linear`), a KV cache preallocated once and written in place. The BLAS is whatever
libblas.so.3 the loader finds (run_speed_bench.sh points it at OpenBLAS); the script reports it.

Tasks (the same as gptrec_bench_speed's, same token ids):
  prefill128, prefill512   one forward pass over a T-token prompt, logits of the last token;
                           rate = T / seconds
  decode                   a 32-token prompt, then 128 tokens one at a time (greedy) with the KV
                           cache; rate = 128 / seconds of the 128 steps
  score                    64 sequences x 64 tokens in batches of --score-batch sequences (default
                           8: 512 tokens, as gptrec's passes; one batch of 64 ran at 0.71x the
                           speed and 3.3x the peak RSS), log-probability of every next token
                           (full logits of the batch, log-softmax); rate = 4096 / seconds
  gemm                     fp32 GEMM GFLOP/s of torch.matmul at 512x768x2304 and 1024^3
"""
import argparse
import json
import math
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path, transpose=lambda name: False):
    """{name without "transformer.": tensor}; each tensor read into its own buffer (no mapping
    left behind to count in the peak RSS), the ones `transpose` names transposed."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            assert e["dtype"] == "F32", f"{name}: only F32 models ({e['dtype']})"
            b, end = e["data_offsets"]
            f.seek(8 + n + b)
            a = np.empty(e["shape"], dtype=np.float32)
            f.readinto(memoryview(a).cast("B"))
            name = name.removeprefix("transformer.")
            out[name] = torch.from_numpy(np.ascontiguousarray(a.T) if transpose(name) else a)
    return out


def linear(x, w, b=None):
    """x (..., in) @ w (out, in)^T + b. One row (decode) goes to BLAS gemv (addmv/mv): OpenBLAS's
    gemm with one row reads the weights 4-5x slower than its gemv."""
    if x.numel() == x.shape[-1]:
        v = x.reshape(-1)
        y = torch.addmv(b, w, v) if b is not None else torch.mv(w, v)
        return y.view(*x.shape[:-1], w.shape[0])
    return F.linear(x, w, b)


class Gpt2:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        # Conv1D (in, out) -> nn.Linear's (out, in), so that F.linear calls BLAS directly.
        sd = load_safetensors(os.path.join(model_dir, "model.safetensors"),
                              lambda n: n.startswith("h.") and n.endswith("weight") and
                              ("attn." in n or "mlp." in n))
        self.C = cfg["n_embd"]
        self.H = cfg["n_head"]
        self.L = cfg["n_layer"]
        self.ctx = cfg.get("n_positions", 1024)
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        assert cfg.get("activation_function", "gelu_new") == "gelu_new"
        self.wte = sd["wte.weight"]
        self.wpe = sd["wpe.weight"]
        self.head = sd.get("lm_head.weight", self.wte)
        self.blocks = []
        for i in range(self.L):
            p = f"h.{i}."
            t = lambda n: sd[p + n]
            self.blocks.append(dict(
                ln1w=sd[p + "ln_1.weight"], ln1b=sd[p + "ln_1.bias"],
                qkvw=t("attn.c_attn.weight"), qkvb=sd[p + "attn.c_attn.bias"],
                projw=t("attn.c_proj.weight"), projb=sd[p + "attn.c_proj.bias"],
                ln2w=sd[p + "ln_2.weight"], ln2b=sd[p + "ln_2.bias"],
                fcw=t("mlp.c_fc.weight"), fcb=sd[p + "mlp.c_fc.bias"],
                fc2w=t("mlp.c_proj.weight"), fc2b=sd[p + "mlp.c_proj.bias"]))
        self.lnf = (sd["ln_f.weight"], sd["ln_f.bias"])

    def new_cache(self, batch, capacity):
        hd = self.C // self.H
        k = torch.empty(self.L, batch, self.H, capacity, hd)
        v = torch.empty(self.L, batch, self.H, capacity, hd)
        return [k, v, 0]

    def forward(self, ids, cache, sd_lnf, last_only):
        """ids (B, T) int64; cache from new_cache; returns logits (B, T or 1, V)."""
        B, T = ids.shape
        C, H = self.C, self.H
        hd = C // H
        past = cache[2]
        x = self.wte[ids] + self.wpe[past:past + T]
        scale = 1.0 / math.sqrt(hd)
        mask = None
        if T > 1:
            mask = torch.full((T, past + T), float("-inf")).triu_(past + 1)
        for l, b in enumerate(self.blocks):
            h = F.layer_norm(x, (C,), b["ln1w"], b["ln1b"], self.eps)
            qkv = linear(h, b["qkvw"], b["qkvb"])
            q, k, v = qkv.view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
            cache[0][l, :, :, past:past + T] = k
            cache[1][l, :, :, past:past + T] = v
            keys = cache[0][l, :, :, :past + T]
            values = cache[1][l, :, :, :past + T]
            att = torch.matmul(q, keys.transpose(-1, -2)).mul_(scale)
            if mask is not None:
                att.add_(mask)
            att = torch.softmax(att, dim=-1)
            y = torch.matmul(att, values).transpose(1, 2).reshape(B, T, C)
            x = x + linear(y, b["projw"], b["projb"])
            h = F.layer_norm(x, (C,), b["ln2w"], b["ln2b"], self.eps)
            h = F.gelu(linear(h, b["fcw"], b["fcb"]), approximate="tanh")
            x = x + linear(h, b["fc2w"], b["fc2b"])
        cache[2] = past + T
        if last_only:
            x = x[:, -1:]
        x = F.layer_norm(x, (C,), sd_lnf[0], sd_lnf[1], self.eps)
        return linear(x, self.head)


def token_ids(n, seed, vocab):
    # The same ids as gptrec_bench_speed: a linear congruential sequence.
    out, s = [], seed
    for _ in range(n):
        s = (s * 1103515245 + 12345) % 2147483648
        out.append(s % vocab)
    return out


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--task", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--score-batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower()})
    result = {"side": "pytorch", "task": args.task, "threads": args.threads,
              "torch": torch.__version__, "blas": blas}

    if args.task == "gemm":
        rates = {}
        for (m, k, n) in ((512, 768, 2304), (1024, 1024, 1024)):
            a, b = torch.randn(m, k), torch.randn(k, n)
            c = torch.empty(m, n)
            for _ in range(3):
                torch.matmul(a, b, out=c)
            best = math.inf
            for _ in range(args.runs):
                t0 = time.perf_counter()
                for _ in range(10):
                    torch.matmul(a, b, out=c)
                best = min(best, (time.perf_counter() - t0) / 10)
            rates[f"{m}x{k}x{n}"] = 2.0 * m * k * n / best / 1e9
        result["gflops"] = rates
        print(json.dumps(result))
        return

    with torch.inference_mode():
        model = Gpt2(args.model_dir)
        lnf = model.lnf
        V = model.wte.shape[0]

        if args.task.startswith("prefill"):
            T = int(args.task.removeprefix("prefill"))
            ids = torch.tensor([token_ids(T, 1, V)])
            cache = model.new_cache(1, T)

            def run():
                cache[2] = 0
                t0 = time.perf_counter()
                model.forward(ids, cache, lnf, True)
                return T / (time.perf_counter() - t0)
        elif args.task == "decode":
            prompt = torch.tensor([token_ids(32, 2, V)])
            cache = model.new_cache(1, 32 + 128)

            def run():
                cache[2] = 0
                logits = model.forward(prompt, cache, lnf, True)
                t0 = time.perf_counter()
                for _ in range(128):
                    nxt = logits[0, -1].argmax().view(1, 1)
                    logits = model.forward(nxt, cache, lnf, True)
                return 128 / (time.perf_counter() - t0)
        elif args.task == "score":
            ids = torch.tensor(token_ids(64 * 64, 3, V)).view(64, 64)
            batch = args.score_batch
            if batch < 1 or 64 % batch:
                sys.exit("--score-batch must divide 64")
            cache = model.new_cache(batch, 64)

            def run():
                t0 = time.perf_counter()
                total = 0.0
                for b0 in range(0, 64, batch):
                    part = ids[b0:b0 + batch]
                    cache[2] = 0
                    logits = model.forward(part, cache, lnf, False)
                    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, part[:, 1:, None])
                    total += float(lp.sum())
                    del logits, lp
                assert math.isfinite(total)
                return 64 * 64 / (time.perf_counter() - t0)
        else:
            sys.exit(f"unknown task {args.task}")

        for _ in range(args.warmup):
            run()
        rates = [run() for _ in range(args.runs)]
    result.update(rates=rates, median=statistics.median(rates), min=min(rates), max=max(rates),
                  peak_rss_mb=peak_rss_mb())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
