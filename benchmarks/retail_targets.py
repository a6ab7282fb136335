"""What Online Retail's leave-one-out test targets are: completions of the last order, and
repeat purchases the protocol can never count as hits.

    python benchmarks/retail_targets.py

Through the same ingest as ``benchmarks/quality.py online-retail``: per shopper with 3 or more
purchases (the ones leave-one-out evaluates), in the Dataset's chronological order, is the test
target on the same invoice as the last input item (``same_invoice``; ``same_timestamp`` is the
proxy the next-basket split uses, an order's lines sharing its InvoiceDate), and was it bought
before (``repeat``: the protocol removes seen items from the candidates, so every model misses
it)? Writes ``benchmarks/results/targets-online-retail-leaveoneout.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import require_committed, write_result  # noqa: E402
from quality import online_retail_store  # noqa: E402

from cartwise.data.dataset import Dataset  # noqa: E402
from cartwise.data.split import last_item_context  # noqa: E402
from cartwise.data.store import Store  # noqa: E402


def invoice_shares(store: Store) -> dict[str, float]:
    """The last two purchases per shopper, ordered as Dataset.from_store orders them (time,
    then store order): same invoice, and the last one bought before."""
    events = store.events_frame()
    events = events.assign(row=np.arange(len(events))).sort_values(["user_id", "ts", "row"])
    counts = events.groupby("user_id")["item_id"].transform("size")
    events = events[counts >= 3]
    last = events.groupby("user_id").tail(1).set_index("user_id")
    before = events.groupby("user_id").nth(-2).set_index("user_id").loc[last.index]
    earlier = events.drop(index=events.groupby("user_id").tail(1).index)
    seen = pd.MultiIndex.from_frame(earlier[["user_id", "item_id"]])
    repeat = pd.MultiIndex.from_arrays([last.index, last["item_id"]]).isin(seen)
    return {
        "same_invoice": float((last["session_id"] == before["session_id"]).mean()),
        "repeat_by_invoice_data": float(repeat.mean()),
        "users": float(len(last)),
    }


def main() -> int:
    require_committed()
    with online_retail_store() as store:
        by_invoice = invoice_shares(store)
        context = last_item_context(Dataset.from_store(store, name="online-retail"))
    metrics = {
        "same_invoice": round(by_invoice["same_invoice"], 4),
        "same_timestamp": round(context["same_basket"], 4),
        "repeat": round(context["repeat"], 4),
        "repeat_by_invoice_data": round(by_invoice["repeat_by_invoice_data"], 4),
        "users": int(context["users"]),
    }
    assert by_invoice["users"] == context["users"], (by_invoice, context)
    path = write_result("targets", "online-retail", "leaveoneout", metrics)
    print(metrics, "->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
