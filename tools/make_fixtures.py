#!/usr/bin/env python3
"""Builds the small model directories under tests/data/models and their expected logits.

The expected logits are computed by tools/gptrec_tools/reference.py — PyTorch's own ops
(F.layer_norm, F.gelu, F.softmax) in float64 — never by gptrec's engine.

    /usr/bin/python3 tools/make_fixtures.py                 # regenerates tests/data/models
    /usr/bin/python3 tools/make_fixtures.py --gpt2-shaped /tmp/gpt2-random
    /usr/bin/python3 tools/make_fixtures.py --text-demo /tmp/text-demo
        # a 13 MB model with GPT-2's tokenizer files and random weights, to try the text commands
        # a random 12-layer, 768-wide, 12-head model with GPT-2's vocabulary and context (~500 MB,
        # not committed), for tools/compare_with_pytorch.py

Fixture models (weights drawn with a fixed seed):
  tiny-learned      learned positions, gelu_new, tied head, "transformer." names (as
                    GPT2LMHeadModel.save_pretrained writes them), F32
  tiny-learned-f16  the same weights stored as F16; expected logits from the rounded weights
  tiny-sinusoidal   sinusoidal positions, exact-erf gelu, untied lm_head.weight, plain names, F32;
                    its expected.safetensors also holds a greedy (argmax) continuation of a prompt
  tiny-bf16         tiny-sinusoidal's weights stored as BF16; expected from the rounded weights

    /usr/bin/python3 tools/make_fixtures.py --tiny-items
        # tiny-items only (not part of the default run: it trains a model)

  tiny-items        an item model trained by tools/train.py for a few steps on 200 customers of
                    examples/online-retail-sample.jsonl (width 32, 2 layers, context 64, F32),
                    with items.json; history.json is a real customer (examples/customers/13113.json), and
                    expected.safetensors holds that customer's token ids (docs/FORMATS.md,
                    truncated to the context) and the logits of the trained PyTorch module itself
                    (a float64 copy, eval mode)
"""
import argparse
import shutil
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import reference, safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_gpt2(cfg, seed, std=0.15, prefix="", untied_head=False):
    """Random weights with Hugging Face GPT-2 names and the Conv1D layout (weight[in, out])."""
    rng = np.random.default_rng(seed)
    C, V, I = cfg["n_embd"], cfg["vocab_size"], cfg.get("n_inner") or 4 * cfg["n_embd"]

    def normal(*shape, scale=std):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    sd = {prefix + "wte.weight": normal(V, C, scale=0.5)}
    if cfg.get("position_encoding", "learned") == "learned":
        sd[prefix + "wpe.weight"] = normal(cfg["n_positions"], C, scale=0.3)
    for i in range(cfg["n_layer"]):
        p = f"{prefix}h.{i}."
        sd[p + "ln_1.weight"] = 1.0 + normal(C, scale=0.1)
        sd[p + "ln_1.bias"] = normal(C, scale=0.1)
        sd[p + "attn.c_attn.weight"] = normal(C, 3 * C)
        sd[p + "attn.c_attn.bias"] = normal(3 * C, scale=0.1)
        sd[p + "attn.c_proj.weight"] = normal(C, C)
        sd[p + "attn.c_proj.bias"] = normal(C, scale=0.1)
        sd[p + "ln_2.weight"] = 1.0 + normal(C, scale=0.1)
        sd[p + "ln_2.bias"] = normal(C, scale=0.1)
        sd[p + "mlp.c_fc.weight"] = normal(C, I)
        sd[p + "mlp.c_fc.bias"] = normal(I, scale=0.1)
        sd[p + "mlp.c_proj.weight"] = normal(I, C, scale=std / 2)
        sd[p + "mlp.c_proj.bias"] = normal(C, scale=0.1)
    sd[prefix + "ln_f.weight"] = 1.0 + normal(C, scale=0.1)
    sd[prefix + "ln_f.bias"] = normal(C, scale=0.1)
    if untied_head:
        sd["lm_head.weight"] = normal(V, C, scale=0.5)
    return sd


def write_model_dir(path, cfg, sd, dtype="F32"):
    """Writes config.json + model.safetensors; returns the weights as stored (rounded), float64."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    if dtype == "F16":
        stored = {k: v.astype(np.float16) for k, v in sd.items()}
        safetensors_io.save(os.path.join(path, "model.safetensors"), stored)
        as_read = {k: v.astype(np.float64) for k, v in stored.items()}
    elif dtype == "BF16":
        safetensors_io.save(os.path.join(path, "model.safetensors"), sd, bf16=set(sd))
        as_read, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    else:
        safetensors_io.save(os.path.join(path, "model.safetensors"), sd)
        as_read = sd
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in as_read.items()}


def greedy_continuation(sd, cfg, prompt, n_new, min_margin=1e-3):
    """Argmax decoding with the reference forward pass; checks that every step's best token wins
    by at least `min_margin` so that float32 rounding cannot flip the choice."""
    ids = list(prompt)
    for _ in range(n_new):
        last = reference.forward(sd, cfg, ids)[-1]
        top2 = torch.topk(last, 2).values
        assert float(top2[0] - top2[1]) > min_margin, "ambiguous argmax: pick another prompt"
        ids.append(int(torch.argmax(last)))
    return ids[len(prompt):]


def write_expected(path, ids, logits, extra=None):
    """expected.safetensors: "ids" (I64, T) and "logits" (F64, T x V) from the reference, plus
    optional extra I64 tensors."""
    tensors = {"ids": np.asarray(ids, dtype=np.int64), "logits": logits.numpy().astype(np.float64)}
    for name, values in (extra or {}).items():
        tensors[name] = np.asarray(values, dtype=np.int64)
    safetensors_io.save(os.path.join(path, "expected.safetensors"), tensors,
                        metadata={"generator": "tools/make_fixtures.py (PyTorch float64 reference)"})


def tiny_fixtures(out_dir):
    base = {"model_type": "gpt2", "vocab_size": 500, "n_positions": 64, "n_embd": 64,
            "n_layer": 2, "n_head": 4, "layer_norm_epsilon": 1e-5}
    rng = np.random.default_rng(1234)
    ids = rng.integers(0, base["vocab_size"], size=base["n_positions"]).tolist()

    learned = dict(base, activation_function="gelu_new", position_encoding="learned")
    sd = random_gpt2(learned, seed=1, prefix="transformer.")
    for name, dtype in (("tiny-learned", "F32"), ("tiny-learned-f16", "F16")):
        path = os.path.join(out_dir, name)
        stored = write_model_dir(path, learned, sd, dtype)
        write_expected(path, ids, reference.forward(stored, learned, ids))

    sinus = dict(base, activation_function="gelu", position_encoding="sinusoidal")
    sd = random_gpt2(sinus, seed=2, untied_head=True)
    for name, dtype in (("tiny-sinusoidal", "F32"), ("tiny-bf16", "BF16")):
        path = os.path.join(out_dir, name)
        stored = write_model_dir(path, sinus, sd, dtype)
        extra = None
        if name == "tiny-sinusoidal":
            # Greedy decoding: "greedy_prompt" continued by "greedy_ids" (argmax at every step).
            prompt = ids[:8]
            extra = {"greedy_prompt": prompt,
                     "greedy_ids": greedy_continuation(stored, sinus, prompt, 24)}
        write_expected(path, ids, reference.forward(stored, sinus, ids), extra)


def tiny_items_fixture(out_dir):
    """Trains the tiny item model and writes tests/data/models/tiny-items (see the docstring)."""
    import copy
    import train
    from gptrec_tools import baskets

    path = os.path.join(out_dir, "tiny-items")
    sample = os.path.join(ROOT, "examples", "online-retail-sample.jsonl")
    model = train.main(["--data", sample, "--out", path, "--max-customers", "200", "--min-count", "3",
                        "--n-embd", "32", "--n-layer", "2", "--n-head", "2", "--n-positions", "64",
                        "--epochs", "20", "--max-steps", "40", "--batch-tokens", "1024", "--no-valid",
                        "--lr", "3e-3", "--warmup-steps", "5",
                        "--dtype", "F32", "--threads", "1", "--seed", "3",
                        "--non-products", "online-retail"])
    os.remove(os.path.join(path, "README.md"))  # the docstring above says how it was made
    with open(os.path.join(path, "items.json")) as f:
        vocab = json.load(f)
    item_ids = {e["id"]: len(vocab["special_tokens"]) + j for j, e in enumerate(vocab["items"])}
    # A real customer whose history does not fit the context (the oldest baskets are dropped) and
    # has items the vocabulary lacks (skipped): examples/customers/13113.json.
    with open(os.path.join(ROOT, "examples", "customers", "13113.json")) as f:
        history = json.load(f)
    ids, dropped = baskets.build_sequence(baskets.baskets_of(history), item_ids, "baskets", 64)
    with open(os.path.join(path, "history.json"), "w") as f:
        json.dump(history, f, indent=0)
        f.write("\n")
    reference_module = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        logits = reference_module(torch.tensor([ids]))[0]
    write_expected(path, ids, logits)
    print(f"wrote {path}: {len(ids)} tokens, {dropped} oldest baskets dropped")


def gpt2_shaped(out_dir):
    cfg = {"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768,
           "n_layer": 12, "n_head": 12, "layer_norm_epsilon": 1e-5,
           "activation_function": "gelu_new", "position_encoding": "learned"}
    # GPT-2's initialisation scale for the matrices.
    sd = random_gpt2(cfg, seed=12, std=0.02)
    write_model_dir(out_dir, cfg, sd)
    print(f"wrote {out_dir}")


def text_demo(out_dir):
    """A small model with GPT-2's vocabulary and tokenizer files and random weights: it runs every
    text command (its text is noise), for trying them without downloading a model."""
    cfg = {"model_type": "gpt2", "vocab_size": 50257, "n_positions": 256, "n_embd": 64,
           "n_layer": 2, "n_head": 2, "layer_norm_epsilon": 1e-5,
           "activation_function": "gelu_new", "position_encoding": "learned"}
    sd = random_gpt2(cfg, seed=13, std=0.02, untied_head=True)
    write_model_dir(out_dir, cfg, sd)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(ROOT, "tests", "data", "gpt2", name), os.path.join(out_dir, name))
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("# text-demo\n\nRandom weights (tools/make_fixtures.py --text-demo) with GPT-2's "
                "tokenizer files: every text command runs on it, and what it writes is noise.\n")
    print(f"wrote {out_dir} (random weights: its text is noise)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "models"))
    ap.add_argument("--gpt2-shaped", metavar="DIR", help="write only the GPT-2-shaped random model")
    ap.add_argument("--tiny-items", action="store_true", help="write only tiny-items (trains a small item model)")
    ap.add_argument("--text-demo", metavar="DIR",
                    help="write only a small random model with GPT-2's tokenizer (to try the text commands)")
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.gpt2_shaped:
        gpt2_shaped(args.gpt2_shaped)
    elif args.text_demo:
        text_demo(args.text_demo)
    elif args.tiny_items:
        tiny_items_fixture(args.out)
    else:
        tiny_fixtures(args.out)
        print(f"wrote fixtures under {args.out}")


if __name__ == "__main__":
    main()
