#!/usr/bin/env python3
"""Two of tools/train.py's loss options against direct computations written from their help text:

- --recency-weight G: a target d units before its customer's last weighs G^d, the weights
  normalized to a mean of 1 over the epoch's targets (with --customer-weight's factor);
- --mask-seen: a target position's softmax leaves out the context items up to it, the target
  itself excepted (so a repeated item is still scored).

    test_train_options.py REPO_DIR
Exit 77 (skipped) when PyTorch is missing.
"""
import math
import os
import sys
import unittest

try:
    import torch
except ImportError:
    sys.exit(77)
import numpy as np

REPO = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import train  # noqa: E402
from gptrec_tools import item_gpt  # noqa: E402

S = train.N_SPECIAL


def items_customer(tokens):
    """An items-format customer: one unit per token, each its own target."""
    return [[t] for t in tokens], [[t] for t in tokens]


class RecencyWeight(unittest.TestCase):
    LENGTHS = (4, 7, 2)

    def check(self, n_positions, G, alpha=0.0, seed=0):
        # Customer c's items are S + 100 c + k, so a target item names its customer and unit.
        customers = [items_customer([S + 100 * c + k for k in range(n)]) for c, n in enumerate(self.LENGTHS)]
        windows = train.make_windows(customers, n_positions, np.random.default_rng(seed), "tile",
                                     customer_weight=alpha, recency=G)
        raw = {}
        for c, n in enumerate(self.LENGTHS):
            for u in range(n):
                raw[S + 100 * c + u] = n ** -alpha * G ** (n - 1 - u)
        # Cut windows overlap (a unit may be a target in two of them): every occurrence counts in
        # the normalization.
        got = {}
        for tokens, targets in windows:
            for pos, items, w in targets:
                self.assertEqual(len(items), 1)
                got.setdefault(items[0], []).append(w)
        self.assertEqual(sorted(got), sorted(raw))
        mean = sum(raw[t] * len(ws) for t, ws in got.items()) / sum(len(ws) for ws in got.values())
        for t, ws in got.items():
            for w in ws:
                self.assertAlmostEqual(w, raw[t] / mean, places=12, msg=t)
        return sum(len(ws) for ws in got.values()) - len(got)

    def test_one_window_per_customer(self):
        self.check(n_positions=16, G=0.5)

    def test_cut_windows(self):
        repeated = sum(self.check(n_positions=3, G=0.7, seed=seed) for seed in range(3))
        self.assertGreater(repeated, 0, "short windows should overlap")

    def test_with_customer_weight(self):
        self.check(n_positions=16, G=0.8, alpha=0.5)

    def test_one_is_every_target_alike(self):
        self.check(n_positions=16, G=1.0)


class MaskSeen(unittest.TestCase):
    def test_softmax_leaves_out_the_context_items(self):
        torch.manual_seed(3)
        n_items = 6
        model = item_gpt.ItemGPT(S + n_items, 8, 8, 1, 1, position_encoding="learned")
        model.eval()
        B = train.bk.BOS
        # Items S..S+5; the second window repeats an item (S + 1 is its third target).
        windows = [([B, S + 2, S + 0, S + 4], [(0, [S + 2], 1.0), (1, [S + 0], 1.0), (2, [S + 4], 0.5)]),
                   ([B, S + 1, S + 3], [(1, [S + 3], 2.0), (2, [S + 1], 1.0)])]
        for mask in (False, True):
            loss = train.batch_loss(model, windows, [0, 1], mask_seen=mask)
            with torch.no_grad():
                expected, n = 0.0, 0
                for tokens, targets in windows:
                    h, E = model.hidden(torch.tensor([tokens]))
                    for pos, items, w in targets:
                        logits = [float(h[0, pos] @ E[S + j]) for j in range(n_items)]
                        seen = set(tokens[1:pos + 1]) - set(items) if mask else set()
                        kept = [logits[j] for j in range(n_items) if S + j not in seen]
                        top = max(kept)
                        lse = top + math.log(sum(math.exp(x - top) for x in kept))
                        expected -= w * (logits[items[0] - S] - lse)
                        n += 1
            self.assertAlmostEqual(float(loss), expected / n, places=5, msg=f"mask_seen={mask}")
        self.assertNotAlmostEqual(float(train.batch_loss(model, windows, [0, 1], mask_seen=True)),
                                  float(train.batch_loss(model, windows, [0, 1])), places=4)


if __name__ == "__main__":
    unittest.main()
