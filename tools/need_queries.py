#!/usr/bin/env python3
"""The need protocol (docs/EVALUATION.md, "The need protocol"), written again from the document in
plain Python: the words of a need, the plural stemmer, the seeded query rule, BM25 over the names,
and the text baselines' rows (BM25 alone, BM25 + popularity, BM25 + own frequency) with HR@K,
NDCG@K and MRR. `gptrec eval --protocol need --baselines-only` must give the same queries and the
same numbers (tests/test_need_crosscheck.py).

    need_queries.py --data HISTORIES.jsonl --catalog CATALOG.json [--seed S] [--k 10]
        [--match compound|exact] [--need-weight W] [--queries OUT.jsonl] [--json OUT.json]
"""
import argparse
import gzip
import json
import math

MASK = (1 << 64) - 1

STOP_WORDS = set("""a about all an and any are as at be buy but by can for from get have her him his
i im in into is it its like looking me my need needs of on or our please she so some something that
the their them these they this those to us want wants we what with without would you your he""".split())
COLOUR_SIZE_WORDS = set("""beige big black blue bright brown colour coloured colours cream dark
extra giant gold green grey gray huge ivory jumbo large lilac little long medium mini natural orange
pastel pink purple red short silver small tall tiny turquoise violet white yellow multicolour""".split())


def words(text):
    """Runs of ASCII letters, digits and bytes >= 0x80, ASCII letters lowercased."""
    out, cur = [], bytearray()
    for b in text.encode("utf-8"):
        if b >= 0x80 or chr(b).isascii() and chr(b).isalnum():
            cur.append(b + 32 if 65 <= b <= 90 else b)
        elif cur:
            out.append(cur.decode("utf-8", "surrogateescape"))
            cur = bytearray()
    if cur:
        out.append(cur.decode("utf-8", "surrogateescape"))
    return out


def is_content(w):
    return len(w.encode("utf-8")) >= 3 and not any("0" <= c <= "9" for c in w) and w not in STOP_WORDS


def stem(w):
    if len(w.encode("utf-8")) <= 3:
        return w
    if w.endswith("ies") and not w.endswith(("eies", "aies")):
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes")):
        return w[:-2]
    if w.endswith("es") and not w.endswith(("aes", "ees", "oes")):
        return w[:-1]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def content_words(text):
    seen = []
    for w in words(text):
        if is_content(w) and w not in seen:
            seen.append(w)
    return seen


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def fnv1a64(text):
    h = 14695981039346656037
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 1099511628211) & MASK
    return h


def query(name, customer, item, seed):
    c = content_words(name)
    anchors = [i for i, w in enumerate(c) if w not in COLOUR_SIZE_WORDS]
    if not anchors:
        return ""
    state = seed ^ fnv1a64(customer) ^ ((fnv1a64(item) * 3) & MASK)
    state, r1 = splitmix64(state)
    state, r2 = splitmix64(state)
    state, r3 = splitmix64(state)
    anchor = anchors[r1 % len(anchors)]
    chosen = [anchor]
    if len(c) > 1 and r2 % 2 == 1:
        others = [i for i in range(len(c)) if i != anchor]
        chosen.append(others[r3 % len(others)])
    return " ".join(c[i] for i in sorted(chosen))


class Bm25:
    def __init__(self, names, match):
        self.match = match
        self.docs = []
        for n in names:
            self.docs.append([stem(w) for w in words(n) if is_content(w)])
        self.avg = max(sum(len(d) for d in self.docs) / max(len(self.docs), 1), 1e-9)

    def fits(self, name_stem, q):
        if name_stem == q:
            return True
        return self.match == "compound" and len(q.encode("utf-8")) >= 4 and name_stem.startswith(q)

    def score(self, stems):
        """(bm25 per document, number of distinct query stems fitting it)."""
        n_docs = len(self.docs)
        scores, fitted = [0.0] * n_docs, [0] * n_docs
        for q in dict.fromkeys(stems):
            tf = {d: sum(self.fits(s, q) for s in doc) for d, doc in enumerate(self.docs)}
            tf = {d: f for d, f in tf.items() if f}
            if not tf:
                continue
            idf = math.log(1 + (n_docs - len(tf) + 0.5) / (len(tf) + 0.5))
            k1, b = 1.2, 0.75
            for d, f in tf.items():
                scores[d] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(self.docs[d]) / self.avg))
                fitted[d] += 1
        return scores, fitted


def baskets_of(history):
    """Purchase baskets (docs/EVALUATION.md "Baskets"): distinct items per order, or per date."""
    events = [e for e in history["events"] if e.get("type", "purchase") == "purchase"]
    events.sort(key=lambda e: e.get("timestamp", e.get("date", "")))
    order, items = [], {}
    for e in events:
        key = str(e["order"]) if "order" in e else (e.get("timestamp") or e.get("date", ""))[:10]
        if key not in items:
            order.append(key)
            items[key] = []
        if str(e["item"]) not in items[key]:
            items[key].append(str(e["item"]))
    return [items[k] for k in order]


def metrics(ranks, k):
    best = min(ranks)
    dcg = sum(1 / math.log2(r + 2) for r in ranks if r < k)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(ranks), k)))
    return (1.0 if best < k else 0.0, dcg / idcg, 1 / (best + 1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--catalog", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--match", choices=["compound", "exact"], default="exact")
    p.add_argument("--need-weight", type=float, default=1.0, help="of both weighted baselines")
    p.add_argument("--queries", help="write the queries here (JSONL)")
    p.add_argument("--json", help="write the metrics here")
    a = p.parse_args()

    catalog = json.load(open(a.catalog))
    catalog = catalog["items"] if isinstance(catalog, dict) else catalog
    names = {str(i.get("id", i.get("item"))): i.get("name") or str(i.get("id", i.get("item"))) for i in catalog}
    unavailable = {str(i.get("id", i.get("item"))) for i in catalog
                   if i.get("available") is False or i.get("product") is False}
    opener = gzip.open if a.data.endswith(".gz") else open
    customers = []
    with opener(a.data, "rt") as f:
        for line in f:
            if line.strip():
                h = json.loads(line)
                customers.append((str(h.get("customer_id", "")), baskets_of(h)))
    evaluated = [(c, b) for c, b in customers if len(b) >= 2]
    popularity = {}
    for _, b in evaluated:
        for basket in b[:-1]:
            for item in basket:
                popularity[item] = popularity.get(item, 0) + 1
    universe = sorted(popularity, key=lambda s: s.encode("utf-8"))
    index_of = {item: j for j, item in enumerate(universe)}
    uni_names = [names.get(item, item) for item in universe]
    bm25 = Bm25(uni_names, a.match)

    methods = ["BM25 (text alone)", f"BM25 + popularity w={a.need_weight:g}", f"BM25 + own frequency w={a.need_weight:g}"]
    sums = {m: {"all": [0.0] * 3, "never_bought": [0.0] * 3} for m in methods}
    n_all = n_new = 0
    listed = []
    for customer, baskets in evaluated:
        held = [index_of[i] for i in baskets[-1] if i in index_of and i not in unavailable]
        bought = {i for b in baskets[:-1] for i in b}
        own = {}
        for b in baskets[:-1]:
            for i in b:
                own[index_of[i]] = own.get(index_of[i], 0) + 1
        texts = []
        for j in held:
            q = query(uni_names[j], customer, universe[j], a.seed)
            if q and q not in texts:
                texts.append(q)
        for text in texts:
            stems = list(dict.fromkeys(stem(w) for w in content_words(text)))
            scores, fitted = bm25.score(stems)
            for j, item in enumerate(universe):
                if item in unavailable:
                    scores[j], fitted[j] = 0.0, 0
            fitting = [j for j in range(len(universe)) if scores[j] > 0]
            targets = [j for j in held if fitted[j] == len(stems)]
            new = [j for j in targets if universe[j] not in bought]
            listed.append({"customer_id": customer, "need": text, "targets": [universe[j] for j in targets],
                           "never_bought_targets": [universe[j] for j in new], "fitting_any": len(fitting),
                           "fitting_all": sum(1 for j in fitting if fitted[j] == len(stems))})
            n_all += 1
            n_new += bool(new)
            # Ranked: the items holding every word of the query (the item that gave it does).
            fitting = [j for j in fitting if fitted[j] == len(stems)]
            for m in methods:
                if m.startswith("BM25 (text"):
                    key = {j: (scores[j], 0, -j) for j in fitting}
                elif "popularity" in m:
                    key = {j: (a.need_weight * scores[j] + math.log1p(popularity[universe[j]]),
                               popularity[universe[j]], -j) for j in fitting}
                else:
                    key = {j: (a.need_weight * scores[j] + math.log1p(own.get(j, 0)),
                               popularity[universe[j]], -j) for j in fitting}
                ranking = sorted(fitting, key=lambda j: key[j], reverse=True)
                position = {j: r for r, j in enumerate(ranking)}
                for setting, rel in (("all", targets), ("never_bought", new)):
                    if rel:
                        for x, v in enumerate(metrics([position[j] for j in rel], a.k)):
                            sums[m][setting][x] += v
    result = {"queries": {"all": n_all, "never_bought": n_new}, "methods": []}
    for m in methods:
        result["methods"].append({"method": m,
                                  "all": dict(zip(("hr", "ndcg", "mrr"), (v / max(n_all, 1) for v in sums[m]["all"]))),
                                  "never_bought": dict(zip(("hr", "ndcg", "mrr"),
                                                           (v / max(n_new, 1) for v in sums[m]["never_bought"])))})
    if a.queries:
        with open(a.queries, "w") as f:
            for q in listed:
                f.write(json.dumps(q) + "\n")
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
