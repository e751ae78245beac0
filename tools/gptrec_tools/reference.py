"""A float64 GPT-2 forward pass written with PyTorch's own ops, used as the reference that gptrec's
C++ engine is checked against. Weights use Hugging Face GPT-2 names and the Conv1D layout
(weight[in, out]), with or without the "transformer." prefix.
"""
import math

import torch
import torch.nn.functional as F


def canonical_state_dict(sd):
    """Strips the "transformer." prefix; returns float64 tensors keyed by canonical names."""
    out = {}
    for k, v in sd.items():
        name = k[len("transformer."):] if k.startswith("transformer.") else k
        out[name] = torch.as_tensor(v).to(torch.float64)
    return out


def sinusoidal_table(n_pos, dim):
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)[None, :]
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / dim)
    pe = torch.zeros(n_pos, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def forward(sd, config, ids):
    """Logits (T, V) in float64 for the token list `ids`."""
    sd = canonical_state_dict(sd)
    C = config["n_embd"]
    nh = config["n_head"]
    hd = C // nh
    eps = config.get("layer_norm_epsilon", 1e-5)
    approximate = "none" if config.get("activation_function", "gelu_new") == "gelu" else "tanh"
    ids = torch.as_tensor(ids, dtype=torch.long)
    T = ids.shape[0]
    x = sd["wte.weight"][ids]
    if config.get("position_encoding", "learned") == "sinusoidal":
        x = x + sinusoidal_table(T, C)
    else:
        x = x + sd["wpe.weight"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for i in range(config["n_layer"]):
        p = f"h.{i}."
        h = F.layer_norm(x, (C,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"], eps)
        qkv = h @ sd[p + "attn.c_attn.weight"] + sd[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.view(T, nh, hd).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ sd[p + "attn.c_proj.weight"] + sd[p + "attn.c_proj.bias"]
        h = F.layer_norm(x, (C,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"], eps)
        m = F.gelu(h @ sd[p + "mlp.c_fc.weight"] + sd[p + "mlp.c_fc.bias"], approximate=approximate)
        x = x + m @ sd[p + "mlp.c_proj.weight"] + sd[p + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (C,), sd["ln_f.weight"], sd["ln_f.bias"], eps)
    head = sd.get("lm_head.weight", sd["wte.weight"])
    return x @ head.T
