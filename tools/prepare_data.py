#!/usr/bin/env python3
"""Turns public purchase data into gptrec's histories form (one customer per JSONL line, README
"History format"), the input of `gptrec eval`, `gptrec score` and tools/train.py.

  prepare_data.py online-retail online_retail.csv[.gz] histories.jsonl[.gz] [--catalog catalog.json]
      The UCI Online Retail data set (UCI Machine Learning Repository, CC BY 4.0), as CSV with
      its columns InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
      CustomerID, Country (the UCI download is a spreadsheet: save it as CSV first). --catalog
      also writes its catalog, service lines (postage, fees) marked "product": false.
  prepare_data.py sequences FILE.txt histories.jsonl[.gz]
      The S3-Rec / SASRec text files: each line "user item [item ...]" adds items, in order, to
      the user's sequence ("user item" per line, as SASRec's Video.txt, works too).

Rules (docs/FORMATS.md "Preparing public data"): Online Retail rows without a CustomerID are
anonymous and left out; an invoice whose number starts with "C" is a cancellation, its lines are
events of type "return" with the quantity made positive; timestamps become ISO 8601; each
customer's events keep the file's (time) order; customers are written in id order, with the
country of their first row. Sequences keep the users in first-seen order. A ".gz" output is
gzip-compressed (without a time stamp, so the bytes depend only on the data).

The Online Retail catalog (docs/FORMATS.md): one entry per stock code with a purchase line (an
invoice not starting with "C", quantity above 0; anonymous sales included): "id", "name" (its most
frequent description; ties: the first seen; "" when none), "price" (the median unit price of its
purchase lines priced above 0, rounded to cents; 0.0 when none), "purchases" (its purchase lines),
and "product": false for service lines by tools/gptrec_tools/non_products.py; most purchased
first, ties by id.
"""
import argparse
import collections
import csv
import gzip
import io
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptrec_tools import non_products  # noqa: E402
from gptrec_tools.items_json import write_catalog  # noqa: E402


def open_text(path, mode):
    if path == "-":
        return sys.stdin if "r" in mode else sys.stdout
    if path.endswith(".gz"):
        if "r" in mode:
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        raw = open(path, "wb")
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename=""),
                                encoding="utf-8", newline="\n")
    return open(path, mode, encoding="utf-8", newline="" if "r" in mode else "\n")


def fail(message):
    sys.exit(f"prepare_data: error: {message}")


def online_retail(src, dst, catalog=None):
    columns = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
               "Country"] + (["Description"] if catalog else [])
    customers = {}
    lines = collections.Counter()  # purchase lines per stock code
    names = collections.defaultdict(collections.Counter)
    prices = collections.defaultdict(list)
    with open_text(src, "r") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            fail(f"{src}: missing column(s) {', '.join(missing)} (expected the UCI Online Retail "
                 "columns)")
        for line, row in enumerate(reader, start=2):
            customer = row["CustomerID"].strip()
            if not customer and not catalog:
                continue  # an anonymous sale
            try:
                quantity = int(row["Quantity"])
                price = float(row["UnitPrice"])
            except ValueError as e:
                fail(f"{src}:{line}: {e}")
            if catalog and not row["InvoiceNo"].strip().startswith("C") and quantity > 0:
                code = row["StockCode"].strip()
                lines[code] += 1
                if row["Description"].strip():
                    names[code][row["Description"].strip()] += 1
                if price > 0:
                    prices[code].append(price)
            if not customer:
                continue  # an anonymous sale
            try:
                customer_id = str(int(float(customer)))
            except ValueError as e:
                fail(f"{src}:{line}: {e}")
            date = row["InvoiceDate"].strip()
            if len(date) < 16 or date[10] not in " T":
                fail(f"{src}:{line}: InvoiceDate {date!r} is not 'YYYY-MM-DD HH:MM[:SS]'")
            timestamp = date[:10] + "T" + date[11:]
            if len(timestamp) == 16:
                timestamp += ":00"
            order = row["InvoiceNo"].strip()
            entry = customers.setdefault(customer_id, {"customer_id": customer_id,
                                                       "country": row["Country"],
                                                       "events": []})
            entry["events"].append({"item": row["StockCode"].strip(),
                                    "type": "return" if order.startswith("C") else "purchase",
                                    "timestamp": timestamp,
                                    "quantity": abs(quantity),
                                    "order": order,
                                    "price": price})
    with open_text(dst, "w") as out:
        for customer_id in sorted(customers):
            out.write(json.dumps(customers[customer_id], ensure_ascii=False) + "\n")
    if catalog:
        items = [{"id": code,
                  "name": names[code].most_common(1)[0][0] if names[code] else "",
                  "price": round(statistics.median(prices[code]), 2) if prices[code] else 0.0,
                  "purchases": lines[code]}
                 for code in sorted(lines, key=lambda c: (-lines[c], c))]
        non_products.mark(items, "online-retail")
        write_catalog(catalog, items)
    return len(customers)


def sequences(src, dst):
    users = {}
    with open_text(src, "r") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                fail(f"{src}:{line_number}: expected 'user item [item ...]'")
            events = users.setdefault(fields[0], [])
            events.extend({"item": item, "type": "purchase"} for item in fields[1:])
    with open_text(dst, "w") as out:
        for user, events in users.items():
            record = {"customer_id": user, "events": events}
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return len(users)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["online-retail", "sequences"])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--catalog", metavar="FILE",
                        help="online-retail: also write the catalog (JSON) here")
    args = parser.parse_args()
    if args.catalog and args.kind != "online-retail":
        parser.error("--catalog: only the online-retail data has a catalog")
    try:
        if args.kind == "online-retail":
            n = online_retail(args.input, args.output, args.catalog)
        else:
            n = sequences(args.input, args.output)
    except OSError as e:
        fail(str(e))
    print(f"prepare_data: {n} customers -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
