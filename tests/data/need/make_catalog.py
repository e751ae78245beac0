#!/usr/bin/env python3
"""Writes tests/data/need/catalog.json: the id, name and price of every item of
examples/online-retail-sample.jsonl, from the Online Retail catalog (the data set's product
descriptions and median prices; CC BY 4.0, models/online-retail/README.md), and "available": false
where models/online-retail/items.json has it (postage, fees).

    make_catalog.py ../shared/data/online-retail/catalog.json
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
ids = []
for line in open(os.path.join(repo, "examples", "online-retail-sample.jsonl")):
    for e in json.loads(line)["events"]:
        if str(e["item"]) not in ids:
            ids.append(str(e["item"]))
source = {str(i["id"]): i for i in json.load(open(sys.argv[1]))}
shipped = json.load(open(os.path.join(repo, "models", "online-retail", "items.json")))["items"]
unavailable = {i["id"] for i in shipped if i.get("available") is False}
with open(os.path.join(here, "catalog.json"), "w") as f:
    f.write("[\n")
    rows = []
    for i in sorted(ids):
        item = source.get(i, {"id": i})
        row = {"id": i, "name": item.get("name", i)}
        if item.get("price") is not None:
            row["price"] = item["price"]
        if i in unavailable:
            row["available"] = False
        rows.append(json.dumps(row))
    f.write(",\n".join(rows))
    f.write("\n]\n")
