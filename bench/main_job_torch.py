"""PyTorch side of bench/run_main_bench.sh: `gptrec score` (and `gptrec suggest`) with an item
model, the same job in Python and PyTorch at its best.

    main_job_torch.py MODEL_DIR --input HISTORIES.jsonl[.gz] --output OUT.jsonl --threads N
    main_job_torch.py MODEL_DIR --latency HISTORIES.jsonl[.gz] --threads N [--limit K]
    main_job_torch.py MODEL_DIR --suggest HISTORY.json --threads N

The job, as the engine does it (docs/FORMATS.md; docs/EVALUATION.md, "The ranker"): each history
line is parsed (json.loads), its purchases grouped into baskets (tools/gptrec_tools/baskets.py:
the rules the engine implements), the item sequence built (oldest baskets dropped to fit the
context), the model run, the log-softmax over the item tokens passed through the model's ranker
(config.json "gptrec.ranker": the GPT's distribution mixed with the TIFU-KNN share of the k
nearest customers of neighbors.json, plus the customer's own purchase counts, decayed recency and
last basket, then a log-softmax), each item's probability multiplied by the share the customer
kept (1 - returns / purchases, in orders), unavailable items and non-products ("product": false)
left out, the list of N chosen in the default mode (mixed: half for re-buys, the rest for new
items, README "Modes") and written as one JSON line per customer (the fields of `gptrec score`),
a popularity list for histories without a known item. A model with a repeat component instead of
a ranker is scored with that component.

PyTorch at its best: inference_mode, torch.set_num_threads(N), float32 weights in nn.Linear's
(out, in) layout, customers sorted by sequence length and run in padded batches of at most
--batch-tokens tokens (right padding: a causal model's real positions never see the padding), and
the same work as the engine: every position's keys and values, but only the last position's
query, attention, projection, MLP and head in the last block (the only logits the job needs).
The ranker runs on float64 tensors for a whole batch at once: the customers' TIFU vectors as one
sparse matrix, their dot products with the neighbour pool gathered from the pool's by-item lists
and summed with index_put_ (accumulate), a stable sort for the k nearest, the neighbours' vectors
summed the same way. Sums that decide ties are taken in the engine's order (items ascending,
neighbours nearest first; cumsum for the sums over items), so both sides round alike and the
lists can be compared customer by customer.

--input: prints one JSON line {"customers", "seconds" (reading, scoring and writing, after the
model is loaded), "cpu_seconds" (the CPU time of all the process's threads over the same span),
"flops" (of the work done, see flops_per_sequence), "process_seconds"}.
--latency: one customer at a time (a batch of one), from the parsed history to the result object
(as one Recommender::recommend call), prints {"median_ms", "p90_ms", "mean_ms"}.
--suggest: one history file scored and printed as JSON (the whole process is what is timed).
"""
import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time

START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gptrec_tools import safetensors_io  # noqa: E402
from gptrec_tools.basket_ranker import known_baskets  # noqa: E402
from gptrec_tools.baskets import SEP, SPECIAL_TOKENS, baskets_of, build_sequence  # noqa: E402
from gptrec_tools.baskets import _event_time as event_time  # noqa: E402
from gptrec_tools.reference import sinusoidal_table  # noqa: E402


def flops_per_sequence(T, C, n_layer, n_inner, n_items):
    """The multiply-adds x 2 of one customer of T tokens, as both sides compute it: every block
    but the last over all T positions (fused QKV, projection, MLP, causal attention over the
    lower triangle: 2 T^2 C); the last block's keys and values for all positions and its query,
    attention, projection and MLP for the last one; the head over the item tokens."""
    block = C * 3 * C + C * C + 2 * C * n_inner
    full = (n_layer - 1) * (2 * T * block + 2 * T * T * C)
    last = 2 * T * (2 * C * C) + 2 * (C * C + C * C + 2 * C * n_inner) + 2 * 2 * T * C
    return full + last + 2 * C * n_items


def tifu_entries(baskets, within_decay, group_decay, groups):
    """A customer's TIFU vector (tifu_vector in src/basket_ranker.cpp, operation for operation) as
    {item index: weight}, items ascending; baskets: lists of item indices, oldest first."""
    n = len(baskets)
    if n == 0:
        return {}
    if n < groups:
        sizes = [1] * n
    else:
        base, extra = divmod(n, groups)
        sizes = [base] * (groups - extra) + [base + 1] * extra
    u, t = {}, 0
    for j, size in enumerate(sizes):
        g = {}
        for _ in range(size):
            t += 1
            w = within_decay ** (n - t)
            for i in baskets[t - 1]:
                g[i] = g.get(i, 0.0) + w
        gw = group_decay ** (groups - 1 - j)
        for i, x in g.items():
            u[i] = u.get(i, 0.0) + gw * x / size
    return {i: u[i] / len(sizes) for i in sorted(u)}


def ranges(starts, lens):
    """The concatenated index ranges [start, start + len) (tensors), in order."""
    total = int(lens.sum())
    before = lens.cumsum(0) - lens
    return starts.repeat_interleave(lens) + (torch.arange(total) - before.repeat_interleave(lens))


class NeighborPool:
    """The ranker's neighbour customers (neighbors.json) as tensors: their TIFU vectors by row
    (CSR) and by item (the engine's by-item lists), and their squared norms."""

    def __init__(self, path, item_index, ranker):
        nb = ranker["neighbors"]
        self.k = int(nb["k"])
        self.params = (nb["within_decay"], nb["group_decay"], int(nb["groups"]))
        with open(path, encoding="utf-8") as f:
            customers = json.load(f)["customers"]
        self.row = {}
        rows, by_item = [], {}
        squared = []
        for r, c in enumerate(customers):
            self.row[str(c["id"])] = r
            v = tifu_entries(known_baskets(c["baskets"], item_index), *self.params)
            rows.append(v)
            norm = 0.0
            for i, x in v.items():
                norm += x * x
                by_item.setdefault(i, []).append((r, x))
            squared.append(norm)
        self.R, U = len(rows), len(item_index)
        self.squared = torch.tensor(squared, dtype=torch.float64)
        self.row_ptr = torch.tensor([0] + [len(v) for v in rows]).cumsum(0)
        self.row_col = torch.tensor([i for v in rows for i in v], dtype=torch.long)
        self.row_val = torch.tensor([x for v in rows for x in v.values()], dtype=torch.float64)
        lists = [by_item.get(i, []) for i in range(U)]
        self.item_ptr = torch.tensor([0] + [len(e) for e in lists]).cumsum(0)
        self.item_row = torch.tensor([r for e in lists for r, _ in e], dtype=torch.long)
        self.item_val = torch.tensor([x for e in lists for _, x in e], dtype=torch.float64)
        self.U = U

    def shares(self, baskets, customer_ids):
        """n(j) per customer, (B, U) float64: the summed vectors of the k nearest pool customers
        (the customer's own entry left out, ties by pool order), normalized to sum 1."""
        B = len(baskets)
        qb, qi, qv, qq = [], [], [], []
        for b, bs in enumerate(baskets):
            q = tifu_entries(bs, *self.params)
            s = 0.0
            for i, x in q.items():
                qb.append(b)
                qi.append(i)
                qv.append(x)
                s += x * x
            qq.append(s)
        qb, qi = torch.tensor(qb, dtype=torch.long), torch.tensor(qi, dtype=torch.long)
        qv = torch.tensor(qv, dtype=torch.float64)
        # dot[b, r] = sum over the customer's items i (ascending) of q[i] p_r[i].
        lens = self.item_ptr[qi + 1] - self.item_ptr[qi]
        at = ranges(self.item_ptr[qi], lens)
        dot = torch.zeros((B, self.R), dtype=torch.float64)
        dot.index_put_((qb.repeat_interleave(lens), self.item_row[at]),
                       qv.repeat_interleave(lens) * self.item_val[at], accumulate=True)
        dist = (torch.tensor(qq, dtype=torch.float64)[:, None] + self.squared[None, :]) - 2.0 * dot
        for b, cid in enumerate(customer_ids):
            r = self.row.get(cid)
            if r is not None:
                dist[b, r] = math.inf
        k = min(self.k, self.R - 1)
        near = torch.sort(dist, dim=1, stable=True).indices[:, :k].reshape(-1)  # (B * k)
        lens = self.row_ptr[near + 1] - self.row_ptr[near]
        at = ranges(self.row_ptr[near], lens)
        share = torch.zeros((B, self.U), dtype=torch.float64)
        share.index_put_((torch.arange(B).repeat_interleave(k).repeat_interleave(lens),
                          self.row_col[at]), self.row_val[at], accumulate=True)
        total = share.cumsum(dim=1)[:, -1:]  # the sum in item order
        return torch.where(total > 0, share / total, share)


class ItemModel:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        with open(os.path.join(model_dir, "items.json")) as f:
            items = json.load(f)["items"]
        c = self.config
        self.C, self.L, self.H = c["n_embd"], c["n_layer"], c["n_head"]
        self.n_inner = c.get("n_inner") or 4 * self.C
        self.n_ctx, self.eps = c["n_positions"], c.get("layer_norm_epsilon", 1e-5)
        self.approximate = "none" if c.get("activation_function") == "gelu" else "tanh"
        self.format = c.get("gptrec", {}).get("sequence_format", "baskets")
        repeat = c.get("gptrec", {}).get("repeat", {})
        self.repeat_weight, self.repeat_decay = repeat.get("weight", 0.0), repeat.get("decay", 1.0)
        sd, _ = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
        sd = {k.removeprefix("transformer."): torch.from_numpy(np.asarray(v, dtype=np.float32))
              for k, v in sd.items()}

        def linear_weight(name):  # Conv1D (in, out) -> nn.Linear (out, in), contiguous
            return sd[name].t().contiguous()

        self.wte = sd["wte.weight"].contiguous()
        self.wpe = (sd["wpe.weight"] if "wpe.weight" in sd
                    else sinusoidal_table(self.n_ctx, self.C).float().contiguous())
        self.head = sd.get("lm_head.weight", self.wte)
        self.blocks = []
        for i in range(self.L):
            p = f"h.{i}."
            self.blocks.append({
                "ln1": (sd[p + "ln_1.weight"], sd[p + "ln_1.bias"]),
                "qkv": (linear_weight(p + "attn.c_attn.weight"), sd[p + "attn.c_attn.bias"]),
                "proj": (linear_weight(p + "attn.c_proj.weight"), sd[p + "attn.c_proj.bias"]),
                "ln2": (sd[p + "ln_2.weight"], sd[p + "ln_2.bias"]),
                "fc": (linear_weight(p + "mlp.c_fc.weight"), sd[p + "mlp.c_fc.bias"]),
                "fc_proj": (linear_weight(p + "mlp.c_proj.weight"), sd[p + "mlp.c_proj.bias"]),
            })
        self.ln_f = (sd["ln_f.weight"], sd["ln_f.bias"])
        self.n_special = len(SPECIAL_TOKENS)
        self.item_head = self.head[self.n_special:].contiguous()
        self.items = items
        self.item_token = {e["id"]: i + self.n_special for i, e in enumerate(items)}
        self.allowed = torch.tensor([e.get("available", True) and e.get("product", True)
                                     for e in items])
        counts = [e.get("count", 0) for e in items]
        # Popularity order for the fallback: more orders first, then the smaller id.
        self.by_popularity = sorted(range(len(items)), key=lambda j: (-counts[j], items[j]["id"]))
        self.counts = counts
        self.allowed_list = self.allowed.tolist()
        self.item_index = {e["id"]: i for i, e in enumerate(items)}
        self.ranker = c.get("gptrec", {}).get("ranker")
        if self.ranker:
            self.pool = NeighborPool(os.path.join(model_dir, self.ranker["neighbors"]["file"]),
                                     self.item_index, self.ranker)

    def _attention(self, q, k, v, mask):
        # q (B, H, Tq, d), k and v (B, H, T, d); mask (Tq, T) True where the key is hidden.
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
        return F.softmax(att.masked_fill(mask, float("-inf")), dim=-1) @ v

    def last_hidden(self, ids, last):
        """ids (B, T) right-padded, last (B) the index of each row's last real token ->
        final hidden state at `last`, (B, C)."""
        B, T = ids.shape
        C, H = self.C, self.H
        d = C // H
        x = self.wte[ids] + self.wpe[:T]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        rows = torch.arange(B)
        for i, b in enumerate(self.blocks):
            h = F.layer_norm(x, (C,), *b["ln1"], self.eps)
            w, bias = b["qkv"]
            if i < self.L - 1:
                q, k, v = F.linear(h, w, bias).split(C, dim=-1)
                q, k, v = (t.view(B, T, H, d).transpose(1, 2) for t in (q, k, v))
                y = self._attention(q, k, v, mask).transpose(1, 2).reshape(B, T, C)
                x = x + F.linear(y, *b["proj"])
                m = F.gelu(F.linear(F.layer_norm(x, (C,), *b["ln2"], self.eps), *b["fc"]),
                           approximate=self.approximate)
                x = x + F.linear(m, *b["fc_proj"])
            else:
                # Last block: keys and values everywhere, the rest at the last position only.
                k, v = F.linear(h, w[C:], bias[C:]).split(C, dim=-1)
                k, v = (t.view(B, T, H, d).transpose(1, 2) for t in (k, v))
                x = x[rows, last]  # (B, C)
                q = F.linear(h[rows, last], w[:C], bias[:C]).view(B, H, 1, d)
                hidden = torch.arange(T)[None, :] > last[:, None]  # (B, T)
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
                att = att.masked_fill(hidden[:, None, None, :], float("-inf"))
                y = (F.softmax(att, dim=-1) @ v).reshape(B, C)
                x = x + F.linear(y, *b["proj"])
                m = F.gelu(F.linear(F.layer_norm(x, (C,), *b["ln2"], self.eps), *b["fc"]),
                           approximate=self.approximate)
                x = x + F.linear(m, *b["fc_proj"])
        return F.layer_norm(x, (C,), *self.ln_f, self.eps)

    def copy_mass(self, tokens):
        """The repeat component's mass per item index: decay^age per occurrence, age counted in
        baskets from the most recent (in order-of-sequence items format: in items)."""
        mass = {}
        w, open_unit = 1.0, False
        baskets = self.format == "baskets"
        for t in reversed(tokens):
            if t == SEP:
                if open_unit:
                    w *= self.repeat_decay
                open_unit = False
                continue
            j = t - self.n_special
            if j < 0:
                continue
            mass[j] = mass.get(j, 0.0) + w
            if baskets:
                open_unit = True
            else:
                w *= self.repeat_decay
        return mass

    def score_batch(self, seqs, activities, baskets, customer_ids, top):
        """seqs: token lists (each with at least one item), activities: per sequence {item index:
        (times bought, times returned)}, baskets: per sequence the ranker's baskets (item indices),
        customer_ids -> per sequence the chosen [(item index, score)]."""
        B = len(seqs)
        T = max(len(s) for s in seqs)
        ids = torch.zeros((B, T), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, :len(s)] = torch.as_tensor(s)
        last = torch.as_tensor([len(s) - 1 for s in seqs])
        h = self.last_hidden(ids, last)
        logp = F.log_softmax((h @ self.item_head.t()).double(), dim=-1)  # (B, items)
        if self.ranker:
            p = self.rank(logp, baskets, customer_ids).exp()
        else:
            p = logp.exp()
        if not self.ranker and self.repeat_weight > 0:
            copy = torch.zeros_like(p)
            for r, s in enumerate(seqs):
                mass = self.copy_mass(s)
                total = sum(mass.values())
                if total > 0:
                    idx = torch.as_tensor(list(mass.keys()))
                    copy[r, idx] = torch.as_tensor(list(mass.values()), dtype=torch.float64) / total
            p = (1 - self.repeat_weight) * p + self.repeat_weight * copy
        # Returns count against an item; new items: the best `top` allowed items the customer
        # never bought, for all rows at once; re-buys: the few items bought, per row.
        rows, cols, kept_rows, kept_cols, kept = [], [], [], [], []
        for r, act in enumerate(activities):
            for j, (b, rt, _) in act.items():
                if rt:
                    kept_rows.append(r)
                    kept_cols.append(j)
                    kept.append(kept_share(b, rt))
                if b:
                    rows.append(r)
                    cols.append(j)
        if kept:
            p[kept_rows, kept_cols] *= torch.tensor(kept, dtype=torch.float64)
        bought = torch.zeros(p.shape, dtype=torch.bool)
        bought[rows, cols] = True
        fresh_values, fresh_index = torch.topk(
            p.masked_fill(bought | ~self.allowed, -math.inf), min(top, p.shape[1]), dim=-1)
        out = []
        for r, act in enumerate(activities):
            fresh = [(j, v) for j, v in zip(fresh_index[r].tolist(), fresh_values[r].tolist())
                     if v != -math.inf]
            row = p[r]
            again = [(j, float(row[j])) for j, (b, _, _) in act.items()
                     if b > 0 and self.allowed_list[j]]
            out.append(self.choose(again, fresh, top))
        return out

    def rank(self, logp, baskets, customer_ids):
        """The ranker's log-probabilities (B, items) from the GPT's log-softmax `logp` (B, items),
        float64, as BasketRanker::apply computes them."""
        k = self.ranker
        w = k["weights"]
        B, U = logp.shape
        share = self.pool.shares(baskets, customer_ids)  # (B, U), normalized rows
        M = ((1 - k["mix"]) * logp.exp() + k["mix"] * share).log()
        # The customer's own purchases: c(j), d(j), L(j) and log(1 + n).
        count = torch.zeros((B, U), dtype=torch.float64)
        decayed = torch.zeros((B, U), dtype=torch.float64)
        last = torch.zeros((B, U), dtype=torch.float64)
        rows, cols, cvals, dvals, lrows, lcols = [], [], [], [], [], []
        decay = k["decay"]
        for r, bs in enumerate(baskets):
            n = len(bs)
            feats = {}  # item index -> [c, d], d summed oldest basket first
            for t, b in enumerate(bs):
                f = decay ** (n - 1 - t)
                for j in b:
                    cd = feats.setdefault(j, [0.0, 0.0])
                    cd[0] += 1
                    cd[1] += f
            for j, (c, d) in feats.items():
                rows.append(r)
                cols.append(j)
                cvals.append(c)
                dvals.append(d)
            lrows.extend([r] * len(bs[-1]))
            lcols.extend(bs[-1])
        idx = (torch.as_tensor(rows), torch.as_tensor(cols))
        count[idx] = torch.tensor(cvals, dtype=torch.float64)
        decayed[idx] = torch.tensor(dvals, dtype=torch.float64)
        last[torch.as_tensor(lrows), torch.as_tensor(lcols)] = 1.0
        log_baskets = torch.tensor([math.log1p(len(bs)) for bs in baskets],
                                   dtype=torch.float64)[:, None]
        bought = count > 0
        # z = explore M + H (repeat + count log(1 + c) + decayed d + last L + baskets log(1 + n)
        #                    + repeat_explore M), added in the engine's order.
        repeat = ((((w["repeat"] + w["count"] * count.log1p()) + w["decayed"] * decayed)
                   + w["last"] * last) + w["baskets"] * log_baskets) + w["repeat_explore"] * M
        z = w["explore"] * M
        z = torch.where(bought, z + repeat, z)
        top = z.max(dim=1, keepdim=True).values
        lse = top + (z - top).exp().cumsum(dim=1)[:, -1:].log()  # the sum in item order
        return z - lse

    def better_key(self, pair):
        j, score = pair
        return (-score, -self.counts[j], self.items[j]["id"])

    def choose(self, again, fresh, top):
        """The mixed list (Recommender's choose_candidates): [(item index, score)] of re-buys and
        of new items -> the chosen, best first."""
        again = sorted(again, key=self.better_key)[:top]
        fresh = sorted(fresh, key=self.better_key)[:top]
        again_positive = sum(1 for _, v in again if v > 0)
        fresh_positive = sum(1 for _, v in fresh if v > 0)
        n_again = min(top // 2, again_positive)
        n_fresh = min(top - n_again, fresh_positive)
        n_again = min(top - n_fresh, again_positive)
        chosen = again[:n_again] + fresh[:n_fresh]
        rest = sorted(again[n_again:] + fresh[n_fresh:], key=self.better_key)
        chosen += rest[:top - len(chosen)]
        return sorted(chosen, key=self.better_key)

    def prepare(self, history):
        """(tokens, unknown item ids, has purchases, activity, the ranker's baskets) of a history;
        activity: {item index: [times bought, times returned, last purchase date]}."""
        units = baskets_of(history)
        unknown, seen = [], set()
        for u in units:
            for item in u:
                if item not in self.item_token and item not in seen:
                    seen.add(item)
                    unknown.append(item)
        tokens, _ = build_sequence(units, self.item_token, self.format, self.n_ctx)
        has_purchases = bool(units)
        known = known_baskets(units, self.item_index) if self.ranker else []
        return tokens, unknown, has_purchases, self.activity(history), known

    def activity(self, history):
        """Per known item: [times bought, times returned, last purchase date], in occasions (an
        order, else a date, else the event) as item_activity counts them."""
        events = history["events"] if isinstance(history, dict) else history
        order = sorted(range(len(events)), key=lambda i: event_time(events[i]))
        act, counted = {}, set()
        for i in order:
            e = events[i]
            kind = e.get("type", "purchase")
            if kind not in ("purchase", "return"):
                continue
            tok = self.item_token.get(str(e["item"]))
            if tok is None:
                continue
            j = tok - self.n_special
            a = act.setdefault(j, [0, 0, None])
            date = e.get("timestamp", e.get("date"))
            if kind == "purchase" and date is not None:
                a[2] = str(date)[:10]
            key = (j, kind, "order:" + str(e["order"]) if e.get("order") is not None
                   else "date:" + str(date)[:10] if date is not None else f"event:{i}")
            if key in counted:
                continue
            counted.add(key)
            a[0 if kind == "purchase" else 1] += 1
        return act

    def result(self, line, history, tokens, unknown, has_purchases, act, scored, top):
        out = {"line": line, "customer_id": history.get("customer_id", "")}
        if len(tokens) > 1:
            out["score"], out["fallback"] = "probability", None
            pairs = scored
        else:
            out["score"] = "popularity"
            out["fallback"] = ("none of the purchased items is known to the model"
                               if has_purchases else "the history has no purchases")
            again, fresh = [], []
            for j in range(len(self.items)):
                if self.allowed_list[j]:
                    b, rt, _ = act.get(j, (0, 0, None))
                    (again if b > 0 else fresh).append((j, self.counts[j] * kept_share(b, rt)))
            pairs = self.choose(again, fresh, top)
        if unknown:
            out["unknown_items"] = unknown
        suggestions = []
        for j, score in pairs:
            b, rt, last = act.get(j, (0, 0, None))
            suggestions.append({"item": self.items[j]["id"], "name": self.items[j].get("name", ""),
                                "price": self.items[j].get("price"), "score": score,
                                "purchased_before": b > 0, "times_bought": b,
                                "last_bought": last, "times_returned": rt})
        out["suggestions"] = suggestions
        return out


def customer_id(history):
    c = history.get("customer_id") if isinstance(history, dict) else None
    return "" if c is None else str(c)


def kept_share(bought, returned):
    if returned == 0:
        return 1.0
    if returned >= bought:
        return 0.0
    return 1.0 - returned / bought


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line for line in f if line.strip()]


def score_job(model, lines, top, batch_tokens, write):
    """Scores every line; returns the job's FLOPs."""
    prepared = []
    for n, text in enumerate(lines, 1):
        history = json.loads(text)
        prepared.append((n, history) + model.prepare(history))
    order = sorted((i for i, p in enumerate(prepared) if len(p[2]) > 1),
                   key=lambda i: len(prepared[i][2]))
    scored = [[] for _ in prepared]
    flops = 0
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and len(prepared[order[end]][2]) * (end - start + 1) <= batch_tokens:
            end += 1
        batch = order[start:end]
        seqs = [prepared[i][2] for i in batch]
        chosen = model.score_batch(seqs, [prepared[i][5] for i in batch],
                                   [prepared[i][6] for i in batch],
                                   [customer_id(prepared[i][1]) for i in batch], top)
        for i, s in zip(batch, chosen):
            scored[i] = s
        for s in seqs:
            flops += flops_per_sequence(len(s), model.C, model.L, model.n_inner, len(model.items))
        start = end
    for (n, history, tokens, unknown, has_purchases, act, _), s in zip(prepared, scored):
        write(json.dumps(model.result(n, history, tokens, unknown, has_purchases, act, s, top),
                         ensure_ascii=False, separators=(",", ":")) + "\n")
    return flops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--input")
    ap.add_argument("--output", default=os.devnull)
    ap.add_argument("--latency")
    ap.add_argument("--suggest")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--batch-tokens", type=int, default=8192)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with torch.inference_mode():
        model = ItemModel(args.model)
        if args.suggest:
            with open(args.suggest, encoding="utf-8") as f:
                text = f.read()
            lines = [json.dumps(json.loads(text))]
            score_job(model, lines, args.top, args.batch_tokens, sys.stdout.write)
            return
        if args.latency:
            lines = read_lines(args.latency)
            if args.limit:
                lines = lines[:args.limit]
            histories = [json.loads(text) for text in lines]
            times = []
            for n, history in enumerate(histories, 1):
                # A parsed history in, its result object out (as Recommender::recommend).
                t0 = time.perf_counter()
                tokens, unknown, has_purchases, act, known = model.prepare(history)
                scored = (model.score_batch([tokens], [act], [known], [customer_id(history)],
                                            args.top) if len(tokens) > 1
                          else [[]])
                model.result(n, history, tokens, unknown, has_purchases, act, scored[0], args.top)
                times.append(time.perf_counter() - t0)
            times.sort()
            print(json.dumps({"side": "pytorch", "threads": args.threads, "customers": len(times),
                              "median_ms": 1e3 * statistics.median(times),
                              "p90_ms": 1e3 * times[int(0.9 * (len(times) - 1))],
                              "mean_ms": 1e3 * statistics.fmean(times)}))
            return
        t0, cpu0 = time.perf_counter(), time.process_time()
        lines = read_lines(args.input)
        with open(args.output, "w", encoding="utf-8") as out:
            flops = score_job(model, lines, args.top, args.batch_tokens, out.write)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"side": "pytorch", "threads": args.threads, "customers": len(lines),
                      "seconds": seconds, "cpu_seconds": cpu_seconds, "flops": flops,
                      "process_seconds": time.perf_counter() - START,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
