#!/usr/bin/env python3
"""Regenerates the expected outputs of tools/prepare_data.py on the shipped samples, with an
independent implementation (pandas for the Online Retail CSV), for tests/test_prepare_data.py:

  tests/data/online-retail/sample.csv  -> tests/data/online-retail/sample.histories.jsonl
                                          and tests/data/online-retail/sample.catalog.json
  tests/data/s3rec/sample.txt          -> tests/data/s3rec/sample.histories.jsonl
  tests/data/s3rec/pairs.txt           -> tests/data/s3rec/pairs.histories.jsonl

Run from the repository root: /usr/bin/python3 tools/make_prepare_data_expectations.py
"""
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tools"))
from gptrec_tools import non_products  # noqa: E402  (the rule is tested on its own)
from gptrec_tools.items_json import write_catalog  # noqa: E402


def online_retail(src, dst):
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df = df[df["CustomerID"].str.strip() != ""].copy()
    df["customer_id"] = pd.to_numeric(df["CustomerID"]).astype("int64").astype(str)
    df["timestamp"] = pd.to_datetime(df["InvoiceDate"]).map(lambda t: t.isoformat())
    df["kind"] = df["InvoiceNo"].map(lambda n: "return" if n.startswith("C") else "purchase")
    df["quantity"] = pd.to_numeric(df["Quantity"]).abs()
    df["price"] = pd.to_numeric(df["UnitPrice"]).astype(float)
    lines = []
    # groupby sorts the ids and keeps each group's rows in file order.
    for customer_id, rows in df.groupby("customer_id", sort=True):
        events = [{"item": r.StockCode, "type": r.kind, "timestamp": r.timestamp,
                   "quantity": int(r.quantity), "order": r.InvoiceNo, "price": float(r.price)}
                  for r in rows.itertuples()]
        lines.append(json.dumps({"customer_id": customer_id, "country": rows["Country"].iloc[0],
                                 "events": events}, ensure_ascii=False))
    dst.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def online_retail_catalog(src, dst):
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df["code"] = df["StockCode"].str.strip()
    df["price"] = pd.to_numeric(df["UnitPrice"]).astype(float)
    df = df[~df["InvoiceNo"].str.strip().str.startswith("C") & (pd.to_numeric(df["Quantity"]) > 0)]
    df = df.reset_index(drop=True)
    purchases = df.groupby("code").size()
    priced = df[df["price"] > 0].groupby("code")["price"].median()
    described = df.assign(desc=df["Description"].str.strip()).query("desc != ''")
    # The most frequent description; ties: the one seen first.
    counts = described.groupby(["code", "desc"]).agg(n=("desc", "size"),
                                                     first=("desc", lambda s: s.index.min()))
    counts = counts.reset_index().sort_values(["code", "n", "first"], ascending=[True, False, True])
    name = counts.drop_duplicates("code").set_index("code")["desc"]
    items = [{"id": code, "name": name.get(code, ""),
              "price": round(float(priced[code]), 2) if code in priced.index else 0.0,
              "purchases": int(n)}
             for code, n in sorted(purchases.items(), key=lambda kv: (-kv[1], kv[0]))]
    non_products.mark(items, "online-retail")
    write_catalog(dst, items)


def sequences(src, dst):
    tokens = [line.split() for line in src.read_text(encoding="utf-8").splitlines()]
    order, items = [], {}
    for user, *rest in (t for t in tokens if t):
        if user not in items:
            order.append(user)
            items[user] = []
        items[user] += rest
    dst.write_text("".join(
        json.dumps({"customer_id": u, "events": [{"item": i, "type": "purchase"}
                                                  for i in items[u]]}, separators=(",", ":"))
        + "\n" for u in order), encoding="utf-8")


if __name__ == "__main__":
    online_retail(DATA / "online-retail" / "sample.csv",
                  DATA / "online-retail" / "sample.histories.jsonl")
    online_retail_catalog(DATA / "online-retail" / "sample.csv",
                          DATA / "online-retail" / "sample.catalog.json")
    sequences(DATA / "s3rec" / "sample.txt", DATA / "s3rec" / "sample.histories.jsonl")
    sequences(DATA / "s3rec" / "pairs.txt", DATA / "s3rec" / "pairs.histories.jsonl")
