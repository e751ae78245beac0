"""Customer histories -> baskets -> item-model token sequences, as docs/FORMATS.md and
docs/EVALUATION.md define them (the C++ engine implements the same rules).

A history is `{"customer_id": ..., "events": [{"item", "type", "timestamp" | "date", "order"?}]}`
or a bare list of events. Only `type == "purchase"` events count. Events are sorted by time
(stable); either every event has a time or none has (then the file order is the time order). A
basket is one `order`, or one calendar date when the event has no order (or the event alone when
it has neither); baskets are ordered by their first event; a basket's items are its distinct items
in order of first purchase.
"""
import datetime
import gzip
import json

SPECIAL_TOKENS = ["<pad>", "<bos>", "<sep>", "<unk>"]
PAD, BOS, SEP, UNK = range(4)


def open_text(path):
    """Opens a text file, transparently decompressing `.gz`."""
    return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def read_histories(path):
    """Yields every history of a JSONL(.gz) file, one JSON object (or event list) per line."""
    with open_text(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _event_time(event):
    """A comparable time: ISO 8601 date or date-time; aware times are converted to UTC."""
    text = event.get("timestamp", event.get("date"))
    if text is None:
        raise ValueError(f"event without timestamp or date: {event}")
    t = datetime.datetime.fromisoformat(str(text))
    if t.tzinfo is not None:
        t = t.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return t


def _has_time(event):
    return event.get("timestamp", event.get("date")) is not None


def _basket_key(event, index):
    if event.get("order") is not None:
        return "order:" + str(event["order"])
    if _has_time(event):
        return "date:" + str(event.get("timestamp", event.get("date")))[:10]
    return f"event:{index}"


def purchase_events(history):
    """The purchase events of a history, sorted by time (stable); without times, in file order."""
    events = history["events"] if isinstance(history, dict) else history
    timed = [_has_time(e) for e in events]
    if not any(timed):
        return [e for e in events if e.get("type", "purchase") == "purchase"]
    if not all(timed):
        raise ValueError(f"events[{timed.index(False)}]: no timestamp or date, but other events have one")
    events = [e for e in events if e.get("type", "purchase") == "purchase"]
    return sorted(events, key=_event_time)


def baskets_of(history):
    """The customer's baskets, oldest first: lists of distinct item ids (strings)."""
    baskets = {}
    for index, e in enumerate(purchase_events(history)):
        items = baskets.setdefault(_basket_key(e, index), [])
        item = str(e["item"])
        if item not in items:
            items.append(item)
    return list(baskets.values())


def events_as_units(history):
    """The `items` sequence format: one unit (a one-item list) per purchase event, oldest first."""
    return [[str(e["item"])] for e in purchase_events(history)]


def units_of(history, sequence_format):
    """The units a sequence is made of: baskets (`baskets`) or single purchase events (`items`)."""
    if sequence_format == "baskets":
        return baskets_of(history)
    if sequence_format == "items":
        return events_as_units(history)
    raise ValueError(f"unknown sequence format {sequence_format!r}")


def unit_tokens(unit, item_ids, sequence_format):
    """Tokens of one unit; items missing from `item_ids` are skipped (as the engine does), and a
    basket left without items is dropped whole (no lone `<sep>`)."""
    ids = [item_ids[i] for i in unit if i in item_ids]
    return ids + [SEP] if sequence_format == "baskets" and ids else ids


def build_sequence(units, item_ids, sequence_format, n_positions):
    """`<bos>` + the units' tokens, dropping the oldest units until it fits in `n_positions`.

    If the newest unit alone does not fit, its oldest items are dropped (the sequence keeps
    `<bos>`, the newest n_positions - 2 items of that basket and its `<sep>`).
    Returns (tokens, number of units dropped to fit).
    """
    parts = [unit_tokens(u, item_ids, sequence_format) for u in units]
    budget = n_positions - 1
    kept = []
    used = 0
    for part in reversed(parts):
        if not part:
            continue
        if used + len(part) > budget:
            if not kept:
                kept.append(part[len(part) - budget:])
            break
        kept.append(part)
        used += len(part)
    tokens = [BOS]
    for part in reversed(kept):
        tokens.extend(part)
    return tokens, sum(1 for p in parts if p) - len(kept)
