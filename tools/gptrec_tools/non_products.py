"""Which order lines of a data set are not products (postage, fees, discounts, adjustments), so
that items.json and catalogs can mark them "product": false (docs/FORMATS.md): gptrec reads them
in histories but never suggests them and never gives them as a reason.

The rule of the UCI Online Retail data (`online-retail`), derived from its stock codes and
descriptions (../shared/data/online-retail):

1. Stock codes. A product's code is five digits with optional letters (85123A, 22423, 79323GR), or
   a DCGS code (DCGS0003, DCGSSBOY: products of the shop's marketplace listings). Every other code
   is a service line: POST (postage), DOT (dotcom postage), C2 (carriage), M and m (manual
   entries), D (discount), S (samples), B (bad-debt adjustment), BANK CHARGES, AMAZONFEE, CRUK
   (charity commission), PADS (cushion pads at 0.001, a fee line), gift_0001_* (gift vouchers).
2. Descriptions. A product-shaped code is still a service line when its name (case ignored, whole
   name) is one of the data's service descriptions: "Next Day Carriage" (23444), "PACKING CHARGE"
   (23574), "High Resolution Image" (23702), "adjustment" (23595), a gift voucher (22016
   "Dotcomgiftshop Gift Voucher £100.00"), or a stock-keeping note ("Found by jackie", "thrown
   away", "damages", "Unsaleable, destroyed.").

Products whose names merely contain such words stay products (FRENCH CARRIAGE LANTERN, ZINC HEART
LATTICE CHARGER, VICTORIAN METAL POSTCARD): only whole names match.

The Groceries data (item ids are product categories) and the Amazon data sets (ids only) have no
service lines: no rule.
"""
import re

PRODUCT_CODE = re.compile(r"[0-9]{5}[A-Za-z]*|DCGS[0-9A-Za-z]+")
SERVICE_NAME = re.compile(
    r"postage|dotcom postage|carriage|next day carriage|packing charge|bank charges|amazon fee"
    r"|cruk commission|discount|samples|manual|adjustment|adjust bad debt|high resolution image"
    r"|.*gift voucher.*|found by .*|thrown? away.*|damages?|unsaleable.*",
    re.IGNORECASE)


def online_retail_is_product(item_id, name=None):
    """True when the Online Retail line with this stock code (and description, if known) is a
    product (the rule above)."""
    if not PRODUCT_CODE.fullmatch(str(item_id)):
        return False
    return name is None or not SERVICE_NAME.fullmatch(" ".join(str(name).split()))


RULES = {"online-retail": online_retail_is_product}


def mark(items, rule):
    """Sets "product": false (placed before "count", as items.json orders its keys) on the entries
    of `items` (dicts with "id" and optionally "name") that `rule`, a RULES key, says are not
    products. Entries already marked stay marked. Returns the ids marked by the rule."""
    is_product = RULES[rule]
    marked = []
    for k, e in enumerate(items):
        if is_product(e["id"], e.get("name")):
            continue
        fields = [(key, v) for key, v in e.items() if key != "product"]
        at = next((i for i, (key, _) in enumerate(fields) if key == "count"), len(fields))
        items[k] = dict(fields[:at] + [("product", False)] + fields[at:])
        marked.append(e["id"])
    return marked
