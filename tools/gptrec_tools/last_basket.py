"""The last-basket protocol of docs/EVALUATION.md: the split, the four classic baselines, the
ranking with its tie-breaks and the metrics (HR, Recall, NDCG at K). `gptrec eval --protocol
last-basket` implements the same; tools/eval_last_basket.py is its cross-check.
"""
import math

import numpy as np

K = 10


def last_unit_split(units_by_customer):
    """Holds out each customer's last unit.

    units_by_customer: {customer_id: [unit, ...]} (units = baskets, oldest first).
    Returns (train, cases): train = {customer_id: every unit but the last} (customers with one
    unit contribute nothing); cases = [(customer_id, input units, held-out unit)] for the
    customers with at least 2 units, in input order.
    """
    train, cases = {}, []
    for cid, units in units_by_customer.items():
        if len(units) >= 2:
            train[cid] = units[:-1]
            cases.append((cid, units[:-1], units[-1]))
    return train, cases


class Universe:
    """The items of the training data, indexed in item id string order, with their popularity
    (number of training baskets containing the item)."""

    def __init__(self, train):
        counts = {}
        for units in train.values():
            for u in units:
                for item in set(u):
                    counts[item] = counts.get(item, 0) + 1
        self.ids = sorted(counts)
        self.index = {item: i for i, item in enumerate(self.ids)}
        self.popularity = np.array([counts[i] for i in self.ids], dtype=np.float64)

    def __len__(self):
        return len(self.ids)

    def indices(self, items):
        """Distinct universe indices of `items` (unknown items skipped), in first-seen order."""
        out = []
        for item in items:
            j = self.index.get(item)
            if j is not None and j not in out:
                out.append(j)
        return out

    def order(self, scores, excluded=None):
        """All item indices, best first: by score (descending), then popularity (descending),
        then item id (ascending); `excluded` (a boolean mask) items go last."""
        keys = [np.arange(len(self.ids)), -self.popularity, -np.asarray(scores, dtype=np.float64)]
        if excluded is not None:
            keys.append(excluded.astype(np.int8))
        return np.lexsort(keys)


class Baselines:
    """Popularity, repeat-then-popularity, item-kNN and first-order Markov, fitted on `train`."""

    names = ["popularity", "repeat-then-popularity", "item-knn", "markov"]

    def __init__(self, universe, train):
        self.u = universe
        n = len(universe)
        # Basket x item incidence of the training baskets; float32 holds these counts exactly.
        rows = [universe.indices(b) for units in train.values() for b in units]
        X = np.zeros((len(rows), n), dtype=np.float32)
        for r, idx in enumerate(rows):
            X[r, idx] = 1.0
        co = (X.T @ X).astype(np.float64)
        d = np.sqrt(np.diag(co).copy())
        self.cosine = co / np.outer(d, d)
        np.fill_diagonal(self.cosine, 0.0)  # score(j) sums over input items i != j
        del X, co
        # Consecutive basket pairs (b_t, b_t+1) of the same customer.
        src, dst = [], []
        for units in train.values():
            for t in range(len(units) - 1):
                src.append(universe.indices(units[t]))
                dst.append(universe.indices(units[t + 1]))
        A = np.zeros((len(src), n), dtype=np.float32)
        B = np.zeros((len(dst), n), dtype=np.float32)
        for r, (a, b) in enumerate(zip(src, dst)):
            A[r, a] = 1.0
            B[r, b] = 1.0
        pairs = (A.T @ B).astype(np.float64)
        from_i = A.sum(axis=0).astype(np.float64)
        self.transition = np.divide(pairs, from_i[:, None], out=np.zeros_like(pairs),
                                    where=from_i[:, None] > 0)

    def scores(self, name, input_units):
        n = len(self.u)
        if name == "popularity":
            return np.zeros(n)
        if name == "repeat-then-popularity":
            # Input items by the number of input baskets containing them, then the most recent
            # basket first: count + (index of the last basket containing it + 1) / (baskets + 1).
            s = np.zeros(n)
            count = np.zeros(n)
            last = np.zeros(n)
            for t, b in enumerate(input_units):
                idx = self.u.indices(b)
                count[idx] += 1
                last[idx] = t + 1
            seen = count > 0
            s[seen] = count[seen] + last[seen] / (len(input_units) + 1)
            return s
        if name == "item-knn":
            idx = self.u.indices(i for b in input_units for i in b)
            return self.cosine[idx].sum(axis=0) if idx else np.zeros(n)
        if name == "markov":
            idx = self.u.indices(input_units[-1]) if input_units else []
            return self.transition[idx].sum(axis=0) if idx else np.zeros(n)
        raise ValueError(name)


def metrics_at_k(top, target, k=K):
    """(hit, recall, ndcg) of a ranked list of item ids against a target set of item ids."""
    hits = [r for r, item in enumerate(top[:k]) if item in target]
    if not target:
        return None
    dcg = sum(1.0 / math.log2(r + 2) for r in hits)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(len(target), k)))
    return (1.0 if hits else 0.0, len(hits) / len(target), dcg / idcg)


class Evaluation:
    """Accumulates HR/Recall/NDCG@K per method in the two settings."""

    settings = ["next basket", "discovery"]

    def __init__(self, universe, k=K):
        self.u = universe
        self.k = k
        self.sums = {}
        self.counts = {}

    def add(self, method, input_units, held_out, scores):
        """Ranks by `scores` (over universe indices) and scores both settings for one customer."""
        input_items = set(i for b in input_units for i in b)
        target_next = set(held_out)
        target_new = target_next - input_items
        excluded = np.zeros(len(self.u), dtype=bool)
        excluded[self.u.indices(input_items)] = True
        order = self.u.order(scores)
        top_next = [self.u.ids[j] for j in order[:self.k]]
        top_new = [self.u.ids[j] for j in order[~excluded[order]][:self.k]]
        for setting, top, target in (("next basket", top_next, target_next),
                                     ("discovery", top_new, target_new)):
            m = metrics_at_k(top, target, self.k)
            if m is None:
                continue
            key = (method, setting)
            s = self.sums.setdefault(key, np.zeros(3))
            s += m
            self.counts[key] = self.counts.get(key, 0) + 1

    def result(self, method, setting):
        """{"customers", "hr", "recall", "ndcg"} for one method and setting."""
        key = (method, setting)
        n = self.counts.get(key, 0)
        s = self.sums.get(key, np.zeros(3)) / max(n, 1)
        return {"customers": n, "hr": float(s[0]), "recall": float(s[1]), "ndcg": float(s[2])}

    def methods(self):
        seen = []
        for method, _ in self.sums:
            if method not in seen:
                seen.append(method)
        return seen

    def table(self):
        """A Markdown table: one row per method, HR/Recall/NDCG@K for both settings."""
        k = self.k
        head = (f"| method | next basket HR@{k} | Recall@{k} | NDCG@{k} "
                f"| discovery HR@{k} | Recall@{k} | NDCG@{k} |")
        lines = [head, "|---|" + "---:|" * 6]
        for method in self.methods():
            cells = []
            for setting in self.settings:
                r = self.result(method, setting)
                cells += [f"{r['hr']:.4f}", f"{r['recall']:.4f}", f"{r['ndcg']:.4f}"]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        n_next = self.result(self.methods()[0], "next basket")["customers"] if self.methods() else 0
        n_new = self.result(self.methods()[0], "discovery")["customers"] if self.methods() else 0
        lines.append("")
        lines.append(f"Customers evaluated: {n_next} (next basket), {n_new} (discovery: those whose "
                     f"held-out basket has an item they never bought before).")
        return "\n".join(lines)
