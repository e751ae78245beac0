#!/usr/bin/env python3
"""Tests of tools/convert.py, run by CTest: test_convert.py --gptrec PATH [unittest args].

Each test builds a small checkpoint itself (Hugging Face GPT-2 folders, nanoGPT ckpt.pt files),
converts it, and checks gptrec's log-probabilities on the converted directory against log-probs
computed from the *source* checkpoint by the forward pass below. That forward reads each source
in its own terms: Hugging Face Conv1D weights as x @ W, nanoGPT nn.Linear weights as x @ W.T,
GELU as the source defines it (GPT-2's tanh form from config.json, nanoGPT's exact nn.GELU()).
It shares no code with the converter or with tools/gptrec_tools/reference.py, so a missing
transpose or the wrong GELU in the converter fails here.

Exits 77 (CTest's SKIP_RETURN_CODE) when PyTorch is not installed.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("skipped: PyTorch is not installed (Debian: apt-get install python3-torch)")
    sys.exit(77)
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from gptrec_tools import safetensors_io  # noqa: E402

CONVERT = os.path.join(ROOT, "tools", "convert.py")
GPTREC = None  # set from --gptrec

CFG = {"vocab_size": 300, "n_positions": 32, "n_embd": 64, "n_layer": 2, "n_head": 4}
TOLERANCE_F32 = 1e-4
# F16 weights against the float32 source: 1e-3 of the logit scale. Log-probs do not change when
# all logits shift, so the scale is their spread (largest minus smallest logit in the sequence).
TOLERANCE_F16_RELATIVE = 1e-3


# ---------------------------------------------------------------------------------------------
# Source checkpoints


def normal(gen, *shape, scale):
    return torch.randn(*shape, generator=gen, dtype=torch.float32) * scale


def hf_state_dict(seed, prefix="transformer.", n_inner=None, head="tied", mask_buffers=True):
    """GPT-2 weights with Hugging Face names; Conv1D weights are [in, out]."""
    g = torch.Generator().manual_seed(seed)
    C, V, N = CFG["n_embd"], CFG["vocab_size"], CFG["n_positions"]
    I = n_inner or 4 * C
    sd = {prefix + "wte.weight": normal(g, V, C, scale=0.5),
          prefix + "wpe.weight": normal(g, N, C, scale=0.3)}
    for i in range(CFG["n_layer"]):
        p = f"{prefix}h.{i}."
        sd[p + "ln_1.weight"] = 1 + normal(g, C, scale=0.1)
        sd[p + "ln_1.bias"] = normal(g, C, scale=0.1)
        if mask_buffers:  # what older transformers versions saved
            sd[p + "attn.bias"] = torch.tril(torch.ones(N, N, dtype=torch.uint8)).view(1, 1, N, N)
            sd[p + "attn.masked_bias"] = torch.tensor(-1e4)
        sd[p + "attn.c_attn.weight"] = normal(g, C, 3 * C, scale=0.15)
        sd[p + "attn.c_attn.bias"] = normal(g, 3 * C, scale=0.1)
        sd[p + "attn.c_proj.weight"] = normal(g, C, C, scale=0.15)
        sd[p + "attn.c_proj.bias"] = normal(g, C, scale=0.1)
        sd[p + "ln_2.weight"] = 1 + normal(g, C, scale=0.1)
        sd[p + "ln_2.bias"] = normal(g, C, scale=0.1)
        sd[p + "mlp.c_fc.weight"] = normal(g, C, I, scale=0.15)
        sd[p + "mlp.c_fc.bias"] = normal(g, I, scale=0.1)
        sd[p + "mlp.c_proj.weight"] = normal(g, I, C, scale=0.075)
        sd[p + "mlp.c_proj.bias"] = normal(g, C, scale=0.1)
    sd[prefix + "ln_f.weight"] = 1 + normal(g, C, scale=0.1)
    sd[prefix + "ln_f.bias"] = normal(g, C, scale=0.1)
    if head == "tied":
        sd["lm_head.weight"] = sd[prefix + "wte.weight"]
    elif head == "own":
        sd["lm_head.weight"] = normal(g, V, C, scale=0.5)
    return sd


def hf_config(activation="gelu_new", n_inner=None, tied=True):
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], **CFG,
            "n_ctx": CFG["n_positions"], "n_inner": n_inner, "activation_function": activation,
            "layer_norm_epsilon": 1e-5, "tie_word_embeddings": tied, "bos_token_id": 0}


def write_hf_folder(folder, sd, config, weights="pytorch_model.bin"):
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    if weights.endswith(".safetensors"):
        safetensors_io.save(os.path.join(folder, weights), {k: v.numpy() for k, v in sd.items()},
                            metadata={"format": "pt"})
    else:
        torch.save(sd, os.path.join(folder, weights))


def nanogpt_checkpoint(seed, bias, compiled, mask_buffers=True):
    """A nanoGPT training checkpoint: nn.Linear weights are [out, in], lm_head tied to wte."""
    g = torch.Generator().manual_seed(seed)
    C, V, N = CFG["n_embd"], CFG["vocab_size"], CFG["n_positions"]
    sd = {"transformer.wte.weight": normal(g, V, C, scale=0.5),
          "transformer.wpe.weight": normal(g, N, C, scale=0.3)}

    def linear(name, n_out, n_in, scale):
        sd[name + ".weight"] = normal(g, n_out, n_in, scale=scale)
        if bias:
            sd[name + ".bias"] = normal(g, n_out, scale=0.1)

    def layer_norm(name):
        sd[name + ".weight"] = 1 + normal(g, C, scale=0.1)
        if bias:
            sd[name + ".bias"] = normal(g, C, scale=0.1)

    for i in range(CFG["n_layer"]):
        p = f"transformer.h.{i}."
        layer_norm(p + "ln_1")
        linear(p + "attn.c_attn", 3 * C, C, 0.15)
        linear(p + "attn.c_proj", C, C, 0.15)
        if mask_buffers:  # nanoGPT registers the causal mask as "bias" without flash attention
            sd[p + "attn.bias"] = torch.tril(torch.ones(N, N)).view(1, 1, N, N)
        layer_norm(p + "ln_2")
        linear(p + "mlp.c_fc", 4 * C, C, 0.15)
        linear(p + "mlp.c_proj", C, 4 * C, 0.075)
    layer_norm("transformer.ln_f")
    sd["lm_head.weight"] = sd["transformer.wte.weight"]
    if compiled:
        sd = {"_orig_mod." + k: v for k, v in sd.items()}
    model_args = {"n_layer": CFG["n_layer"], "n_head": CFG["n_head"], "n_embd": C,
                  "block_size": N, "bias": bias, "vocab_size": V, "dropout": 0.0}
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([param], lr=1e-3)
    param.grad = torch.ones(3)
    optimizer.step()
    return {"model": sd, "optimizer": optimizer.state_dict(), "model_args": model_args,
            "iter_num": 5000, "best_val_loss": torch.tensor(1.2345),
            "config": {"dataset": "shakespeare_char", "compile": compiled, "learning_rate": 1e-3}}


# ---------------------------------------------------------------------------------------------
# The source checkpoints' own forward pass (float64)


def source_logits(sd, layout, ids, activation=None):
    """Logits (T, V) of a source checkpoint, read the way its own code reads it."""
    def name(n):
        for p in ("_orig_mod.", "transformer."):
            n = n[len(p):] if n.startswith(p) else n
        return n

    w = {name(k): v.to(torch.float64) for k, v in sd.items()}
    if layout == "hf":
        def linear(x, n):  # Conv1D: weight [in, out]
            return x @ w[n + ".weight"] + w[n + ".bias"]

        def gelu(x):
            return F.gelu(x, approximate="none" if activation == "gelu" else "tanh")
    else:
        def linear(x, n):  # nn.Linear: weight [out, in]
            return F.linear(x, w[n + ".weight"], w.get(n + ".bias"))

        def gelu(x):  # nanoGPT's nn.GELU(): the exact erf form
            return F.gelu(x)

    def layer_norm(x, n):
        return F.layer_norm(x, (x.shape[-1],), w[n + ".weight"], w.get(n + ".bias"), 1e-5)

    C, nh = CFG["n_embd"], CFG["n_head"]
    T = len(ids)
    ids = torch.tensor(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    for i in range(CFG["n_layer"]):
        p = f"h.{i}."
        q, k, v = linear(layer_norm(x, p + "ln_1"), p + "attn.c_attn").split(C, dim=-1)
        q, k, v = (t.view(T, nh, C // nh).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // nh)
        att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(0, 1).reshape(T, C)
        x = x + linear(y, p + "attn.c_proj")
        x = x + linear(gelu(linear(layer_norm(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    x = layer_norm(x, "ln_f")
    return x @ w.get("lm_head.weight", w["wte.weight"]).T


def rounded_to_f16(sd):
    return {k: v.half().float() if v.is_floating_point() else v for k, v in sd.items()}


# ---------------------------------------------------------------------------------------------
# Running the tools


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def convert(*args):
    return run([sys.executable, CONVERT, *map(str, args)])


def gptrec_logprobs(model_dir, ids):
    r = run([GPTREC, "logprobs", model_dir, "--ids", ",".join(map(str, ids)), "--format", "json",
             "--top", "5"])
    if r.returncode != 0:
        raise AssertionError(f"gptrec logprobs failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)["positions"]


def max_logprob_delta(positions, logits, ids):
    """Largest |Δ| over next-token log-probs and top-5 log-probs (value per listed token and
    k-th best value)."""
    lp = torch.log_softmax(logits, dim=-1).numpy()
    worst = 0.0
    for t, p in enumerate(positions):
        if t + 1 < len(ids):
            worst = max(worst, abs(p["next_logprob"] - lp[t, ids[t + 1]]))
        best = np.sort(lp[t])[::-1]
        for k, e in enumerate(p["top"]):
            worst = max(worst, abs(e["logprob"] - lp[t, e["token"]]), abs(e["logprob"] - best[k]))
    return worst


class ConvertTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="gptrec-convert-test-")
        self.tmp = self._tmp.name
        rng = np.random.default_rng(7)
        self.ids = rng.integers(0, CFG["vocab_size"], CFG["n_positions"]).tolist()

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def convert_ok(self, src, out, *options):
        r = convert(src, out, *options)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, "model.safetensors")))
        return r

    def output(self, out):
        with open(os.path.join(out, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(out, "model.safetensors"), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        return config, header

    def assert_matches_source(self, sd, layout, activation=None, check_f16=True):
        """Compares gptrec on out-f32 (and out-f16) with the source checkpoint's forward."""
        expected = source_logits(sd, layout, self.ids, activation)
        got = max_logprob_delta(gptrec_logprobs(self.path("out-f32"), self.ids), expected, self.ids)
        self.assertLessEqual(got, TOLERANCE_F32, "F32 conversion vs the source checkpoint")
        if not check_f16:
            return
        positions = gptrec_logprobs(self.path("out-f16"), self.ids)
        scale = float(expected.max() - expected.min())
        got = max_logprob_delta(positions, expected, self.ids)
        self.assertLessEqual(got, TOLERANCE_F16_RELATIVE * scale,
                             f"F16 conversion vs the source checkpoint (logit scale {scale:.1f})")
        # Against the source's own weights rounded to F16, F16 storage is exact: F32 tolerance.
        rounded = source_logits(rounded_to_f16(sd), layout, self.ids, activation)
        got = max_logprob_delta(positions, rounded, self.ids)
        self.assertLessEqual(got, TOLERANCE_F32, "F16 conversion vs the F16-rounded source")

    def convert_both(self, src, *options):
        self.convert_ok(src, self.path("out-f32"), *options)
        self.convert_ok(src, self.path("out-f16"), "--dtype", "f16", *options)
        _, header = self.output(self.path("out-f16"))
        self.assertEqual({e["dtype"] for e in header.values()}, {"F16"})


class HuggingFace(ConvertTestCase):
    def test_pytorch_model_bin_with_lm_head_names_and_mask_buffers(self):
        sd = hf_state_dict(seed=1)
        write_hf_folder(self.path("hf"), sd, hf_config())
        self.convert_both(self.path("hf"))
        config, header = self.output(self.path("out-f32"))
        self.assertEqual(config["activation_function"], "gelu_new")
        self.assertTrue(config["tie_word_embeddings"])
        self.assertEqual(config["bos_token_id"], 0)  # Hugging Face keys are kept
        self.assertNotIn("lm_head.weight", header)  # equal to wte: the head stays tied
        self.assertFalse([n for n in header if n.endswith((".attn.bias", ".attn.masked_bias"))])
        self.assertIn("h.1.attn.c_attn.weight", header)
        self.assertEqual(header["h.1.attn.c_attn.weight"]["shape"], [64, 192])
        self.assert_matches_source(sd, "hf", "gelu_new")

    def test_safetensors_with_model_names_and_own_mlp_width(self):
        sd = hf_state_dict(seed=2, prefix="", n_inner=96, head=None, mask_buffers=False)
        write_hf_folder(self.path("hf"), sd, hf_config("gelu_pytorch_tanh", n_inner=96),
                        weights="model.safetensors")
        # The weights file named directly works as well as its folder.
        self.convert_both(self.path("hf", "model.safetensors"))
        config, _ = self.output(self.path("out-f16"))
        self.assertEqual(config["n_inner"], 96)
        self.assertEqual(config["torch_dtype"], "float16")
        self.assert_matches_source(sd, "hf", "gelu_pytorch_tanh")

    def test_own_lm_head_is_kept(self):
        sd = hf_state_dict(seed=3, head="own")
        write_hf_folder(self.path("hf"), sd, hf_config("gelu", tied=False))
        self.convert_ok(self.path("hf"), self.path("out-f32"))
        config, header = self.output(self.path("out-f32"))
        self.assertIn("lm_head.weight", header)
        self.assertFalse(config["tie_word_embeddings"])
        self.assertEqual(config["activation_function"], "gelu")
        self.assert_matches_source(sd, "hf", "gelu", check_f16=False)

    def test_sharded_safetensors(self):
        sd = hf_state_dict(seed=8, head=None, mask_buffers=False)
        write_hf_folder(self.path("hf"), {}, hf_config())
        names = list(sd)
        shards = {"model-00001-of-00002.safetensors": names[:len(names) // 2],
                  "model-00002-of-00002.safetensors": names[len(names) // 2:]}
        for shard, keys in shards.items():
            safetensors_io.save(self.path("hf", shard), {k: sd[k].numpy() for k in keys})
        os.remove(self.path("hf", "pytorch_model.bin"))
        with open(self.path("hf", "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}, f)
        self.convert_ok(self.path("hf"), self.path("out-f32"))
        self.assert_matches_source(sd, "hf", "gelu_new", check_f16=False)

    def test_tokenizer_files_are_copied(self):
        write_hf_folder(self.path("hf"), hf_state_dict(seed=4), hf_config())
        files = {"vocab.json": '{"a": 0}', "merges.txt": "#version: 0.2\n", "tokenizer.json": "{}"}
        for name, text in files.items():
            with open(self.path("hf", name), "w") as f:
                f.write(text)
        self.convert_ok(self.path("hf"), self.path("out"))
        for name, text in files.items():
            with open(self.path("out", name)) as f:
                self.assertEqual(f.read(), text, name)


class NanoGPT(ConvertTestCase):
    def test_compiled_checkpoint_without_biases(self):
        ckpt = nanogpt_checkpoint(seed=5, bias=False, compiled=True)
        torch.save(ckpt, self.path("ckpt.pt"))
        self.convert_both(self.path("ckpt.pt"))
        config, header = self.output(self.path("out-f32"))
        self.assertEqual(config["activation_function"], "gelu")
        self.assertEqual(config["n_positions"], CFG["n_positions"])
        self.assertNotIn("lm_head.weight", header)
        self.assertFalse([n for n in header if "_orig_mod" in n or n.startswith("transformer.")])
        weights, _ = safetensors_io.load(self.path("out-f32", "model.safetensors"))
        self.assertFalse(weights["h.0.mlp.c_fc.bias"].any())  # zeros stand for "no bias"
        self.assertEqual(list(weights["h.0.mlp.c_fc.weight"].shape), [64, 256])
        self.assert_matches_source(ckpt["model"], "nanogpt")

    def test_checkpoint_with_biases_in_its_out_dir(self):
        ckpt = nanogpt_checkpoint(seed=6, bias=True, compiled=False, mask_buffers=False)
        os.makedirs(self.path("out-shakespeare"))
        torch.save(ckpt, self.path("out-shakespeare", "ckpt.pt"))
        os.makedirs(self.path("tok"))
        with open(self.path("tok", "vocab.json"), "w") as f:
            f.write('{"x": 0}')
        self.convert_both(self.path("out-shakespeare"), "--tokenizer-from", self.path("tok"))
        with open(self.path("out-f32", "vocab.json")) as f:
            self.assertEqual(f.read(), '{"x": 0}')
        self.assertFalse(os.path.exists(self.path("out-f32", "merges.txt")))
        self.assert_matches_source(ckpt["model"], "nanogpt")


class Errors(ConvertTestCase):
    def assert_fails(self, src, needle, code=4, out="out", options=()):
        before = sorted(os.listdir(self.tmp))
        r = convert(src, self.path(out), *options)
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("convert.py: error: "), r.stderr)
        self.assertIn(needle, r.stderr)
        self.assertEqual(sorted(os.listdir(self.tmp)), before, "left files behind")

    def test_garbage_file(self):
        with open(self.path("ckpt.pt"), "wb") as f:
            f.write(b"this is not a checkpoint\n" * 40)
        self.assert_fails(self.path("ckpt.pt"), "not a readable PyTorch checkpoint")

    def test_garbage_safetensors(self):
        write_hf_folder(self.path("hf"), {}, hf_config(), weights="model.safetensors")
        with open(self.path("hf", "model.safetensors"), "wb") as f:
            f.write(b"\xff" * 64)
        self.assert_fails(self.path("hf"), "not a valid safetensors file")

    def test_missing_tensor(self):
        sd = hf_state_dict(seed=1)
        del sd["transformer.h.1.mlp.c_fc.weight"]
        write_hf_folder(self.path("hf"), sd, hf_config())
        self.assert_fails(self.path("hf"), "missing tensor 'transformer.h.1.mlp.c_fc.weight'")

    def test_missing_bias_of_a_bias_true_checkpoint(self):
        ckpt = nanogpt_checkpoint(seed=5, bias=True, compiled=True)
        del ckpt["model"]["_orig_mod.transformer.h.0.attn.c_proj.bias"]
        torch.save(ckpt, self.path("ckpt.pt"))
        self.assert_fails(self.path("ckpt.pt"),
                          "missing tensor '_orig_mod.transformer.h.0.attn.c_proj.bias'")

    def test_shape_mismatch(self):
        # An [in, out] weight in a nanoGPT checkpoint: someone transposed it already.
        ckpt = nanogpt_checkpoint(seed=5, bias=False, compiled=False)
        w = "transformer.h.0.mlp.c_fc.weight"
        ckpt["model"][w] = ckpt["model"][w].t().contiguous()
        torch.save(ckpt, self.path("ckpt.pt"))
        self.assert_fails(self.path("ckpt.pt"), f"'{w}' has shape [64, 256], expected [256, 64]")

    def test_config_disagrees_with_weights(self):
        config = hf_config()
        config["n_embd"] = 32
        config["n_head"] = 2
        write_hf_folder(self.path("hf"), hf_state_dict(seed=1), config)
        self.assert_fails(self.path("hf"), "'transformer.wte.weight' has shape [300, 64], "
                                           "expected [300, 32]")

    def test_foreign_tensor(self):
        sd = hf_state_dict(seed=1)
        sd["multiple_choice_head.summary.weight"] = torch.zeros(1, 64)
        write_hf_folder(self.path("hf"), sd, hf_config())
        self.assert_fails(self.path("hf"),
                          "unexpected tensor 'multiple_choice_head.summary.weight'")

    def test_unknown_layout(self):
        torch.save({"state": {"w": torch.zeros(2)}}, self.path("weights.pt"))
        self.assert_fails(self.path("weights.pt"), "unknown layout")
        os.makedirs(self.path("empty"))
        self.assert_fails(self.path("empty"), "unknown layout")

    def test_unsupported_activation(self):
        write_hf_folder(self.path("hf"), hf_state_dict(seed=1), hf_config("relu"))
        self.assert_fails(self.path("hf"), "\"activation_function\": 'relu' is not supported")

    def test_f16_overflow(self):
        sd = hf_state_dict(seed=1)
        sd["transformer.ln_f.bias"][3] = 1e6
        write_hf_folder(self.path("hf"), sd, hf_config())
        self.assert_fails(self.path("hf"), "beyond F16's range", options=("--dtype", "f16"))

    def test_missing_source(self):
        self.assert_fails(self.path("nowhere", "ckpt.pt"), "no such file", code=5)

    def test_existing_output_needs_force(self):
        write_hf_folder(self.path("hf"), hf_state_dict(seed=1), hf_config())
        os.makedirs(self.path("out"))
        with open(self.path("out", "keep.txt"), "w") as f:
            f.write("old")
        self.assert_fails(self.path("hf"), "exists (use --force", code=5)
        self.assertTrue(os.path.isfile(self.path("out", "keep.txt")))
        self.convert_ok(self.path("hf"), self.path("out"), "--force")
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["config.json", "model.safetensors"])
        self.assertEqual(sorted(os.listdir(self.tmp)), ["hf", "out"])

    def test_help(self):
        r = run([sys.executable, CONVERT, "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("nanoGPT", r.stdout)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--gptrec", required=True, help="the gptrec binary")
    args, rest = ap.parse_known_args()
    GPTREC = os.path.abspath(args.gptrec)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
