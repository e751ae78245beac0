"""The SASRec protocol (docs/EVALUATION.md; Kang & McAuley, ICDM 2018, `util.py` `data_partition`
and `evaluate`) in Python, as `gptrec eval --protocol sasrec` implements it in C++: the split of
each user's item sequence and the ranking metrics (sampled against 100 negatives, full, and full
with the input's items excluded). tools/train.py validates with it; tools/eval_sasrec.py checks
the C++ numbers with it.
"""
import gzip
import json

import numpy as np
import torch

from . import baskets as bk

K = 10


def split(sequences):
    """SASRec's data_partition. sequences: {user: [item, ...]} in time order.
    Returns (train, valid, test): train {user: items}, every user (users with >= 3 items: all but
    the last two; the others: everything); valid and test {user: item} for users with >= 3."""
    train, valid, test = {}, {}, {}
    for u, items in sequences.items():
        if len(items) >= 3:
            train[u], valid[u], test[u] = items[:-2], items[-2], items[-1]
        else:
            train[u] = list(items)
    return train, valid, test


def id_key(item):
    """The order of "lower item id" in ties: numerically when the id is a number."""
    return (0, int(item), "") if item.isdigit() and len(item) < 19 else (1, 0, item)


class Universe:
    """Every item of the data, indexed in id order (the order ties are broken in)."""

    def __init__(self, sequences):
        self.ids = sorted({i for items in sequences.values() for i in items}, key=id_key)
        self.index = {i: j for j, i in enumerate(self.ids)}

    def __len__(self):
        return len(self.ids)


def draw_negatives(universe, train, users, rng, n=100):
    """SASRec's sampled candidates: n items drawn uniformly from the universe, each redrawn while
    it is in the user's training part. Returns {user: universe indices}."""
    out = {}
    for u in users:
        rated = {universe.index[i] for i in train[u]}
        neg = []
        while len(neg) < n:
            j = int(rng.integers(len(universe)))
            if j not in rated:
                neg.append(j)
        out[u] = np.array(neg, dtype=np.int64)
    return out


def read_candidates(path, universe):
    """A task file (`{"customer_id", "split", "target", "negatives", "in_util_subset"}` per line,
    JSONL or .jsonl.gz) -> {user: (universe indices of the negatives, in_util_subset)}."""
    opener = gzip.open if path.endswith(".gz") else open
    out = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[str(r["customer_id"])] = (np.array([universe.index[str(i)] for i in r["negatives"]], dtype=np.int64),
                                              bool(r.get("in_util_subset", False)))
    return out


def _metrics(rank, k):
    hit = rank < k
    return hit.double(), torch.where(hit, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))


def rank_metrics(scores, targets, negatives, inputs, k=K):
    """Per-user HR@k and NDCG@k of one batch.
    scores: (B, U) float tensor over universe indices (-inf: unscored); targets: (B,) universe
    indices; negatives: (B, n) universe indices; inputs: B lists of universe indices.
    A candidate ranks above the target when its score is higher, or equal with a lower id; the
    target's own index never does. Returns {"sampled"|"full"|"full_excl": (hr (B,), ndcg (B,))}."""
    B, U = scores.shape
    rows = torch.arange(B)
    ts = scores[rows, targets][:, None]
    lower = torch.arange(U)[None, :] < targets[:, None]
    above = (scores > ts) | ((scores == ts) & lower)  # the target itself is never above itself
    full = above.sum(dim=1)
    in_input = torch.zeros((B, U), dtype=torch.bool)
    in_input[torch.cat([torch.full((len(inp),), b, dtype=torch.long) for b, inp in enumerate(inputs)]),
             torch.cat([torch.as_tensor(inp, dtype=torch.long) for inp in inputs])] = True
    excl = (above & ~in_input).sum(dim=1)
    excl[in_input[rows, targets]] = k  # a target inside the input counts as a miss
    sampled = (above[rows[:, None], negatives] & (negatives != targets[:, None])).sum(dim=1)
    return {"sampled": _metrics(sampled, k), "full": _metrics(full, k), "full_excl": _metrics(excl, k)}


def model_scorer(model, item_ids, universe, n_special):
    """score_fn for evaluate(): the item model's logits at the last position of each input (items
    format: <bos> and the most recent n_positions - 1 items), over universe indices (items the
    vocabulary lacks: -inf), as `gptrec eval` scores. Also keeps, for each scored input, the
    log-sum-exp over the item tokens (for the loss), in `score_fn.logsumexp`."""
    token_of_universe = torch.tensor([item_ids.get(i, n_special - 1) for i in universe.ids])
    known = token_of_universe >= n_special
    n_positions = model.config["n_positions"]

    def score_fn(inputs):
        seqs = [bk.build_sequence([[i] for i in inp], item_ids, "items", n_positions)[0] for inp in inputs]
        # Inputs of similar length run together (right padding never changes a causal model's
        # last real position, but costs as much as real tokens).
        order = sorted(range(len(seqs)), key=lambda r: len(seqs[r]))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            h_last = torch.empty((len(seqs), model.config["n_embd"]))
            for start in range(0, len(order), 64):
                rows = order[start:start + 64]
                T = len(seqs[rows[-1]])
                ids = torch.zeros((len(rows), T), dtype=torch.long)
                for r, q in enumerate(rows):
                    ids[r, :len(seqs[q])] = torch.tensor(seqs[q])
                h, E = model.hidden(ids)
                h_last[torch.tensor(rows)] = h[torch.arange(len(rows)), torch.tensor([len(seqs[q]) - 1 for q in rows])]
            logits = h_last @ E.T
        model.train(was_training)
        score_fn.logsumexp.append(torch.logsumexp(logits[:, n_special:], dim=1))
        out = logits[:, token_of_universe.clamp(min=0)]
        out[:, ~known] = float("-inf")
        return out

    score_fn.logsumexp = []
    return score_fn


def evaluate(score_fn, cases, universe, negatives, k=K, batch=512):
    """Means of HR@k and NDCG@k over `cases` [(user, input items, target item)].
    score_fn(list of inputs) -> (B, U) scores (tensor) over universe indices. negatives: {user: indices}.
    Returns ({"sampled"|"full"|"full_excl": {"hr", "ndcg"}}, per-user sampled (hr, ndcg) arrays,
    the target scores)."""
    parts = {name: ([], []) for name in ("sampled", "full", "full_excl")}
    target_scores = []
    for start in range(0, len(cases), batch):
        chunk = cases[start:start + batch]
        scores = score_fn([c[1] for c in chunk])
        targets = torch.tensor([universe.index[c[2]] for c in chunk])
        neg = torch.as_tensor(np.stack([negatives[c[0]] for c in chunk]))
        inputs = [[universe.index[i] for i in c[1]] for c in chunk]
        target_scores.append(scores[torch.arange(len(chunk)), targets])
        for name, (hr, ndcg) in rank_metrics(scores, targets, neg, inputs, k).items():
            parts[name][0].append(hr)
            parts[name][1].append(ndcg)
    out, per_user = {}, None
    for name, (hr, ndcg) in parts.items():
        hr, ndcg = torch.cat(hr).numpy(), torch.cat(ndcg).numpy()
        out[name] = {"hr": float(hr.mean()), "ndcg": float(ndcg.mean())}
        if name == "sampled":
            per_user = (hr, ndcg)
    return out, per_user, torch.cat(target_scores).numpy()
