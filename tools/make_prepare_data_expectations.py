#!/usr/bin/env python3
"""Regenerates the expected outputs of tools/prepare_data.py on the shipped samples, with an
independent implementation (pandas for the Online Retail CSV), for tests/test_prepare_data.py:

  tests/data/online-retail/sample.csv  -> tests/data/online-retail/sample.histories.jsonl
  tests/data/s3rec/sample.txt          -> tests/data/s3rec/sample.histories.jsonl
  tests/data/s3rec/pairs.txt           -> tests/data/s3rec/pairs.histories.jsonl

Run from the repository root: /usr/bin/python3 tools/make_prepare_data_expectations.py
"""
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


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
    sequences(DATA / "s3rec" / "sample.txt", DATA / "s3rec" / "sample.histories.jsonl")
    sequences(DATA / "s3rec" / "pairs.txt", DATA / "s3rec" / "pairs.histories.jsonl")
