#!/usr/bin/env python3
"""The non-product rule of the Online Retail data (tools/gptrec_tools/non_products.py) and where
it is applied: tools/mark_non_products.py, tools/train.py's vocabulary, and the shipped items.json
files (models/online-retail, the tiny-items fixture), which must mark exactly the rule's items.

    test_non_products.py REPO_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
from gptrec_tools import non_products  # noqa: E402

# Service lines of the data (stock code, most frequent description), as listed in its CSV.
SERVICES = [("POST", "POSTAGE"), ("DOT", "DOTCOM POSTAGE"), ("M", "Manual"), ("m", "Manual"),
            ("C2", "CARRIAGE"), ("BANK CHARGES", "Bank Charges"), ("AMAZONFEE", "AMAZON FEE"),
            ("CRUK", "CRUK Commission"), ("D", "Discount"), ("S", "SAMPLES"),
            ("PADS", "PADS TO MATCH ALL CUSHIONS"), ("B", "Adjust bad debt"),
            ("gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00"),
            ("23444", "Next Day Carriage"), ("23574", "PACKING CHARGE"), ("23702", "High Resolution Image"),
            ("23595", "adjustment"), ("22016", "Dotcomgiftshop Gift Voucher £100.00"),
            ("35600A", "Found by jackie"), ("72732", "thrown away-can't sell")]
# Products, including names that contain a service word and codes of unusual shape.
PRODUCTS = [("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"), ("22423", "REGENCY CAKESTAND 3 TIER"),
            ("79323GR", None), ("DCGS0003", "BOXED GLASS ASHTRAY"), ("DCGSSBOY", "BOYS PARTY BAG"),
            ("23099", "FRENCH CARRIAGE LANTERN"), ("20847", "ZINC HEART LATTICE CHARGER LARGE"),
            ("21135", "VICTORIAN  METAL POSTCARD SPRING"), ("85017B", "ENVELOPE 50 BLOSSOM IMAGES"),
            ("21703", "BAG 125g SWIRLY MARBLES"), ("22206", "MUG , DOTCOMGIFTSHOP.COM")]


class Rule(unittest.TestCase):
    def test_service_lines_are_not_products(self):
        for code, name in SERVICES:
            self.assertFalse(non_products.online_retail_is_product(code, name), (code, name))

    def test_products_are_products(self):
        for code, name in PRODUCTS:
            self.assertTrue(non_products.online_retail_is_product(code, name), (code, name))

    def test_codes_alone_decide_without_names(self):
        self.assertFalse(non_products.online_retail_is_product("POST"))
        self.assertFalse(non_products.online_retail_is_product("gift_0001_20"))
        self.assertTrue(non_products.online_retail_is_product("23444"))  # its name decides
        self.assertTrue(non_products.online_retail_is_product(22423))


class ShippedItems(unittest.TestCase):
    def check(self, path):
        with open(path, encoding="utf-8") as f:
            items = json.load(f)["items"]
        wrong = [e["id"] for e in items
                 if (e.get("product", True) is not False) != non_products.online_retail_is_product(e["id"], e.get("name"))]
        self.assertEqual(wrong, [], f"{path}: marked unlike the rule (tools/mark_non_products.py fixes it)")
        return [e["id"] for e in items if e.get("product") is False]

    def test_online_retail_model_marks_exactly_the_rules_items(self):
        marked = self.check(os.path.join(REPO, "models", "online-retail", "items.json"))
        for code in ("POST", "M", "C2", "DOT", "23444", "23574", "23702"):
            self.assertIn(code, marked)

    def test_tiny_items_fixture(self):
        self.assertEqual(self.check(os.path.join(REPO, "tests", "data", "models", "tiny-items", "items.json")),
                         ["POST", "M"])

    def test_other_models_have_no_service_lines(self):
        for model in ("groceries", "games"):
            with open(os.path.join(REPO, "models", model, "items.json"), encoding="utf-8") as f:
                self.assertFalse(any("product" in e for e in json.load(f)["items"]), model)


class Tools(unittest.TestCase):
    def test_mark_tool_keeps_order_and_layout(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "items.json")
            head = '{"format": "gptrec-items", "version": 1, "special_tokens": ["<pad>", "<bos>", "<sep>", "<unk>"],\n'
            with open(path, "w", encoding="utf-8") as f:
                f.write(head + ' "items": [\n  {"id": "22423", "count": 5},\n  {"id": "POST", "name": "POSTAGE", '
                        '"count": 4},\n  {"id": "X1", "product": false, "count": 1}\n ]\n}\n')
            subprocess.run([sys.executable, os.path.join(REPO, "tools", "mark_non_products.py"), "--rule",
                            "online-retail", path], check=True, stdout=subprocess.DEVNULL)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.assertEqual(text, head + ' "items": [\n  {"id": "22423", "count": 5},\n  {"id": "POST", "name": '
                             '"POSTAGE", "product": false, "count": 4},\n  {"id": "X1", "product": false, '
                             '"count": 1}\n ]\n}\n')

    def test_train_vocabulary_marks_by_rule_and_by_catalog(self):
        try:
            import train
        except ImportError:
            self.skipTest("train.py needs PyTorch")
        with tempfile.TemporaryDirectory() as tmp:
            catalog = os.path.join(tmp, "catalog.json")
            with open(catalog, "w") as f:
                json.dump([{"id": "22423", "name": "REGENCY CAKESTAND 3 TIER"},
                           {"id": "23444", "name": "Next Day Carriage"},
                           {"id": "85123A", "name": "HEART", "product": False}], f)
            units = {"c1": [["22423", "POST", "23444"], ["85123A", "22423"]]}
            by_rule = train.build_vocabulary(units, 1, catalog, non_product_rule="online-retail")
            self.assertEqual({e["id"]: e.get("product", True) for e in by_rule},
                             {"22423": True, "POST": False, "23444": False, "85123A": False})
            plain = train.build_vocabulary(units, 1, None)
            self.assertFalse(any("product" in e for e in plain))


if __name__ == "__main__":
    unittest.main()
