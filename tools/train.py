#!/usr/bin/env python3
"""Trains a gptrec item model (a plain GPT-2 over item tokens, sinusoidal positions, tied head)
from customer histories and exports a model directory that the C++ engine loads as it is:
config.json, model.safetensors, items.json and README.md (docs/FORMATS.md).

Data: a histories JSONL(.gz), one customer per line,
  {"customer_id": ..., "events": [{"item", "type", "timestamp" | "date", "order"?, ...}, ...]}
Only purchase events count. Sequence formats (docs/FORMATS.md):
  baskets  <bos> items of basket 1 <sep> items of basket 2 <sep> ...; a basket is an order (or a
           calendar date); the model is trained with a next-basket multi-label loss: at <bos> and
           at every <sep>, softmax cross-entropy over the item tokens, averaged over the distinct
           items of the next basket.
  items    <bos> item item ...; one token per purchase event; next-item cross-entropy at every
           position (a "unit" below is then a single event).

Splits. --split last (the default): --holdout N removes each customer's last N units first (the
test orders: the shipped model never sees them). Of what is left, each customer's last unit is the validation target
(customers with at least 2 units left; the input is every unit before it), and the model is fitted
on the units before it; validation after every epoch selects the checkpoint (mean of Recall@10
and NDCG@10 in the "next basket" and "discovery" settings of docs/EVALUATION.md). With --refit,
a second run then trains on everything left (validation units included) for the selected
number of epochs, and that model is exported.

--split sasrec (items format): the split of the SASRec paper (docs/EVALUATION.md, "The SASRec
protocol"): customers with at least 3 events hold out the last (the test item, never seen), the
second last is the validation target (the input: every event before it) and the model is fitted on
the rest; customers with fewer events train on everything. Validation ranks the validation item
against 100 negatives sampled as the protocol says (drawn once, numpy seed 0) and against all
items, with and without the input's items; the epoch with the best NDCG@10 of the full ranking
without the input's items (the S3-Rec convention, --select full-excl, the default) or of the
sampled ranking (--select sampled) is kept. --refit then trains on the fitted events plus the
validation items. --softmax-negatives N replaces the full softmax by a sampled one.
--mask-seen leaves each position's context items out of its softmax (as the S3-Rec ranking leaves
the input's items out) and --recency-weight G weighs a target d units before the customer's last
by G^d; neither is in a shipped recipe (docs/EVALUATION.md lists what they gave on Toys).

Training windows follow the engine's truncation: <bos>, then whole units, the oldest dropped to fit
n_positions. A customer's history is cut from its end into windows of at most n_positions tokens;
each window trains every target inside it, and the cut points move randomly each epoch (each unit
is predicted from contexts of varying length). --windows every adds, for every target, the
window with the longest context that fits (as the engine builds it; slower).

The embedding table is trained as sqrt(C) x W and exported as wte = sqrt(C) x W (docs/DESIGN.md).
Seeded and deterministic (same data, arguments and thread count: same model).

Examples (the shipped default model, see models/online-retail/README.md; the SASRec Games
benchmark, models/games/README.md):
  /usr/bin/python3 tools/train.py --data ../shared/data/online-retail/histories.jsonl.gz \\
      --catalog ../shared/data/online-retail/catalog.json --out models/online-retail
  /usr/bin/python3 tools/train.py --data ../shared/data/games/histories.jsonl --out models/games \\
      --sequence-format items --split sasrec --n-positions 51 --n-embd 64 ...
"""
import argparse
import copy
import json
import math
import os
import re
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import baskets as bk  # noqa: E402
from gptrec_tools import item_gpt, last_basket, non_products, sasrec, torch_runtime  # noqa: E402

N_SPECIAL = len(bk.SPECIAL_TOKENS)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("data")
    g.add_argument("--data", required=True, help="histories JSONL, optionally .gz")
    g.add_argument("--catalog", help="catalog JSON (list of {id, name, price, ...}) for items.json names and prices")
    g.add_argument("--out", required=True, help="model directory to write")
    g.add_argument("--sequence-format", choices=["baskets", "items"], default="baskets")
    g.add_argument("--split", choices=["last", "sasrec"], default="last",
                   help="last: --holdout, then each customer's last unit validates (default); "
                        "sasrec: the SASRec paper's split (items format; above)")
    g.add_argument("--holdout", type=int, default=1, metavar="N",
                   help="drop each customer's last N units before training (default 1: the test order; "
                        "--split last only)")
    g.add_argument("--max-customers", type=int, metavar="N",
                   help="use only N customers, drawn with --seed (for small fixtures)")
    g.add_argument("--min-count", type=int, default=1,
                   help="items in fewer training units are left out of the vocabulary (default 1)")
    g.add_argument("--unavailable", default="", metavar="ID,ID,...",
                   help="item ids that are not for sale: kept in the vocabulary, "
                        "marked \"available\": false in items.json so they are never suggested")
    g.add_argument("--non-products", choices=sorted(non_products.RULES), metavar="RULE",
                   help="mark the data's service lines (postage, fees, adjustments) \"product\": false "
                        "in items.json by this data set's rule (online-retail: "
                        "tools/gptrec_tools/non_products.py); they stay in the vocabulary and are read in "
                        "histories, but are never suggested nor given as a reason. Catalog entries with "
                        "\"product\": false are marked too")
    g = ap.add_argument_group("model")
    g.add_argument("--n-positions", type=int, default=512, help="context length (default 512)")
    g.add_argument("--n-embd", type=int, default=128, help="width C (default 128)")
    g.add_argument("--n-layer", type=int, default=2, help="blocks (default 2)")
    g.add_argument("--n-head", type=int, default=2, help="attention heads (default 2)")
    g.add_argument("--n-inner", type=int, help="MLP width (default 4 C)")
    g.add_argument("--activation", choices=["gelu_new", "gelu"], default="gelu_new")
    g.add_argument("--position-encoding", choices=["sinusoidal", "learned"], default="sinusoidal",
                   help="sinusoidal (default) or learned (a trained wpe table)")
    g.add_argument("--dropout", type=float, default=0.2, help="embedding, attention and residual dropout")
    g.add_argument("--customer-weight", type=float, default=0.0, metavar="ALPHA",
                   help="a customer's targets weigh n^-ALPHA, n = its number of targets (default 0; "
                        "1 weighs customers equally, as the evaluation does)")
    g.add_argument("--recency-weight", type=float, default=1.0, metavar="G",
                   help="a target d units before its customer's last weighs G^d (default 1: all alike)")
    g.add_argument("--item-dropout", type=float, default=0.0,
                   help="drop each context item token with this probability, afresh every epoch (augmentation)")
    g.add_argument("--embed-std", type=float,
                   help="std of the embedding elements at init (default: GPT-2's 0.02 x sqrt(C)); "
                        "1 starts the items above the positional signal, the final LayerNorm gain then "
                        "starts at 1/(std sqrt(C))")
    g.add_argument("--init-copy", action="store_true",
                   help="initialize the first block's attention value/output projections to the identity")
    g = ap.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=40, help="epochs of the LR schedule (default 40)")
    g.add_argument("--patience", type=int, default=8, help="stop after this many epochs without a better validation score")
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (small fixtures)")
    g.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW; default 2e-3)")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--warmup-steps", type=int, default=100)
    g.add_argument("--batch-tokens", type=int, default=8192, help="tokens per batch, padding included")
    g.add_argument("--softmax-negatives", type=int, default=0, metavar="N",
                   help="0: full softmax over all items (default); N: sampled softmax against N uniform items")
    g.add_argument("--logits-bf16", action="store_true",
                   help="multiply the item logits of the full softmax in bfloat16 (the softmax stays float32): "
                        "about 3x faster on CPUs with AVX-512 BF16, the training's dominant cost")
    g.add_argument("--mask-seen", action="store_true",
                   help="items format: leave each target position's context items (but the target) out of "
                        "its softmax, as the full-ranking evaluation leaves the input's items out")
    g.add_argument("--windows", choices=["tile", "every"], default="tile", help="how histories are cut (above)")
    g.add_argument("--no-valid", action="store_true", help="no validation: train --epochs epochs on everything")
    g.add_argument("--stop-after", type=int, metavar="E",
                   help="train only the first E epochs of the --epochs schedule (with --no-valid: a refit "
                        "for the number of epochs a selection run chose; --refit does it in one run)")
    g.add_argument("--refit", action="store_true", help="retrain on all units (validation included) for the selected epochs")
    g.add_argument("--select", choices=["full-excl", "sampled"], default="full-excl",
                   help="--split sasrec: the validation NDCG@10 that selects the epoch: full ranking "
                        "without the input's items (default) or against 100 sampled negatives")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    g.add_argument("--dtype", choices=["F16", "F32"], default="F16", help="stored weights (default F16)")
    return ap.parse_args(argv)


# ---------------------------------------------------------------- data

def load_units(path, sequence_format, max_customers=None, seed=0):
    """{customer_id: units} in file order (customers without purchases left out)."""
    out = {}
    for h in bk.read_histories(path):
        units = bk.units_of(h, sequence_format)
        if units:
            cid = str(h.get("customer_id", len(out))) if isinstance(h, dict) else str(len(out))
            out[cid] = units
    if max_customers and max_customers < len(out):
        rng = np.random.default_rng(seed)
        keep = set(rng.choice(list(out), size=max_customers, replace=False).tolist())
        out = {c: u for c, u in out.items() if c in keep}
    return out


def build_vocabulary(units_by_customer, min_count, catalog_path, unavailable=(), non_product_rule=None):
    """items.json entries in token order: by count (units containing the item) desc, then id.
    Items listed in `unavailable` stay in the vocabulary, so histories read right, but are marked
    "available": false: never suggested. Service lines (postage, fees; by `non_product_rule`, a
    non_products.RULES key, or "product": false in the catalog) are marked "product": false."""
    counts = {}
    for units in units_by_customer.values():
        for u in units:
            for item in set(u):
                counts[item] = counts.get(item, 0) + 1
    ids = sorted((i for i, c in counts.items() if c >= min_count), key=lambda i: (-counts[i], i))
    catalog = {}
    if catalog_path:
        with open(catalog_path, encoding="utf-8") as f:
            data = json.load(f)
        for e in data.get("items", data) if isinstance(data, dict) else data:
            catalog[str(e["id"] if "id" in e else e["item"])] = e
    items = []
    for i in ids:
        entry = {"id": i}
        c = catalog.get(i, {})
        for key in ("name", "price", "category"):
            if c.get(key) is not None:
                entry[key] = c[key]
        if i in unavailable:
            entry["available"] = False
        if c.get("product") is False:
            entry["product"] = False
        entry["count"] = counts[i]
        items.append(entry)
    if non_product_rule:
        non_products.mark(items, non_product_rule)
    return items


def customer_parts(units, item_ids, sequence_format):
    """Token lists and target token lists of a customer's units (units without known items dropped)."""
    parts, targets = [], []
    for u in units:
        toks = bk.unit_tokens(u, item_ids, sequence_format)
        if toks:
            parts.append(toks)
            targets.append(sorted(set(t for t in toks if t >= N_SPECIAL)))
    return parts, targets


def window(parts, targets, e, n_positions, last_only=False):
    """Context units [s, e) that fit (whole units, oldest dropped; the newest one cut to its
    newest tokens if it alone is too long), with targets: unit k+1 at the end of unit k, and
    unit 0 at <bos> when s == 0. Returns (tokens, [(position, target tokens, target unit)], s)."""
    budget = n_positions - 1
    used, s = 0, e
    while s > 0 and used + len(parts[s - 1]) <= budget:
        used += len(parts[s - 1])
        s -= 1
    tokens = [bk.BOS]
    if s == e and e > 0:  # the newest unit alone does not fit
        tokens += parts[e - 1][len(parts[e - 1]) - budget:]
        s = e - 1
        ends = [(len(tokens) - 1, e - 1)]
    else:
        ends = []
        for k in range(s, e):
            tokens += parts[k]
            ends.append((len(tokens) - 1, k))
    tgt = [] if (s > 0 or last_only and e > 0) else [(0, targets[0], 0)]
    for pos, k in ends:
        if k + 1 < len(parts) and (not last_only or k == e - 1):
            tgt.append((pos, targets[k + 1], k + 1))
    return tokens, tgt, s


def drop_items(parts, p, rng):
    """Context augmentation: each item token of each unit is dropped with probability p (a unit
    keeps at least one item; separators stay). Targets are not changed."""
    out = []
    for part in parts:
        has_sep = part[-1] == bk.SEP
        items = part[:-1] if has_sep else part
        keep = rng.random(len(items)) >= p
        if not keep.any():
            keep[rng.integers(len(items))] = True
        out.append([t for t, k in zip(items, keep) if k] + ([bk.SEP] if has_sep else []))
    return out


def make_windows(customers, n_positions, rng, mode, item_dropout=0.0, customer_weight=0.0, recency=1.0):
    """Training windows of one epoch: a list of (tokens, [(position, target tokens, weight)]). A
    customer's targets weigh n^-customer_weight (n = the customer's number of targets; 0: every
    target alike, 1: every customer alike, as the evaluation averages) times recency^d (d = how many
    units the target is before the customer's last), normalized to a mean of 1."""
    out = []
    for parts, targets in customers:
        if item_dropout > 0:
            parts = drop_items(parts, item_dropout, rng)
        E = len(parts)
        w = float(E) ** -customer_weight
        e = E - 1

        def weigh(tgt):
            return [(p, t, w * recency ** (E - 1 - u)) for p, t, u in tgt]

        while True:
            tokens, tgt, s = window(parts, targets, e, n_positions)
            out.append((tokens, weigh(tgt)))
            if s == 0:
                break
            e = s + int(rng.integers(0, (e - s) // 2 + 1))
        if mode == "every":
            for e in range(1, E - 1):
                tokens, tgt, _ = window(parts, targets, e, n_positions, last_only=True)
                out.append((tokens, weigh(tgt)))
    mean_w = sum(w for _, t in out for _, _, w in t) / max(1, sum(len(t) for _, t in out))
    return [(tokens, [(p, t, w / mean_w) for p, t, w in tgt]) for tokens, tgt in out]


def make_batches(windows, batch_tokens, rng):
    """Windows of similar length grouped into batches (padding included <= batch_tokens), shuffled."""
    order = sorted(range(len(windows)), key=lambda i: (len(windows[i][0]), rng.random()))
    batches, cur, T = [], [], 0
    for i in order:
        L = len(windows[i][0])
        if cur and max(T, L) * (len(cur) + 1) > batch_tokens:
            batches.append(cur)
            cur, T = [], 0
        cur.append(i)
        T = max(T, L)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def batch_loss(model, windows, batch, negatives=0, logits_bf16=False, mask_seen=False):
    """Mean over target positions of the (weighted) multi-label softmax cross-entropy over item tokens.
    negatives > 0: sampled softmax instead, each target against `negatives` items drawn uniformly
    (shared by the batch; a draw equal to the target is left out), their logits raised by
    log(items / negatives) so that the loss estimates the full softmax's.
    logits_bf16: the full softmax's logits (and their two gradient products) multiplied in
    bfloat16, the softmax in float32.
    mask_seen: the items of the context up to a target position (the targets excepted) are left
    out of that position's softmax."""
    T = max(len(windows[i][0]) for i in batch)
    ids = torch.full((len(batch), T), bk.PAD, dtype=torch.long)
    rows, cols, tgt_pos, tgt_item, tgt_w, seen_row, seen_item = [], [], [], [], [], [], []
    for r, i in enumerate(batch):
        tokens, targets = windows[i]
        ids[r, :len(tokens)] = torch.tensor(tokens)
        for pos, items, weight in targets:
            p = len(rows)
            rows.append(r)
            cols.append(pos)
            tgt_pos += [p] * len(items)
            tgt_item += [t - N_SPECIAL for t in items]
            tgt_w += [weight / len(items)] * len(items)
            if mask_seen:
                seen = {t for t in tokens[1:pos + 1] if t >= N_SPECIAL} - set(items)
                seen_row += [p] * len(seen)
                seen_item += [t - N_SPECIAL for t in seen]
    if not rows:
        return None
    h, E = model.hidden(ids)
    h = h[torch.tensor(rows), torch.tensor(cols)]
    tgt_pos, tgt_item = torch.tensor(tgt_pos), torch.tensor(tgt_item)
    if negatives:
        items = E[N_SPECIAL:]
        neg = torch.randint(items.shape[0], (negatives,))
        positive = (h[tgt_pos] * items[tgt_item]).sum(-1)
        sampled = (h @ items[neg].T)[tgt_pos] + math.log(items.shape[0] / negatives)
        sampled = sampled.masked_fill(neg[None, :] == tgt_item[:, None], float("-inf"))
        picked = positive - torch.logsumexp(torch.cat([positive[:, None], sampled], dim=1), dim=1)
    else:
        if logits_bf16:
            logits = (h.bfloat16() @ E[N_SPECIAL:].bfloat16().T).float()
        else:
            logits = h @ E[N_SPECIAL:].T
        if seen_row:
            logits = logits.index_put((torch.tensor(seen_row), torch.tensor(seen_item)),
                                      torch.tensor(float("-inf")))
        picked = F.log_softmax(logits, dim=-1)[tgt_pos, tgt_item]
    return -(picked * torch.tensor(tgt_w)).sum() / len(rows)


# ---------------------------------------------------------------- validation

def universe_scores(item_scores, token_of_universe):
    """Scores over universe indices; items the vocabulary lacks (index -1) get -inf."""
    out = item_scores[np.maximum(token_of_universe, 0)].astype(np.float64)
    out[token_of_universe < 0] = -np.inf
    return out


def validate(model, item_ids, sequence_format, universe, cases, token_of_universe):
    """Validation metrics of the model on `cases` (docs/EVALUATION.md) and the mean
    multi-label loss of the held-out units."""
    scores = item_gpt.score_next_units(model, item_ids, sequence_format, [c[1] for c in cases])
    ev = last_basket.Evaluation(universe)
    loss, n = 0.0, 0
    for (cid, inputs, held_out), s in zip(cases, scores):
        ev.add("gpt", inputs, held_out, universe_scores(s, token_of_universe))
        known = [item_ids[i] - N_SPECIAL for i in set(held_out) if i in item_ids]
        if known:
            loss -= float(np.mean(s[known]))
            n += 1
    nb, dv = ev.result("gpt", "next basket"), ev.result("gpt", "discovery")
    score = (nb["recall"] + nb["ndcg"] + dv["recall"] + dv["ndcg"]) / 4
    return {"loss": loss / max(n, 1), "next": nb, "discovery": dv, "score": score}


def last_basket_validation(item_ids, sequence_format, universe, cases, token_of_universe):
    """validate() as train_run calls it: model -> (curve row fields, selection score)."""
    def run(model):
        v = validate(model, item_ids, sequence_format, universe, cases, token_of_universe)
        return ({"valid_loss": v["loss"], "valid_score": v["score"],
                 "next_recall": v["next"]["recall"], "next_ndcg": v["next"]["ndcg"],
                 "disc_recall": v["discovery"]["recall"], "disc_ndcg": v["discovery"]["ndcg"]}, v["score"])
    return run


def sasrec_validation(item_ids, universe, cases, negatives, select="full-excl"):
    """The SASRec protocol on the validation items (cases: [(user, input items, item)]):
    model -> (curve row fields, selection score = the NDCG@10 of the `select` ranking)."""
    def run(model):
        score_fn = sasrec.model_scorer(model, item_ids, universe, N_SPECIAL)
        m, _, target_logits = sasrec.evaluate(score_fn, cases, universe, negatives)
        nll = torch.cat(score_fn.logsumexp).numpy() - target_logits
        loss = float(nll[np.isfinite(nll)].mean()) if np.isfinite(nll).any() else 0.0
        return ({"valid_loss": loss, "excl_recall": m["full_excl"]["hr"], "excl_ndcg": m["full_excl"]["ndcg"],
                 "hr": m["sampled"]["hr"], "ndcg": m["sampled"]["ndcg"],
                 "full_hr": m["full"]["hr"], "full_ndcg": m["full"]["ndcg"]},
                m["full_excl" if select == "full-excl" else "sampled"]["ndcg"])
    return run


# ---------------------------------------------------------------- training

def train_run(args, customers, item_ids, n_vocab, epochs, valid=None, log=print):
    """Trains one model. valid = a function model -> (curve row fields, score) or None.
    Returns (model at the best validation epoch or the last one, history rows, best epoch)."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = item_gpt.ItemGPT(n_vocab, args.n_positions, args.n_embd, args.n_layer, args.n_head,
                             args.n_inner, args.dropout, args.activation, embed_std=args.embed_std,
                             position_encoding=args.position_encoding)
    if args.init_copy:
        model.init_copy()
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    steps_per_epoch = len(make_batches(make_windows(customers, args.n_positions, np.random.default_rng(0),
                                                    args.windows), args.batch_tokens, np.random.default_rng(0)))
    total = max(1, args.epochs * steps_per_epoch)

    def lr_at(step):
        if step < args.warmup_steps:
            return args.lr * (step + 1) / args.warmup_steps
        progress = min(1.0, (step - args.warmup_steps) / max(1, total - args.warmup_steps))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    history, best, best_state, best_epoch, step = [], None, None, 0, 0
    for epoch in range(1, min(epochs, args.stop_after or epochs) + 1):
        t0 = time.time()
        model.train()
        windows = make_windows(customers, args.n_positions, rng, args.windows, args.item_dropout,
                               args.customer_weight, args.recency_weight)
        batches = make_batches(windows, args.batch_tokens, rng)
        total_loss, n_batches = 0.0, 0
        for batch in batches:
            loss = batch_loss(model, windows, batch, args.softmax_negatives, args.logits_bf16, args.mask_seen)
            if loss is None:
                continue
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            total_loss += float(loss)
            n_batches += 1
            if args.max_steps and step >= args.max_steps:
                break
        row = {"epoch": epoch, "steps": step, "train_loss": total_loss / max(n_batches, 1),
               "seconds": time.time() - t0}
        if valid is not None:
            fields, score = valid(model)
            row.update(fields)
            if best is None or score > best:
                best, best_epoch = score, epoch
                best_state = copy.deepcopy(model.state_dict())
        history.append(row)
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            + ("  *" if best_epoch == epoch else ""))
        if args.max_steps and step >= args.max_steps:
            break
        if valid is not None and epoch - best_epoch >= args.patience:
            log(f"no better validation score for {args.patience} epochs: stopping")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch or len(history)


# ---------------------------------------------------------------- README

def curve_table(history):
    if "hr" in history[0]:
        lines = ["| epoch | train loss | valid loss | Recall@10 | NDCG@10 | full HR@10 | full NDCG@10 "
                 "| sampled HR@10 | sampled NDCG@10 | seconds |",
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in history:
            lines.append(f"| {r['epoch']} | {r['train_loss']:.4f} | {r['valid_loss']:.4f} | {r['excl_recall']:.4f} "
                         f"| {r['excl_ndcg']:.4f} | {r['full_hr']:.4f} | {r['full_ndcg']:.4f} | {r['hr']:.4f} "
                         f"| {r['ndcg']:.4f} | {r['seconds']:.0f} |")
    elif "valid_loss" in history[0]:
        lines = ["| epoch | train loss | valid loss | next R@10 | next NDCG@10 | disc. R@10 | disc. NDCG@10 |",
                 "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in history:
            lines.append(f"| {r['epoch']} | {r['train_loss']:.4f} | {r['valid_loss']:.4f} | {r['next_recall']:.4f} "
                         f"| {r['next_ndcg']:.4f} | {r['disc_recall']:.4f} | {r['disc_ndcg']:.4f} |")
    else:
        lines = ["| epoch | train loss |", "|---:|---:|"]
        lines += [f"| {r['epoch']} | {r['train_loss']:.4f} |" for r in history]
    return "\n".join(lines)


def replace_section(text, name, body):
    """Replaces (or appends) the block between <!-- name:begin --> and <!-- name:end -->."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def write_readme(path, args, command, config, n_items, stats, history, best_epoch, refit_history, seconds):
    readme = os.path.join(path, "README.md")
    text = open(readme, encoding="utf-8").read() if os.path.exists(readme) else (
        f"# {os.path.basename(os.path.abspath(path))}\n\nA gptrec item model trained by tools/train.py.\n")
    hp = {k: getattr(args, k) for k in (
        "sequence_format", "split", "holdout", "position_encoding", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
        "activation", "dropout", "item_dropout", "customer_weight", "embed_std", "init_copy", "epochs", "patience", "lr",
        "weight_decay", "warmup_steps", "batch_tokens", "windows", "refit", "seed", "dtype", "min_count",
        "max_customers", "max_steps", "stop_after", "softmax_negatives", "logits_bf16", "mask_seen", "recency_weight")}
    if args.split == "sasrec":
        hp["select"] = args.select
    held_out = (f"each customer's last {args.holdout} held out" if args.split == "last" else
                "SASRec split: customers with at least 3 held out their last (test), "
                + ("the second last trained on (--no-valid)" if args.no_valid else "validated on the second last"))
    body = ["## Training", "", "Retrain (from the repository root, with the data beside it):", "", "```sh",
            command, "```", "",
            f"- data: {stats['customers']} customers, {stats['units']} training {stats['unit_name']} "
            f"({held_out}), {n_items} items in the vocabulary",
            f"- model: {config['n_layer']} layers, width {config['n_embd']}, {config['n_head']} heads, "
            f"MLP {config['n_inner']}, context {config['n_positions']}, {config['activation_function']}, "
            f"{args.position_encoding} positions, tied head; {stats['parameters']:,} parameters, stored {args.dtype}",
            (f"- selection: none (--no-valid): {len(history)} epochs of a {args.epochs}-epoch schedule, "
             "on the training and validation units" if args.no_valid else
             f"- selection: best validation epoch {best_epoch}"
             + (f" ({args.select} NDCG@10)" if args.split == "sasrec" and history and "hr" in history[0] else "")
             + (" (then refitted on all training units)" if refit_history else "")),
            f"- training time: {seconds / 60:.1f} min on {args.threads} CPU threads", "",
            "Hyper-parameters:", "", "```json", json.dumps(hp, indent=1), "```", "",
            ("Training curve (validation: each customer's last training order, predicted from the ones "
             "before it; metrics as in docs/EVALUATION.md):" if args.split == "last" else
             "Training curve (validation: the second-last item of each customer with at least 3, predicted "
             "from the ones before it, ranked as in docs/EVALUATION.md, \"The SASRec protocol\": against all "
             "items but the input's (Recall@10, NDCG@10), against all items (full) and against 100 sampled "
             "negatives (sampled); seconds: training time of the epoch):"),
            "", curve_table(history)]
    if refit_history:
        body += ["", "Refit on all training units:", "", curve_table(refit_history)]
    with open(readme, "w", encoding="utf-8") as f:
        f.write(replace_section(text, "train.py", "\n".join(body)))


# ---------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    torch_runtime.keep_freed_memory()
    warning = torch_runtime.reference_blas_warning()
    if warning:
        print("train.py: " + warning, file=sys.stderr, flush=True)
    torch.set_num_threads(args.threads)
    t_start = time.time()

    def log(msg):
        print(msg, flush=True)

    if args.mask_seen and args.softmax_negatives:
        sys.exit("train.py: --mask-seen works on the full softmax; it cannot go with --softmax-negatives")
    units = load_units(args.data, args.sequence_format, args.max_customers, args.seed)
    if args.split == "sasrec":
        if args.sequence_format != "items":
            sys.exit("train.py: --split sasrec needs --sequence-format items")
        train, valid_item, _ = sasrec.split({c: [u[0] for u in us] for c, us in units.items()})
        trainable = {c: [[i] for i in train[c] + ([valid_item[c]] if c in valid_item else [])] for c in train}
    else:
        trainable = {c: u[:-args.holdout] if args.holdout else u for c, u in units.items()}
    trainable = {c: u for c, u in trainable.items() if u}
    unavailable = {i for i in args.unavailable.split(",") if i}
    items = build_vocabulary(trainable, args.min_count, args.catalog, unavailable, args.non_products)
    item_ids = {e["id"]: N_SPECIAL + j for j, e in enumerate(items)}
    n_vocab = N_SPECIAL + len(items)
    log(f"{len(units)} customers, {len(trainable)} with training units, "
        f"{sum(map(len, trainable.values()))} units, {len(items)} items")

    def parts_of(by_customer):
        out = [customer_parts(u, item_ids, args.sequence_format) for u in by_customer.values()]
        return [p for p in out if p[0]]

    history, best_epoch, refit_history = [], args.epochs, []
    if args.no_valid:
        model, history, _ = train_run(args, parts_of(trainable), item_ids, n_vocab, args.epochs, log=log)
    elif args.split == "sasrec":
        fit = {c: [[i] for i in seq] for c, seq in train.items() if seq}
        cases = [(c, train[c], valid_item[c]) for c in train if c in valid_item]
        universe = sasrec.Universe({c: [u[0] for u in us] for c, us in units.items()})
        negatives = sasrec.draw_negatives(universe, train, [c[0] for c in cases], np.random.default_rng(0))
        log(f"validation: {len(cases)} customers, {len(universe)} items ranked")
        model, history, best_epoch = train_run(args, parts_of(fit), item_ids, n_vocab, args.epochs,
                                               valid=sasrec_validation(item_ids, universe, cases, negatives,
                                                                       args.select),
                                               log=log)
        log(f"best validation epoch {best_epoch}")
        if args.refit:
            log(f"refit on the training and validation items for {best_epoch} epochs")
            model, refit_history, _ = train_run(args, parts_of(trainable), item_ids, n_vocab, best_epoch, log=log)
    else:
        fit, cases = last_basket.last_unit_split(trainable)
        universe = last_basket.Universe(fit)
        token_of_universe = np.array([item_ids.get(i, N_SPECIAL - 1) - N_SPECIAL for i in universe.ids])
        base = last_basket.Baselines(universe, fit)
        ev = last_basket.Evaluation(universe)
        for cid, inputs, held_out in cases:
            for name in base.names:
                ev.add(name, inputs, held_out, base.scores(name, inputs))
        log("validation baselines:\n" + ev.table())
        model, history, best_epoch = train_run(args, parts_of(fit), item_ids, n_vocab, args.epochs,
                                               valid=last_basket_validation(item_ids, args.sequence_format,
                                                                            universe, cases, token_of_universe),
                                               log=log)
        log(f"best validation epoch {best_epoch}")
        if args.refit:
            log(f"refit on all training units for {best_epoch} epochs")
            model, refit_history, _ = train_run(args, parts_of(trainable), item_ids, n_vocab, best_epoch, log=log)
    seconds = time.time() - t_start

    config = item_gpt.export_model_dir(args.out, model, args.sequence_format, items, args.dtype,
                                       metadata={"generator": "tools/train.py"})
    command = "/usr/bin/python3 tools/train.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    fitted = train if args.split == "sasrec" and not (args.refit or args.no_valid) else trainable
    stats = {"customers": len(trainable), "units": sum(map(len, fitted.values())),
             "unit_name": "orders" if args.sequence_format == "baskets" else "events",
             "parameters": sum(p.numel() for p in model.parameters())}
    write_readme(args.out, args, command, config, len(items), stats, history, best_epoch, refit_history, seconds)
    log(f"wrote {args.out} in {seconds / 60:.1f} min")
    return model


if __name__ == "__main__":
    main()
