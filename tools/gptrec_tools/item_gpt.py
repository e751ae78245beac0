"""The item model as a PyTorch module: a plain GPT-2 (pre-LayerNorm blocks, fused QKV, causal
attention, GELU MLP, final LayerNorm, head tied to the token embedding) with sinusoidal (the
default) or learned positions, and its export to / import from a gptrec model directory
(docs/FORMATS.md).

Training keeps the embedding table as W and uses E = embed_scale * W (embed_scale = sqrt(C)) for
both the input embedding and the tied head, so the item embeddings are not drowned by the
positional signal (docs/DESIGN.md). The export writes E as `wte.weight`, so the engine runs a plain
GPT-2 forward pass on it: tools/gptrec_tools/reference.py computes exactly what `forward` does.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import reference, safetensors_io
from .items_json import write_items_json
from .baskets import SPECIAL_TOKENS


class Block(nn.Module):
    """x += attn(ln_1(x)); x += mlp(ln_2(x)). Linear weights are [out, in] (nn.Linear)."""

    def __init__(self, C, n_head, n_inner, dropout, approximate, eps):
        super().__init__()
        self.n_head = n_head
        self.approximate = approximate
        self.ln_1 = nn.LayerNorm(C, eps=eps)
        self.c_attn = nn.Linear(C, 3 * C)
        self.attn_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=eps)
        self.c_fc = nn.Linear(C, n_inner)
        self.mlp_proj = nn.Linear(n_inner, C)
        self.attn_drop = nn.Dropout(dropout)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        # x is (B, T, C); mask is (T, T), True above the diagonal (future positions).
        B, T, C = x.shape
        hd = C // self.n_head
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, hd).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = F.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
        y = (self.attn_drop(att) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.resid_drop(self.attn_proj(y))
        m = F.gelu(self.c_fc(self.ln_2(x)), approximate=self.approximate)
        return x + self.resid_drop(self.mlp_proj(m))


class ItemGPT(nn.Module):
    def __init__(self, vocab_size, n_positions, n_embd, n_layer, n_head, n_inner=None,
                 dropout=0.0, activation="gelu_new", eps=1e-5, embed_scale=None, embed_std=None,
                 position_encoding="sinusoidal"):
        super().__init__()
        if position_encoding not in ("sinusoidal", "learned"):
            raise ValueError(f"unknown position encoding {position_encoding!r}")
        self.config = {
            "vocab_size": vocab_size, "n_positions": n_positions, "n_embd": n_embd,
            "n_layer": n_layer, "n_head": n_head, "n_inner": n_inner or 4 * n_embd,
            "activation_function": activation, "layer_norm_epsilon": eps,
            "position_encoding": position_encoding,
        }
        self.embed_scale = math.sqrt(n_embd) if embed_scale is None else embed_scale
        approximate = "none" if activation == "gelu" else "tanh"
        self.wte = nn.Parameter(torch.randn(vocab_size, n_embd) * 0.02)
        if position_encoding == "learned":
            self.wpe = nn.Parameter(torch.randn(n_positions, n_embd) * 0.02)
        else:
            self.register_buffer("pe", reference.sinusoidal_table(n_positions, n_embd).float(),
                                 persistent=False)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, self.config["n_inner"], dropout,
                                          approximate, eps) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=eps)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # GPT-2: residual projections scaled by depth
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))
            elif p.dim() == 2 and name not in ("wte", "wpe"):
                nn.init.normal_(p, std=0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
        if embed_std is not None:
            # E = embed_scale * W starts with elements of std embed_std (Vaswani et al.: 1, so the
            # items are not drowned by the positions); the final LayerNorm gain starts so that
            # the tied head's initial logits have a std near 1.
            with torch.no_grad():
                self.wte.normal_(0.0, embed_std / self.embed_scale)
                self.ln_f.weight.fill_(min(1.0, 1.0 / (embed_std * math.sqrt(n_embd))))

    def init_copy(self):
        """Starts the first block's attention as a copy: value and output projections = identity,
        so from the first step a position sums the (normalized) embeddings of the items before it
        and the tied head scores those items higher: the "buy again" signal is there from the
        start instead of having to emerge."""
        C = self.config["n_embd"]
        b = self.blocks[0]
        with torch.no_grad():
            b.c_attn.weight[2 * C:] = torch.eye(C)
            b.attn_proj.weight.copy_(torch.eye(C))

    def embedding(self):
        """E = embed_scale * W: (V, C), the table the engine sees as `wte.weight`."""
        return self.wte * self.embed_scale

    def hidden(self, ids):
        """ids (B, T) -> final hidden states (B, T, C) after ln_f, and E (V, C)."""
        T = ids.shape[1]
        E = self.embedding()
        pe = self.wpe[:T] if self.config["position_encoding"] == "learned" else self.pe[:T]
        x = self.drop(E[ids] + pe)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=ids.device), diagonal=1)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x), E

    def forward(self, ids):
        """Logits over the whole vocabulary, (B, T, V)."""
        h, E = self.hidden(ids)
        return h @ E.T


def gpt2_state_dict(model):
    """The weights under Hugging Face GPT-2 names, Conv1D layout (weight[in, out]), float32."""
    def a(t):
        return t.detach().cpu().float().numpy().copy()

    sd = {"wte.weight": a(model.embedding())}
    if model.config["position_encoding"] == "learned":
        sd["wpe.weight"] = a(model.wpe)
    for i, b in enumerate(model.blocks):
        p = f"h.{i}."
        sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = a(b.ln_1.weight), a(b.ln_1.bias)
        # nn.Linear stores [out, in]; Conv1D (what the engine reads) stores [in, out].
        sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"] = a(b.c_attn.weight.T), a(b.c_attn.bias)
        sd[p + "attn.c_proj.weight"], sd[p + "attn.c_proj.bias"] = a(b.attn_proj.weight.T), a(b.attn_proj.bias)
        sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = a(b.ln_2.weight), a(b.ln_2.bias)
        sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"] = a(b.c_fc.weight.T), a(b.c_fc.bias)
        sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"] = a(b.mlp_proj.weight.T), a(b.mlp_proj.bias)
    sd["ln_f.weight"], sd["ln_f.bias"] = a(model.ln_f.weight), a(model.ln_f.bias)
    return sd


def load_gpt2_state_dict(model, sd):
    """Inverse of gpt2_state_dict (the model must have embed_scale = 1)."""
    assert model.embed_scale == 1.0
    sd = reference.canonical_state_dict(sd)

    def t(name, transpose=False):
        v = sd[name].float()
        return v.T.contiguous() if transpose else v

    with torch.no_grad():
        model.wte.copy_(t("wte.weight"))
        if model.config["position_encoding"] == "learned":
            model.wpe.copy_(t("wpe.weight"))
        for i, b in enumerate(model.blocks):
            p = f"h.{i}."
            b.ln_1.weight.copy_(t(p + "ln_1.weight")), b.ln_1.bias.copy_(t(p + "ln_1.bias"))
            b.c_attn.weight.copy_(t(p + "attn.c_attn.weight", True)), b.c_attn.bias.copy_(t(p + "attn.c_attn.bias"))
            b.attn_proj.weight.copy_(t(p + "attn.c_proj.weight", True)), b.attn_proj.bias.copy_(t(p + "attn.c_proj.bias"))
            b.ln_2.weight.copy_(t(p + "ln_2.weight")), b.ln_2.bias.copy_(t(p + "ln_2.bias"))
            b.c_fc.weight.copy_(t(p + "mlp.c_fc.weight", True)), b.c_fc.bias.copy_(t(p + "mlp.c_fc.bias"))
            b.mlp_proj.weight.copy_(t(p + "mlp.c_proj.weight", True)), b.mlp_proj.bias.copy_(t(p + "mlp.c_proj.bias"))
        model.ln_f.weight.copy_(t("ln_f.weight")), model.ln_f.bias.copy_(t("ln_f.bias"))
    if "lm_head.weight" in sd:
        raise ValueError("item models are exported with a tied head; lm_head.weight is not supported here")


def export_model_dir(path, model, sequence_format, items, dtype="F16", metadata=None):
    """Writes config.json, model.safetensors and items.json. `items` is a list of dicts
    ({"id", "name"?, "price"?, "count"}) in token order, after the special tokens."""
    os.makedirs(path, exist_ok=True)
    cfg = model.config
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": cfg["vocab_size"],
        "n_positions": cfg["n_positions"],
        "n_embd": cfg["n_embd"],
        "n_layer": cfg["n_layer"],
        "n_head": cfg["n_head"],
        "n_inner": cfg["n_inner"],
        "activation_function": cfg["activation_function"],
        "layer_norm_epsilon": cfg["layer_norm_epsilon"],
        "tie_word_embeddings": True,
        "position_encoding": cfg["position_encoding"],
        "gptrec": {"kind": "items", "sequence_format": sequence_format},
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    sd = gpt2_state_dict(model)
    if dtype == "F16":
        sd = {k: v.astype(np.float16) for k, v in sd.items()}
    elif dtype != "F32":
        raise ValueError(f"unsupported dtype {dtype}")
    safetensors_io.save(os.path.join(path, "model.safetensors"), sd, metadata=metadata)
    write_items_json(os.path.join(path, "items.json"), items)
    return config


def load_model_dir(path):
    """Loads an exported item model: (ItemGPT in eval mode, config dict, items.json dict)."""
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(path, "items.json")) as f:
        items = json.load(f)
    position_encoding = config.get("position_encoding", "learned")
    if position_encoding not in ("sinusoidal", "learned"):
        raise ValueError(f"{path}: unknown position_encoding {position_encoding!r}")
    sd, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    model = ItemGPT(config["vocab_size"], config["n_positions"], config["n_embd"],
                    config["n_layer"], config["n_head"], config.get("n_inner"),
                    activation=config.get("activation_function", "gelu_new"),
                    eps=config.get("layer_norm_epsilon", 1e-5), embed_scale=1.0,
                    position_encoding=position_encoding)
    load_gpt2_state_dict(model, sd)
    model.eval()
    return model, config, items


def score_next_units(model, item_ids, sequence_format, inputs, batch_tokens=16384):
    """The model's scores for the next unit after each input (a list of units), as the engine
    computes them: tokens per docs/FORMATS.md (oldest units dropped to fit the context), logits
    at the last position, log-softmax over the item tokens only.

    item_ids: {item id: token id}. Returns a float32 array (len(inputs), V - number of specials).
    """
    n_special = len(SPECIAL_TOKENS)
    n_positions = model.config["n_positions"]
    from .baskets import build_sequence  # local import: baskets has no torch dependency
    seqs = [build_sequence(units, item_ids, sequence_format, n_positions)[0] for units in inputs]
    out = np.zeros((len(seqs), model.config["vocab_size"] - n_special), dtype=np.float32)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        start = 0
        while start < len(order):
            T = len(seqs[order[start]])
            end = start
            while end < len(order) and len(seqs[order[end]]) * (end - start + 1) <= max(batch_tokens, len(seqs[order[end]])):
                T = len(seqs[order[end]])
                end += 1
            batch = order[start:end]
            ids = torch.zeros((len(batch), T), dtype=torch.long)
            last = torch.zeros(len(batch), dtype=torch.long)
            for r, i in enumerate(batch):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                last[r] = len(seqs[i]) - 1
            h, E = model.hidden(ids)
            h_last = h[torch.arange(len(batch)), last]
            logp = F.log_softmax(h_last @ E[n_special:].T, dim=-1)
            out[batch] = logp.numpy()
            start = end
    model.train(was_training)
    return out
