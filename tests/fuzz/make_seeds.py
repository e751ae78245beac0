#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/<target>/corpus/).

Seeds are small and meaningful: trimmed real fixtures (tests/data) and the edge cases each parser
must refuse or accept. The safetensors seeds are tiny models of the shape the fuzz target's config
expects (V=5, N=3, C=4, I=8, one layer, two heads). Run from anywhere; it rewrites the seed files
it owns (prefix "seed-") and leaves fuzzer-found corpus entries alone. Deterministic.
"""
import json
import math
import pathlib
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
DATA = FUZZ.parent / "data"


def write(target, name, data):
    path = FUZZ / target / "corpus" / ("seed-" + name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


# ---------------------------------------------------------------- safetensors
V, N, C, I = 5, 3, 4, 8


def tensor_shapes(learned, head, prefix=""):
    shapes = [(prefix + "wte.weight", [V, C])]
    if learned:
        shapes.append((prefix + "wpe.weight", [N, C]))
    p = prefix + "h.0."
    shapes += [(p + "ln_1.weight", [C]), (p + "ln_1.bias", [C]),
               (p + "attn.c_attn.weight", [C, 3 * C]), (p + "attn.c_attn.bias", [3 * C]),
               (p + "attn.c_proj.weight", [C, C]), (p + "attn.c_proj.bias", [C]),
               (p + "ln_2.weight", [C]), (p + "ln_2.bias", [C]),
               (p + "mlp.c_fc.weight", [C, I]), (p + "mlp.c_fc.bias", [I]),
               (p + "mlp.c_proj.weight", [I, C]), (p + "mlp.c_proj.bias", [C]),
               (prefix + "ln_f.weight", [C]), (prefix + "ln_f.bias", [C])]
    if head:
        shapes.append(("lm_head.weight", [V, C]))
    return shapes


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    if dtype == "BF16":  # the upper half of the float32 bits
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)
    if dtype == "F64":
        return struct.pack("<%dd" % len(values), *values)
    raise ValueError(dtype)


def image(header, data, declared=None):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text) if declared is None else declared) + text + data


def model(dtype="F32", learned=True, head=False, prefix="", metadata=None, poison=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    k = 0
    for name, shape in tensor_shapes(learned, head, prefix):
        n = math.prod(shape)
        values = [((k + i) % 7 - 3) * 0.125 for i in range(n)]
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            values = [1.0] * n
        if poison is not None and name == prefix + "wte.weight":
            values[0] = poison
        k += n
        raw = encode(values, dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return image(header, data)


write("safetensors", "f32-learned.safetensors", model())
write("safetensors", "f16-sinusoidal-head.safetensors", model("F16", learned=False, head=True))
write("safetensors", "bf16-prefixed.safetensors", model("BF16", prefix="transformer.", metadata={"format": "pt"}))
write("safetensors", "f64-learned.safetensors", model("F64"))
write("safetensors", "nan-weight.safetensors", model(poison=float("nan")))
write("safetensors", "inf-weight.safetensors", model("F16", poison=float("inf")))
write("safetensors", "truncated.safetensors", model()[:200])
write("safetensors", "empty-header.safetensors", image({}, b""))
write("safetensors", "header-length-near-2-64.safetensors",
      image({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, declared=2**64 - 8))
write("safetensors", "shape-overflow.safetensors",
      image({"a": {"dtype": "F32", "shape": [2**32, 2**32, 16], "data_offsets": [0, 0]}}, b""))
write("safetensors", "overlap-and-odd-dtypes.safetensors",
      image({"a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [], "data_offsets": [4, 8]},
             "c": {"dtype": "BOOL", "shape": [0, 3], "data_offsets": [8, 8]}}, b"\1" * 8))
write("safetensors", "bad-dtype-and-offsets.safetensors",
      image({"a": {"dtype": "F8", "shape": [1], "data_offsets": [8, 4]}}, b"\0" * 8))

# ---------------------------------------------------------------- config.json
for name in ("tiny-learned", "tiny-items", "tiny-sinusoidal"):
    write("config", name + ".json", (DATA / "models" / name / "config.json").read_text())
write("config", "hf-gpt2.json", json.dumps({
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
    "n_inner": None, "n_layer": 12, "n_positions": 1024, "reorder_and_upcast_attn": False,
    "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True, "vocab_size": 50257}, indent=2))
write("config", "aliases.json", '{"vocab_size": 10, "context_length": 8, "hidden_size": 6, '
      '"num_hidden_layers": 1, "num_attention_heads": 3, "layer_norm_eps": 1e-6, '
      '"activation_function": "gelu", "gptrec": {"kind": "items", "sequence_format": "items"}}')
write("config", "huge-sizes.json", '{"vocab_size": 2147483647, "n_positions": 2147483647, '
      '"n_embd": 2147483647, "n_layer": 2147483647, "n_head": 1}')
write("config", "wrong-types.json", '{"vocab_size": "500", "n_positions": 1.5, "n_embd": -64, '
      '"n_layer": true, "n_head": null, "layer_norm_epsilon": 1e999}')
write("config", "duplicate-keys.json", '{"vocab_size": 5, "vocab_size": 6, "n_positions": 4, '
      '"n_embd": 4, "n_layer": 1, "n_head": 1}')
write("config", "deep.json", '{"vocab_size": 5, "x": ' + "[" * 80 + "]" * 80 + "}")

# ---------------------------------------------------------------- histories and catalogs
real = json.loads((DATA / "models" / "tiny-items" / "history.json").read_text())
write("history", "real-trimmed.json",
      json.dumps({"customer_id": real["customer_id"], "events": real["events"][:14]}, indent=1))
write("history", "bare-array-untimed.json",
      '[{"item": "22423"}, {"item": 85123}, {"item": "POST", "quantity": 3}, {"item": "22423"}]')
write("history", "types-and-offsets.json", json.dumps({"customer_id": 7, "events": [
    {"item": "22423", "type": "view", "timestamp": "2011-01-18T10:01:00Z"},
    {"item": "22423", "type": "cart", "timestamp": "2011-01-18T10:02:00+02:00"},
    {"item": "85123A", "type": "purchase", "date": "2011-01-19", "order": 537626, "quantity": 2.5},
    {"item": "22697", "type": "rating", "timestamp": "2011-01-20 09:00:00.125", "rating": 4},
    {"item": "22697", "type": "return", "timestamp": "2011-01-21T09:00", "extra": {"x": [1, 2]}},
    {"item": "unknown-1", "timestamp": "2000-02-29"}]}))
write("history", "unknown-only.json", '{"customer_id": "u", "events": [{"item": "nope"}, {"item": "zzz"}]}')
write("history", "empty.json", '{"customer_id": null, "events": []}')
write("history", "bad-timestamp.json", '{"events": [{"item": "1", "timestamp": "2011-02-29"}]}')
write("history", "mixed-timed.json", '[{"item": "1", "date": "2011-01-01"}, {"item": "2"}]')
write("history", "duplicate-keys.json", '{"events": [{"item": "22423", "item": "POST"}], "events": []}')
write("history", "number-overflow.json", '{"events": [{"item": "22423", "quantity": 1e999}]}')
write("history", "invalid-utf8.json", b'{"events": [{"item": "22\xff423"}]}')
write("history", "deep.json", '{"events": [], "x": ' + "[" * 80 + "]" * 80 + "}")
write("history", "catalog-array.json", json.dumps([
    {"id": "22423", "name": "REGENCY CAKESTAND 3 TIER", "price": 12.75, "category": "kitchen", "count": 3},
    {"item": 85123, "available": False, "purchases": 2}, {"id": "POST", "name": None}]))
write("history", "catalog-object.json", '{"items": [{"id": "a", "price": -1.5}, {"id": "a"}]}')

# ---------------------------------------------------------------- items.json
items = json.loads((DATA / "models" / "tiny-items" / "items.json").read_text())
write("item_vocabulary", "real-trimmed.json",
      json.dumps({**items, "items": items["items"][:10]}, indent=1))
write("item_vocabulary", "full-fields.json", json.dumps({
    "format": "gptrec-items", "version": 1, "special_tokens": ["<bos>", "<sep>"],
    "items": [{"id": "85123A", "name": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.55,
               "category": "home", "count": 2270, "available": True},
              {"id": "22423", "name": "", "price": None, "available": False}]}))
write("item_vocabulary", "bad-specials.json",
      '{"format": "gptrec-items", "version": 1, "special_tokens": ["<bos>", "<bos>", "<mask>"], "items": []}')
write("item_vocabulary", "duplicate-ids.json",
      '{"format": "gptrec-items", "version": 1, "special_tokens": ["<bos>", "<sep>"], '
      '"items": [{"id": "a"}, {"id": "a"}, {"id": 5}, {"id": "b", "count": -1}]}')
write("item_vocabulary", "spaced-id.json",
      '{"format": "gptrec-items", "version": 1, "special_tokens": ["<bos>", "<sep>", "<unk>"], '
      '"items": [{"id": "a b"}, {"id": "<sep>"}, {"id": "c", "price": 1e308}]}')

# ---------------------------------------------------------------- tokenizer text
texts = {
    "english.txt": "Hello, world! It's a shopper's basket: 3 cups, 12 plates.\n",
    "contractions.txt": "they're we've I'm you'll he'd 'S 'T\n",
    "unicode.txt": "Caf\u00e9 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4 \u0928\u092e\u0938\u094d\u0924\u0947 "
                   "\U0001F600\U0001F44D\U0001F3FD e\u0301 \u00a0\u2003x",
    "whitespace.txt": "  a\t\tb\n\n\n  \r\n   c   \u3000 ",
    "special.txt": "one<|endoftext|>two <|endoftext|><|endoftext|>",
    "digits-and-punctuation.txt": "1234567890 3.14159 ((((!!!!????....)))) " + "-=" * 40,
}
for name, text in texts.items():
    write("tokenizer", name, text)
write("tokenizer", "invalid-utf8.bin",
      b"ok \x80 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xf0\x9f\x98 \xe2\x82 end\xff\xfe\x00\x01")
