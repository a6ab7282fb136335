"""UCI Online Retail through the normal import path, checked against plain pandas on the raw file.

Decisions this test pins down (see ``online-retail/SOURCE.txt`` for the file):

- Items: the raw file holds two "Adjust bad debt" accounting rows (StockCode B) with a negative
  UnitPrice. Importing the raw file as a catalog must stop at the first of them that survives
  ``on_duplicate="last"``, naming its line; the test then drops those two rows (accounting
  entries, not products) into a copy and imports that.
- Non-product stock codes (POST, DOT, M, D, C2, BANK CHARGES, AMAZONFEE, ...) and codes that
  differ only in letter case (85123A / 85123a) are kept as distinct items: ids are taken
  verbatim, and filtering fees out is a modelling choice, not an import one.
- Events: rows without CustomerID (135,080) are skipped and counted; negative quantities (the
  "C" cancellation invoices) become ``return`` events with the absolute quantity.
- Rows identical in every mapped field (same invoice, customer, item, quantity, minute) are
  kept as separate events (derived ids carry a repeat number): an invoice may list a product on
  two lines, and the file cannot tell a double scan from a data-entry duplicate.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.ingest.files import ingest_file
from cartwise.data.store import Store
from cartwise.errors import IngestError

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

EVENT_MAPPING = {
    "user_id": "CustomerID",
    "item_id": "StockCode",
    "session_id": "InvoiceNo",
    "value": "Quantity",
    "timestamp": "InvoiceDate",
}
ITEM_MAPPING = {"id": "StockCode", "title": "Description", "price": "UnitPrice"}


@pytest.fixture(scope="module")
def raw_path(datasets_dir: Path) -> Path:
    path = datasets_dir / "online-retail" / "online_retail.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def raw(raw_path: Path) -> pd.DataFrame:
    """The raw rows as text, blank cells as ''."""
    return pd.read_csv(raw_path, dtype=str, keep_default_na=False)


def test_online_retail_import(raw_path: Path, raw: pd.DataFrame, tmp_path: Path) -> None:
    # No cell spans lines, so a row's line in the file is its position + 2 (header = line 1).
    assert len(raw) == 541_909
    with gzip.open(raw_path, "rt", encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == len(raw) + 1
    store = Store.open(tmp_path / "retail.db")
    price = raw["UnitPrice"].astype(float)

    # 1. The raw catalog stops at the negative price of the row kept for its StockCode.
    kept = raw.drop_duplicates("StockCode", keep="last")
    bad_row = int(kept.index[(kept["UnitPrice"].astype(float) < 0).to_numpy()][0])
    with pytest.raises(IngestError) as info:
        ingest_file(store, "items", raw_path, mapping=ITEM_MAPPING, on_duplicate="last")
    assert (info.value.line, info.value.field) == (bad_row + 2, "UnitPrice")
    assert "negative price" in str(info.value)
    assert store.counts() == {"items": 0, "users": 0, "events": 0}

    # 2. The catalog without the two accounting rows.
    clean = raw[price >= 0]
    assert len(raw) - len(clean) == 2
    catalog_path = tmp_path / "catalog.csv.gz"
    clean.to_csv(catalog_path, index=False)
    items = ingest_file(store, "items", catalog_path, mapping=ITEM_MAPPING, on_duplicate="last")
    n_codes = clean["StockCode"].nunique()
    assert n_codes == raw["StockCode"].nunique() == 4_070
    assert (items.inserted, items.skipped) == (n_codes, {"duplicate id": len(clean) - n_codes})
    last = clean.drop_duplicates("StockCode", keep="last").set_index("StockCode")
    assert store.get_item("85123A").title == last.loc["85123A", "Description"]
    assert store.get_item("85123A").price == float(last.loc["85123A", "UnitPrice"])

    # 3. Events from the raw file.
    has_customer = raw["CustomerID"] != ""
    quantity = raw["Quantity"].astype(int)
    with_customer = raw[has_customer]
    returns = int((has_customer & (quantity < 0)).sum())
    events = ingest_file(
        store,
        "events",
        raw_path,
        mapping=EVENT_MAPPING,
        default_kind="purchase",
        negative_value="return",
        missing_user="skip",
    )
    assert (events.rows_read, events.inserted, events.duplicates) == (len(raw), 406_829, 0)
    assert events.inserted == len(with_customer)
    assert (
        events.skipped
        == {"missing user_id": int((~has_customer).sum())}
        == {"missing user_id": 135_080}
    )
    assert events.ignored_columns == ("Description", "UnitPrice", "Country")
    assert store.counts() == {
        "items": n_codes,
        "users": with_customer["CustomerID"].nunique(),
        "events": len(with_customer),
    }
    stats = store.stats()
    assert stats["events_by_kind"] == {"purchase": len(with_customer) - returns, "return": returns}
    assert returns == 8_905
    frame = store.events_frame()
    assert frame["value"].sum() == quantity[has_customer].abs().sum()
    assert frame["item_id"].nunique() == with_customer["StockCode"].nunique()
    assert (frame["item_id"] == "POST").sum() == (with_customer["StockCode"] == "POST").sum()
    first = datetime(2010, 12, 1, 8, 26, tzinfo=UTC).timestamp()
    last_ts = pd.Timestamp(with_customer["InvoiceDate"].max(), tz="UTC").timestamp()
    assert (frame["ts"].min(), frame["ts"].max()) == (first, last_ts)

    # 4. The training snapshot sees purchases only.
    data = Dataset.from_store(store)
    bought = with_customer[quantity[has_customer] > 0]
    assert data.n_interactions == len(bought) == 397_924
    assert data.n_users == bought["CustomerID"].nunique() == 4_339
    assert data.n_items == n_codes

    # 5. Importing the same file again adds nothing.
    again = ingest_file(
        store,
        "events",
        raw_path,
        mapping=EVENT_MAPPING,
        default_kind="purchase",
        negative_value="return",
        missing_user="skip",
    )
    assert (again.inserted, again.duplicates) == (0, len(with_customer))
    assert store.counts()["events"] == len(with_customer)
