#!/usr/bin/env python3
"""Converts a GPT-2-family checkpoint into a gptrec model directory (docs/FORMATS.md).

    /usr/bin/python3 tools/convert.py SRC OUT_DIR [--dtype f32|f16] [--tokenizer-from DIR] [--force]

SRC is one of:
  - a Hugging Face GPT-2 folder: config.json + model.safetensors or pytorch_model.bin (or their
    sharded *.index.json forms); GPT2LMHeadModel ("transformer." names) or GPT2Model names;
  - a nanoGPT checkpoint: ckpt.pt (a dict with "model_args" and "model"), or the folder holding it.

OUT_DIR receives config.json, model.safetensors (Hugging Face GPT-2 names, Conv1D layout
[in, out]) and the tokenizer files (vocab.json, merges.txt, tokenizer.json) found beside SRC or in
--tokenizer-from DIR. It is written to a temporary folder next to it and renamed into place, so a
failed conversion leaves nothing behind; an existing OUT_DIR is replaced only with --force.

PyTorch files are pickles: convert only checkpoints from sources you trust.

Exit status: 0 success, 2 bad command line, 4 bad checkpoint, 5 a file could not be read or
written. Errors are one line on stderr.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import safetensors_io  # noqa: E402

TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer.json")
HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                   "pytorch_model.bin", "pytorch_model.bin.index.json")
# Hugging Face GPT-2 activation names gptrec computes (docs/FORMATS.md).
SUPPORTED_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu")

# nanoGPT's Linear layers store weight[out, in] (x @ W.T); gptrec and Hugging Face's Conv1D store
# weight[in, out] (x @ W). These are nanoGPT's Linear weights, so they, and only they, are
# transposed. c_proj is square for attention: a missing transpose would not show in any shape.
NANOGPT_TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                      "mlp.c_proj.weight")

EXIT_BAD_CHECKPOINT = 4
EXIT_IO = 5


class ConvertError(Exception):
    def __init__(self, message, code=EXIT_BAD_CHECKPOINT):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------
# Reading checkpoints


def torch_load(path):
    import torch  # imported here so that --help works without torch

    try:
        return torch.load(path, map_location="cpu")
    except FileNotFoundError:
        raise ConvertError(f"{path}: no such file", EXIT_IO) from None
    except (OSError, MemoryError) as e:
        raise ConvertError(f"{path}: cannot read ({e})", EXIT_IO) from None
    except Exception as e:  # noqa: BLE001  (pickle, zip and EOF errors all mean "not a checkpoint")
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint ({reason[:200]})") from None


def load_safetensors(path):
    try:
        tensors, _ = safetensors_io.load(path)
    except OSError as e:
        raise ConvertError(f"{path}: cannot read ({e.strerror or e})", EXIT_IO) from None
    except Exception as e:  # noqa: BLE001  (struct, JSON, key and shape errors of a bad file)
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConvertError(f"{path}: not a valid safetensors file ({reason[:200]})") from None
    return tensors


def to_float32(name, value, source):
    """A tensor or array as a float32 numpy array."""
    if hasattr(value, "detach"):  # torch.Tensor (BF16 has no numpy form, hence the cast first)
        import torch

        if not value.is_floating_point():
            raise ConvertError(f"{source}: tensor '{name}' has dtype {value.dtype}, "
                               "expected floats")
        return value.detach().to(dtype=torch.float32).contiguous().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise ConvertError(f"{source}: tensor '{name}' has dtype {arr.dtype}, expected floats")
    return arr.astype(np.float32, copy=False)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ConvertError(f"{path}: cannot read ({e.strerror or e})", EXIT_IO) from None
    except ValueError as e:
        raise ConvertError(f"{path}: not valid JSON ({e})") from None


def load_hf_weights(folder, weights_file=None):
    """{name: tensor} from a Hugging Face folder's weights (one file or an index of shards)."""
    if weights_file is None:
        found = [f for f in HF_WEIGHT_FILES if os.path.isfile(os.path.join(folder, f))]
        if not found:
            raise ConvertError(f"{folder}: config.json but no weights (expected one of "
                               f"{', '.join(HF_WEIGHT_FILES)})")
        weights_file = found[0]  # safetensors first: no pickle to run
    path = os.path.join(folder, weights_file)
    if weights_file.endswith(".index.json"):
        index = read_json(path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise ConvertError(f"{path}: no \"weight_map\"")
        shards = []
        for shard in weight_map.values():
            if shard not in shards:
                shards.append(shard)
        sd = {}
        for shard in shards:
            sd.update(load_single(os.path.join(folder, shard)))
        return sd, path
    return load_single(path), path


def load_single(path):
    if path.endswith(".safetensors"):
        return load_safetensors(path)
    sd = torch_load(path)
    if not isinstance(sd, dict):
        raise ConvertError(f"{path}: expected a state dict, found a {type(sd).__name__}")
    return sd


# ---------------------------------------------------------------------------------------------
# Layouts: each returns (config.json's dict, {canonical name: float32 array in the Conv1D
# layout}, layout name)


def expected_shapes(cfg):
    """Canonical tensor names and shapes of a gptrec model with config `cfg` (no lm_head)."""
    C, V, N, I = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_inner"]
    shapes = {"wte.weight": (V, C), "wpe.weight": (N, C)}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, I), p + "mlp.c_fc.bias": (I,),
            p + "mlp.c_proj.weight": (I, C), p + "mlp.c_proj.bias": (C,),
        })
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    return shapes


def is_attention_mask_buffer(name):
    """GPT-2's causal-mask buffers (Hugging Face "attn.bias"/"attn.masked_bias", nanoGPT's
    "attn.bias" without flash attention): constants, not weights."""
    return name.endswith(".attn.bias") or name.endswith(".attn.masked_bias")


def positive_int(cfg, keys, source, default=None):
    for k in keys:
        if cfg.get(k) is not None:
            v = cfg[k]
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConvertError(f"{source}: \"{k}\": expected a positive integer, got {v!r}")
            return v
    if default is not None:
        return default
    raise ConvertError(f"{source}: missing key \"{keys[0]}\"")


def check_and_collect(sd, cfg, source, source_names, tensor_prefix, transpose=()):
    """Checks names and shapes against `cfg`; returns the float32 weights, with lm_head.weight
    only when it is the model's own.

    `sd` is keyed by canonical names; errors name tensors as the source does (`source_names`
    maps canonical to source names; a missing tensor gets `tensor_prefix`). Names ending with an
    entry of `transpose` are stored [out, in] in the source and are transposed here.
    """
    def source_name(name):
        return source_names.get(name, tensor_prefix + name)

    shapes = expected_shapes(cfg)
    out = {}
    missing = [n for n in shapes if n not in sd]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConvertError(f"{source}: missing tensor '{source_name(missing[0])}'{more}")
    unexpected = sorted(n for n in sd if n not in shapes and n != "lm_head.weight")
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise ConvertError(f"{source}: unexpected tensor '{source_name(unexpected[0])}'{more}: "
                           "not a GPT-2 "
                           "language model")
    for name, shape in shapes.items():
        arr = to_float32(name, sd[name], source)
        transposed = bool(transpose) and name.endswith(transpose)
        source_shape = tuple(reversed(shape)) if transposed else shape
        if tuple(arr.shape) != source_shape:
            raise ConvertError(f"{source}: tensor '{source_name(name)}' has shape "
                               f"{list(arr.shape)}, expected {list(source_shape)} from the config")
        out[name] = np.ascontiguousarray(arr.T) if transposed else arr
    if "lm_head.weight" in sd:
        head = to_float32("lm_head.weight", sd["lm_head.weight"], source)
        if tuple(head.shape) != shapes["wte.weight"]:
            raise ConvertError(f"{source}: tensor 'lm_head.weight' has shape {list(head.shape)}, "
                               f"expected {list(shapes['wte.weight'])} from the config")
        # A tied head is stored twice by PyTorch; keep it only when it really is its own matrix.
        if not np.array_equal(head, out["wte.weight"]):
            out["lm_head.weight"] = head
    for name, arr in out.items():
        if not np.isfinite(arr).all():
            raise ConvertError(f"{source}: tensor '{source_name(name)}' has non-finite values")
    return out


def convert_hf(folder, weights_file=None):
    cfg_path = os.path.join(folder, "config.json")
    src_cfg = read_json(cfg_path)
    if not isinstance(src_cfg, dict):
        raise ConvertError(f"{cfg_path}: expected a JSON object")
    model_type = src_cfg.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise ConvertError(f"{cfg_path}: \"model_type\": {model_type!r} is not supported "
                           "(GPT-2 checkpoints only)")
    act = src_cfg.get("activation_function") or "gelu_new"  # GPT2Config's default
    if act not in SUPPORTED_ACTIVATIONS:
        raise ConvertError(f"{cfg_path}: \"activation_function\": {act!r} is not supported "
                           f"(expected one of {', '.join(SUPPORTED_ACTIVATIONS)})")
    for key, unsupported in (("scale_attn_by_inverse_layer_idx", True),
                             ("reorder_and_upcast_attn", True), ("scale_attn_weights", False)):
        if src_cfg.get(key) is unsupported:
            raise ConvertError(f"{cfg_path}: \"{key}\": {str(unsupported).lower()} is not "
                               "supported")
    n_embd = positive_int(src_cfg, ("n_embd", "hidden_size"), cfg_path)
    cfg = {
        "vocab_size": positive_int(src_cfg, ("vocab_size",), cfg_path),
        "n_positions": positive_int(src_cfg, ("n_positions", "n_ctx"), cfg_path),
        "n_embd": n_embd,
        "n_layer": positive_int(src_cfg, ("n_layer", "num_hidden_layers"), cfg_path),
        "n_head": positive_int(src_cfg, ("n_head", "num_attention_heads"), cfg_path),
        "n_inner": positive_int(src_cfg, ("n_inner",), cfg_path, default=4 * n_embd),
    }
    if cfg["n_embd"] % cfg["n_head"]:
        raise ConvertError(f"{cfg_path}: n_embd {cfg['n_embd']} is not a multiple of n_head "
                           f"{cfg['n_head']}")

    raw, weights_path = load_hf_weights(folder, weights_file)
    sd, source_names = {}, {}
    for key, value in raw.items():
        # GPT2LMHeadModel nests the body under "transformer."; its head never is.
        name = key[len("transformer."):] if key.startswith("transformer.") else key
        if is_attention_mask_buffer(name):
            continue
        if name in sd:
            raise ConvertError(f"{weights_path}: tensor '{name}' appears twice (with and without "
                               "the 'transformer.' prefix)")
        sd[name], source_names[name] = value, key
    prefix = "transformer." if any(k.startswith("transformer.") for k in raw) else ""
    weights = check_and_collect(sd, cfg, weights_path, source_names, prefix)

    config = dict(src_cfg)  # the Hugging Face keys stay (gptrec ignores those it does not use)
    config.update(cfg)
    config["activation_function"] = act
    config["layer_norm_epsilon"] = src_cfg.get("layer_norm_epsilon",
                                               src_cfg.get("layer_norm_eps", 1e-5))
    config["position_encoding"] = "learned"
    return config, weights, "huggingface-gpt2"


def convert_nanogpt(path, ckpt):
    args = ckpt["model_args"]
    state = ckpt["model"]
    if not isinstance(args, dict) or not isinstance(state, dict):
        raise ConvertError(f"{path}: \"model_args\" and \"model\" must be dicts")
    n_embd = positive_int(args, ("n_embd",), f"{path}: model_args")
    cfg = {
        "vocab_size": positive_int(args, ("vocab_size",), f"{path}: model_args"),
        "n_positions": positive_int(args, ("block_size",), f"{path}: model_args"),
        "n_embd": n_embd,
        "n_layer": positive_int(args, ("n_layer",), f"{path}: model_args"),
        "n_head": positive_int(args, ("n_head",), f"{path}: model_args"),
        "n_inner": 4 * n_embd,  # nanoGPT's MLP is always 4 C wide
    }
    if cfg["n_embd"] % cfg["n_head"]:
        raise ConvertError(f"{path}: n_embd {cfg['n_embd']} is not a multiple of n_head "
                           f"{cfg['n_head']}")

    sd, source_names = {}, {}
    for key, value in state.items():
        name = key
        # torch.compile wraps the model; its state dict then carries "_orig_mod." on every key.
        if name.startswith("_orig_mod."):
            name = name[len("_orig_mod."):]
        if name.startswith("transformer."):
            name = name[len("transformer."):]
        if is_attention_mask_buffer(name):
            continue
        if name in sd:
            raise ConvertError(f"{path}: tensors '{source_names[name]}' and '{key}' are the same "
                               "weight")
        sd[name], source_names[name] = value, key
    compiled = any(k.startswith("_orig_mod.") for k in state)
    prefix = ("_orig_mod." if compiled else "") + "transformer."

    # bias=False checkpoints have no LayerNorm or Linear biases; zeros compute the same thing.
    # (Checkpoints from before nanoGPT had the option always carry biases.)
    has_bias = args.get("bias", "h.0.ln_1.bias" in sd)
    if not has_bias:
        present = sorted(n for n in sd if n.endswith(".bias"))
        if present:
            raise ConvertError(f"{path}: model_args says bias=False but tensor "
                               f"'{source_names[present[0]]}' exists")
        for name, shape in expected_shapes(cfg).items():
            if name.endswith(".bias"):
                sd[name] = np.zeros(shape, dtype=np.float32)
    weights = check_and_collect(sd, cfg, path, source_names, prefix, transpose=NANOGPT_TRANSPOSED)
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        **cfg,
        "layer_norm_epsilon": 1e-5,  # nanoGPT's LayerNorm calls F.layer_norm with eps 1e-5
        "activation_function": "gelu",  # nanoGPT uses nn.GELU(): the exact erf form
        "position_encoding": "learned",
    }
    return config, weights, "nanogpt"


def convert_source(src):
    """Detects the layout of `src`; returns (config, weights, layout name, tokenizer folder)."""
    if os.path.isdir(src):
        if os.path.isfile(os.path.join(src, "config.json")):
            return (*convert_hf(src), src)
        if os.path.isfile(os.path.join(src, "ckpt.pt")):
            return (*convert_file(os.path.join(src, "ckpt.pt")), src)
        raise ConvertError(f"{src}: unknown layout (expected config.json with model weights, or a "
                           "nanoGPT ckpt.pt)")
    if not os.path.exists(src):
        raise ConvertError(f"{src}: no such file or directory", EXIT_IO)
    folder = os.path.dirname(os.path.abspath(src))
    name = os.path.basename(src)
    if (name.endswith((".safetensors", ".bin", ".index.json"))
            and os.path.isfile(os.path.join(folder, "config.json"))):
        return (*convert_hf(folder, name), folder)
    return (*convert_file(src), folder)


def convert_file(path):
    if path.endswith(".safetensors"):
        raise ConvertError(f"{path}: a safetensors file needs the config.json of its folder")
    ckpt = torch_load(path)
    if isinstance(ckpt, dict) and "model_args" in ckpt and "model" in ckpt:
        return convert_nanogpt(path, ckpt)
    what = f"a dict with keys {sorted(map(str, ckpt))[:6]}" if isinstance(ckpt, dict) else \
        f"a {type(ckpt).__name__}"
    raise ConvertError(f"{path}: unknown layout: {what}, neither a nanoGPT checkpoint (dict with "
                       "\"model_args\" and \"model\") nor beside a Hugging Face config.json")


# ---------------------------------------------------------------------------------------------
# Writing the model directory


def stored_weights(weights, dtype):
    if dtype == "f32":
        return weights
    out = {}
    limit = float(np.finfo(np.float16).max)
    for name, arr in weights.items():
        peak = float(np.abs(arr).max()) if arr.size else 0.0
        if peak > limit:
            raise ConvertError(f"tensor '{name}' has values up to {peak:g}, beyond F16's range "
                               f"({limit:g}); use --dtype f32")
        out[name] = arr.astype(np.float16)
    return out


def tokenizer_files(folder):
    return [f for f in TOKENIZER_FILES if os.path.isfile(os.path.join(folder, f))]


def check_output_path(out_dir, force):
    if os.path.isdir(out_dir) and not force:
        raise ConvertError(f"{out_dir}: exists (use --force to replace it)", EXIT_IO)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConvertError(f"{out_dir}: exists and is not a directory", EXIT_IO)


def write_model_dir(out_dir, config, weights, metadata, tokenizer_folder):
    """Writes into a temporary folder beside `out_dir`, then renames it into place."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    except OSError as e:
        raise ConvertError(f"{parent}: cannot create the output ({e.strerror or e})",
                           EXIT_IO) from None
    old = None
    try:
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        safetensors_io.save(os.path.join(tmp, "model.safetensors"), weights, metadata=metadata)
        if tokenizer_folder:
            for name in tokenizer_files(tokenizer_folder):
                shutil.copyfile(os.path.join(tokenizer_folder, name), os.path.join(tmp, name))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        if os.path.isdir(out_dir):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=parent)
            os.rename(out_dir, os.path.join(old, "replaced"))
        os.rename(tmp, out_dir)
        tmp = None
    except OSError as e:
        raise ConvertError(f"{out_dir}: cannot write ({e.strerror or e})", EXIT_IO) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None and not os.path.exists(out_dir):  # put the old one back
                os.rename(os.path.join(old, "replaced"), out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="convert.py", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", metavar="SRC", help="Hugging Face GPT-2 folder, nanoGPT ckpt.pt, or "
                    "the folder holding it")
    ap.add_argument("out", metavar="OUT_DIR", help="model directory to write")
    ap.add_argument("--dtype", choices=("f32", "f16"), default="f32",
                    help="weight storage type (default: f32)")
    ap.add_argument("--tokenizer-from", metavar="DIR",
                    help="copy vocab.json, merges.txt, tokenizer.json from DIR instead of "
                    "SRC's folder")
    ap.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    args = ap.parse_args(argv)
    # A kill during the write still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    try:
        if args.tokenizer_from is not None:
            if not os.path.isdir(args.tokenizer_from):
                raise ConvertError(f"--tokenizer-from {args.tokenizer_from}: not a directory",
                                   EXIT_IO)
            if not tokenizer_files(args.tokenizer_from):
                raise ConvertError(f"--tokenizer-from {args.tokenizer_from}: none of "
                                   f"{', '.join(TOKENIZER_FILES)} there", EXIT_IO)
        check_output_path(args.out, args.force)  # before the (slow) loading
        config, weights, layout, src_folder = convert_source(args.src)
        tokenizer_folder = args.tokenizer_from or src_folder
        tied = "lm_head.weight" not in weights
        config["tie_word_embeddings"] = tied  # Hugging Face would otherwise re-tie an own head
        config["torch_dtype"] = {"f32": "float32", "f16": "float16"}[args.dtype]
        weights = stored_weights(weights, args.dtype)
        metadata = {"format": "pt", "converted_by": "gptrec tools/convert.py",
                    "source_layout": layout}
        write_model_dir(args.out, config, weights, metadata, tokenizer_folder)
    except ConvertError as e:
        print(f"convert.py: error: {e}", file=sys.stderr)
        return e.code
    copied = tokenizer_files(args.out)
    params = sum(int(np.prod(a.shape)) for a in weights.values())
    print(f"wrote {args.out}: {layout}, {config['n_layer']} layers, width {config['n_embd']}, "
          f"{params:,} parameters, {args.dtype.upper()}, {'tied' if tied else 'own'} head, "
          f"{config['activation_function']}; tokenizer: {', '.join(copied) or 'none'}")
    if not copied:
        print("note: no tokenizer files copied; use --tokenizer-from DIR for text commands",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
