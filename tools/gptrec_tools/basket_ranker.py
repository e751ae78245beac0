"""The next-basket ranker of an item model (config.json "gptrec": {"ranker": {...}}, docs/FORMATS.md
and docs/EVALUATION.md "The ranker"), in numpy: the reference the engine is checked against, and
what tools/tune_ranker.py fits.

For a customer's baskets b_1..b_n (the vocabulary items of each purchase basket, oldest first;
baskets without such items dropped) and the GPT's log-softmax log p over the item tokens:

  n(j)  the neighbour share: the mean TIFU vector (last_basket.tifu_vector) of the k pool
        customers nearest to the customer's own (Euclidean; the pool customer with the same id
        left out; ties by pool order), normalized to sum 1 (all 0 when it sums to 0)
  M(j)  = log((1 - mix) p(j) + mix n(j))
  z(j)  = w_explore M(j) + H(j) (w_repeat + w_count log(1 + c(j)) + w_decayed d(j)
                                 + w_last L(j) + w_baskets log(1 + n) + w_repeat_explore M(j))

with H(j) = 1 when j is in some basket, c(j) the number of baskets containing j,
d(j) = sum over those baskets b_t of decay^(n - t), L(j) = 1 when j is in b_n. The ranker's
scores are log-softmax(z) over the item tokens.
"""
import json
import math

import numpy as np

from . import last_basket

WEIGHTS = ["explore", "repeat", "count", "decayed", "last", "baskets", "repeat_explore"]


def item_features(baskets, n_items, decay):
    """(H, log(1 + c), d, L, log(1 + n)) of the ranker, as arrays over item indices (the last a
    scalar)."""
    n = len(baskets)
    count = np.zeros(n_items)
    decayed = np.zeros(n_items)
    last = np.zeros(n_items)
    for t, b in enumerate(baskets):
        count[b] += 1
        decayed[b] += decay ** (n - 1 - t)
    if n:
        last[baskets[-1]] = 1
    return (count > 0).astype(np.float64), np.log1p(count), decayed, last, math.log1p(n)


class NeighborPool:
    """The ranker's neighbour customers: ids and baskets (lists of item indices), with their TIFU
    vectors for the ranker's (within_decay, group_decay, groups)."""

    def __init__(self, customers, n_items, neighbors, within_decay, group_decay, groups):
        self.ids = [c for c, _ in customers]
        self.row = {c: r for r, c in enumerate(self.ids)}
        self.n_items = n_items
        self.k = int(neighbors)
        self.params = (within_decay, group_decay, int(groups))
        self.vectors = np.stack([last_basket.tifu_vector(b, n_items, *self.params) for _, b in customers]) \
            if customers else np.zeros((0, n_items))
        self.squared = last_basket.squared_norms(self.vectors)

    def share(self, baskets, customer_id):
        """n(j): the neighbours' mean vector normalized to sum 1."""
        q = last_basket.tifu_vector(baskets, self.n_items, *self.params)
        d = last_basket.squared_distances(q, self.vectors, self.squared)
        near = last_basket.nearest(d, self.row.get(customer_id))[:self.k]
        acc = np.zeros(self.n_items)
        for r in near:
            acc += self.vectors[r]
        total = sum(acc.tolist())  # summed in item order, as the engine does
        return acc / total if total > 0 else acc


def logits(log_p, baskets, share, ranker):
    """z over item indices from the GPT's log-softmax `log_p`, the baskets and the neighbour share."""
    w = ranker["weights"]
    H, log_count, decayed, last, log_baskets = item_features(baskets, len(log_p), ranker["decay"])
    M = np.log((1 - ranker["mix"]) * np.exp(log_p) + ranker["mix"] * share)
    repeat = (w["repeat"] + w["count"] * log_count + w["decayed"] * decayed + w["last"] * last
              + w["baskets"] * log_baskets + w["repeat_explore"] * M)
    return w["explore"] * M + H * repeat


def log_softmax(z):
    m = z.max()
    return z - (m + np.log(np.exp(z - m).sum()))


def known_baskets(units, item_index):
    """Baskets as lists of distinct item indices of `item_index` ({item id: index}); items it
    lacks skipped, baskets left empty dropped."""
    out = []
    for u in units:
        idx = []
        for item in u:
            j = item_index.get(str(item))
            if j is not None and j not in idx:
                idx.append(j)
        if idx:
            out.append(idx)
    return out


def load_pool(path, item_index, ranker):
    """The pool of a model directory's neighbors file ({"customers": [{"id", "baskets"}]}; items
    missing from `item_index` skipped, baskets left empty dropped)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    customers = [(str(c["id"]), known_baskets(c["baskets"], item_index)) for c in data["customers"]]
    nb = ranker["neighbors"]
    return NeighborPool(customers, len(item_index), nb["k"], nb["within_decay"], nb["group_decay"],
                        nb["groups"])
