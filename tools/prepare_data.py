#!/usr/bin/env python3
"""Turns public purchase data into gptrec's histories form (one customer per JSONL line, README
"History format"), the input of `gptrec eval`, `gptrec score` and tools/train.py.

  prepare_data.py online-retail online_retail.csv[.gz] histories.jsonl[.gz]
      The UCI Online Retail data set (UCI Machine Learning Repository, CC BY 4.0), as CSV with
      its columns InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
      CustomerID, Country (the UCI download is a spreadsheet: save it as CSV first).
  prepare_data.py sequences FILE.txt histories.jsonl[.gz]
      The S3-Rec / SASRec text files: each line "user item [item ...]" adds items, in order, to
      the user's sequence ("user item" per line, as SASRec's Video.txt, works too).

Rules (docs/FORMATS.md "Preparing public data"): Online Retail rows without a CustomerID are
anonymous and left out; an invoice whose number starts with "C" is a cancellation, its lines are
events of type "return" with the quantity made positive; timestamps become ISO 8601; each
customer's events keep the file's (time) order; customers are written in id order, with the
country of their first row. Sequences keep the users in first-seen order. A ".gz" output is
gzip-compressed (without a time stamp, so the bytes depend only on the data).
"""
import argparse
import csv
import gzip
import io
import json
import sys


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


def online_retail(src, dst):
    columns = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
               "Country"]
    customers = {}
    with open_text(src, "r") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            fail(f"{src}: missing column(s) {', '.join(missing)} (expected the UCI Online Retail "
                 "columns)")
        for line, row in enumerate(reader, start=2):
            customer = row["CustomerID"].strip()
            if not customer:
                continue  # an anonymous sale
            try:
                customer_id = str(int(float(customer)))
                quantity = int(row["Quantity"])
                price = float(row["UnitPrice"])
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
    args = parser.parse_args()
    try:
        n = (online_retail if args.kind == "online-retail" else sequences)(args.input, args.output)
    except OSError as e:
        fail(str(e))
    print(f"prepare_data: {n} customers -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
