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
        # tie_rank[j]: the position of item j in the tie-break order (popularity desc, id asc).
        self.tie_rank = np.empty(len(self.ids), dtype=np.int64)
        self.tie_rank[np.lexsort((np.arange(len(self.ids)), -self.popularity))] = np.arange(len(self.ids))

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

    def top(self, scores, k, excluded=None):
        """The first k items of order(scores) that are not `excluded` (fewer if fewer are left),
        as universe indices: exactly order(scores)[~excluded][:k], without sorting everything."""
        s = np.asarray(scores, dtype=np.float64)
        allowed = np.ones(len(s), dtype=bool) if excluded is None else ~excluded
        n = int(allowed.sum())
        if n <= k:
            order = self.order(s)
            return order[allowed[order]][:k]
        masked = np.where(allowed, s, -np.inf)
        kth = np.partition(masked, len(s) - k)[len(s) - k]
        if kth == -np.inf:  # allowed items with -inf scores compete with the excluded ones
            order = self.order(s)
            return order[allowed[order]][:k]
        cand = np.nonzero(masked >= kth)[0]
        return cand[np.lexsort((self.tie_rank[cand], -s[cand]))][:k]


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


def selection_score(evaluation, method):
    """What the hyper-parameters of a method are chosen by (on validation): the mean of Recall@K
    and NDCG@K over the two settings, as tools/train.py chooses its checkpoint."""
    nb, dv = evaluation.result(method, "next basket"), evaluation.result(method, "discovery")
    return (nb["recall"] + nb["ndcg"] + dv["recall"] + dv["ndcg"]) / 4


def basket_indices(universe, units):
    """Each unit as the distinct universe indices of its items."""
    return [universe.indices(u) for u in units]


class TopFrequency:
    """Personal top-frequency with time decay: score(j) = sum over the input baskets b_t that
    contain j of decay^(n - t) (t = 1..n, the newest basket weighs 1); other items 0 (so they rank
    by popularity)."""

    name = "top-frequency"
    grid = {"decay": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}
    start = {"decay": 1.0}

    def __init__(self, universe, train):
        self.u = universe

    def scores(self, cases, params):
        out = np.zeros((len(cases), len(self.u)))
        for r, (_, inputs, _) in enumerate(cases):
            n = len(inputs)
            for t, b in enumerate(basket_indices(self.u, inputs)):
                out[r, b] += params["decay"] ** (n - 1 - t)
        return out


class MarkovBackoff:
    """First-order Markov with popularity back-off (Dirichlet smoothing toward popularity):
    score(j) = mean over the distinct items i of the last input basket of
    (c(i, j) + beta p(j)) / (c(i) + beta), c as in `markov` (consecutive training basket pairs of a
    customer), p(j) = popularity(j) / number of training baskets; an item i that never starts a
    pair (c(i) = 0) gives p(j), and so does an empty last basket."""

    name = "markov-backoff"
    grid = {"beta": [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]}
    start = {"beta": 10}

    def __init__(self, universe, train):
        self.u = universe
        n = len(universe)
        self.pairs = np.zeros((n, n))
        self.starts = np.zeros(n)
        n_baskets = 0
        for units in train.values():
            idx = basket_indices(universe, units)
            n_baskets += len(units)
            for a, b in zip(idx, idx[1:]):
                self.starts[a] += 1
                self.pairs[np.ix_(a, b)] += 1
        self.p = universe.popularity / max(n_baskets, 1)

    def scores(self, cases, params):
        beta = params["beta"]
        out = np.zeros((len(cases), len(self.u)))
        for r, (_, inputs, _) in enumerate(cases):
            last = self.u.indices(inputs[-1]) if inputs else []
            if not last:
                out[r] = self.p
                continue
            for i in last:
                if self.starts[i] + beta > 0:
                    out[r] += (self.pairs[i] + beta * self.p) / (self.starts[i] + beta)
                else:
                    out[r] += self.p
            out[r] /= len(last)
        return out


def tifu_vector(baskets, n_items, within_decay, group_decay, groups):
    """TIFU-KNN's vector of a customer (TifuKnn below) over `n_items` item indices, from its
    baskets (lists of distinct indices, oldest first)."""
    n = len(baskets)
    u = np.zeros(n_items)
    if n == 0:
        return u
    if n < groups:
        sizes = [1] * n
    else:
        base, extra = divmod(n, groups)
        sizes = [base] * (groups - extra) + [base + 1] * extra
    t = 0
    for j, size in enumerate(sizes):
        g = np.zeros(n_items)
        for b in baskets[t:t + size]:
            t += 1
            g[b] += within_decay ** (n - t)
        u += group_decay ** (groups - 1 - j) * g / size
    return u / len(sizes)


def squared_norms(P):
    """|p|^2 of each row of P, summed in item order (as gptrec sums them, to the last bit)."""
    out = np.zeros(P.shape[0])
    for i in range(P.shape[1]):
        out += P[:, i] * P[:, i]
    return out


def squared_distances(q, P, norms):
    """|q - p|^2 = |q|^2 + |p|^2 - 2 q.p for every row p of P (norms = squared_norms(P)), each sum
    taken in item order as gptrec takes it: distance ties between customers are common (equal
    vectors, or none of q's items), and a tie must be a tie in both implementations."""
    nz = np.flatnonzero(q)
    qq = 0.0
    for x in q[nz].tolist():
        qq += x * x
    dot = np.zeros(P.shape[0])
    for i in nz:
        dot += q[i] * P[:, i]
    return (qq + norms) - 2.0 * dot


def nearest(distances, exclude=None):
    """Row indices by distance (nearest first, ties by row), without the row `exclude`."""
    d = np.asarray(distances, dtype=np.float64).copy()
    if exclude is not None:
        d[exclude] = np.inf
    order = np.lexsort((np.arange(len(d)), d))
    return order[:len(order) - (exclude is not None)]


class TifuKnn:
    """TIFU-KNN (Hu, He, Gao and Zhang, "Modeling Personalized Item Frequency Information for
    Next-basket Recommendation", SIGIR 2020), as the authors' code computes it.

    A customer's baskets b_1..b_n (binary item vectors, oldest first) are cut into g = min(n, G)
    consecutive groups (n < G: one basket per group; otherwise sizes floor(n/G) or floor(n/G) + 1,
    the larger ones the newest). The customer's vector is
      u = (1/g) sum_{j=1..g} rg^(G - j) (1/|group j|) sum_{t in group j} rb^(n - t) b_t
    (group j = 1 the oldest). The k customers of the training data (the customer excluded) whose
    vectors are nearest to u (Euclidean distance, ties by training-data order) give
      score = alpha u + (1 - alpha) (mean of their vectors).
    Training customers' vectors come from their training baskets."""

    name = "tifu-knn"
    grid = {"neighbors": [100, 300, 500, 700, 900, 1100, 1300],
            "within_decay": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
            "group_decay": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
            "groups": [1, 3, 5, 7, 9],
            "alpha": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}
    # The authors' setting for Ta-Feng (their README): where the search starts.
    start = {"neighbors": 300, "within_decay": 0.9, "group_decay": 0.7, "groups": 7, "alpha": 0.7}

    def __init__(self, universe, train):
        self.u = universe
        self.customers = list(train)
        self.row = {c: r for r, c in enumerate(self.customers)}
        self.baskets = [basket_indices(universe, train[c]) for c in self.customers]
        self._cache = {}
        self._orders = (None, None)

    def _vectors(self, within_decay, group_decay, groups):
        key = (within_decay, group_decay, groups)
        if key not in self._cache:
            self._cache = {key: np.stack([tifu_vector(b, len(self.u), *key) for b in self.baskets])}
        return self._cache[key]

    def neighbor_order(self, cases, within_decay, group_decay, groups):
        """(query vectors, pool vectors, for each case the pool rows nearest first); the last
        result is kept, as the search asks for it again with other neighbors and alpha."""
        key = (id(cases), within_decay, group_decay, groups)
        if self._orders[0] != key:
            P = self._vectors(within_decay, group_decay, groups)
            Q = np.stack([tifu_vector(basket_indices(self.u, inputs), len(self.u), within_decay, group_decay, groups)
                          for _, inputs, _ in cases])
            norms = squared_norms(P)
            orders = [nearest(squared_distances(Q[r], P, norms), self.row.get(cid))
                      for r, (cid, _, _) in enumerate(cases)]
            self._orders = (key, (Q, P, orders))
        return self._orders[1]

    def scores(self, cases, params):
        Q, P, orders = self.neighbor_order(cases, params["within_decay"], params["group_decay"], params["groups"])
        a = params["alpha"]
        out = np.empty((len(cases), len(self.u)))
        for r, order in enumerate(orders):
            # The neighbours' vectors summed nearest first, then divided (gptrec eval sums them in
            # the same order, so that both give the same scores to the last bit).
            acc = np.zeros(len(self.u))
            near = order[:params["neighbors"]]
            for p in near:
                acc += P[p]
            mean = acc / len(near) if len(near) else acc
            out[r] = a * Q[r] + (1 - a) * mean
        return out


TUNED = [TopFrequency, MarkovBackoff, TifuKnn]


def choose(method_class, train, k=K, log=None):
    """Chooses a method's hyper-parameters on validation baskets: each customer's last training
    basket is held out (customers with at least 2), the method is fitted on the baskets before
    them, and the grid is searched coordinate by coordinate from `start` (every value of one
    parameter with the others fixed, the best taken; rounds until none changes; a change must
    raise selection_score). Returns (params, validation Evaluation of the chosen params)."""
    fit, cases = last_unit_split(train)
    universe = Universe(fit)
    method = method_class(universe, fit)
    seen = {}

    def score(params):
        key = tuple(params[p] for p in method.grid)
        if key not in seen:
            ev = Evaluation(universe, k)
            for (cid, inputs, held_out), s in zip(cases, method.scores(cases, params)):
                ev.add("m", inputs, held_out, s)
            seen[key] = (selection_score(ev, "m"), ev)
            if log:
                log(f"{method.name} {params}: {seen[key][0]:.6f}")
        return seen[key][0]

    params = dict(method.start)
    best = score(params)
    changed = True
    while changed:
        changed = False
        for name, values in method.grid.items():
            for v in values:
                trial = dict(params, **{name: v})
                s = score(trial)
                if s > best:
                    best, params, changed = s, trial, True
    return params, seen[tuple(params[p] for p in method.grid)][1]


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
        top_next = [self.u.ids[j] for j in self.u.top(scores, self.k)]
        top_new = [self.u.ids[j] for j in self.u.top(scores, self.k, excluded)]
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
