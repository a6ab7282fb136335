"""EASE: contract, hand-computed closed form, block structure, memory refusal."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from contract import RecommenderContract, block_frame
from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.data.dataset import Dataset
from cartwise.errors import ResourceError
from cartwise.models import ease
from cartwise.models.base import Query
from cartwise.models.ease import EASE


class TestEASEContract(RecommenderContract):
    model_class = EASE
    config = {"reg": 10.0}


def test_closed_form_hand_computed() -> None:
    # users {a, b} and {a}: G = [[2,1],[1,1]] + I = [[3,1],[1,2]], P = G⁻¹ = [[2,-1],[-1,3]] / 5
    # B[a,b] = -P[a,b] / P[b,b] = 1/3 ; B[b,a] = -P[b,a] / P[a,a] = 1/2
    data = Dataset.from_frame(pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": list("aba")}))
    model = EASE({"reg": 1.0}).fit(data)
    a, b = data.items.index("a"), data.items.index("b")
    assert model.score(Query.of([a]))[b] == pytest.approx(1 / 3)
    assert model.score(Query.of([b]))[a] == pytest.approx(1 / 2)
    assert model.score(Query.of([a]))[a] == 0.0  # zero diagonal
    assert model.score(Query.of([a, b]))[b] == pytest.approx(1 / 3)


def test_blocks_recovered() -> None:
    data = Dataset.from_frame(block_frame())
    model = EASE({"reg": 10.0}).fit(data)
    for b in range(3):
        block = [f"i{b * 6 + j}" for j in range(6)]
        history = data.items.encode(block[:2])
        recs = model.recommend(Query(history), k=4, exclude=history)
        assert set(data.items.decode(r.item for r in recs)) == set(block[2:])
        similar = model.similar_items(int(history[0]), k=3)
        assert set(data.items.decode(s.item for s in similar)) <= set(block)


def test_refuses_when_memory_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    data = Dataset.from_frame(block_frame())
    monkeypatch.setattr(ease, "available_memory", lambda: 1000)
    with pytest.raises(ResourceError) as info:
        EASE().fit(data)
    message = str(info.value)
    assert "(18 items) needs about 0.0 GiB" in message and "19 × 19 float32" in message
    assert "only 0.0 GiB is available" in message and "itemknn or als" in message


def test_required_memory_counts_every_buffer() -> None:
    n, users, nnz = 24_000, 31_000, 300_000
    weights = 4 * (n + 1) ** 2
    block = 12 * n * ease.BLOCK
    assert ease.required_memory(n, users, nnz) == weights + block + 2 * (8 * nnz + 8 * (users + 1))
    assert ease.required_memory(n, users, nnz) < 2.5 * 2**30  # the 24k catalog of issue 12
    assert ease.required_memory(54_542) > 11 * 2**30  # Beauty: refused on a 23 GiB machine


def test_matches_the_float64_closed_form() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"user_id": rng.integers(0, 400, 3000).astype(str), "item_id": rng.zipf(1.5, 3000) % 250}
    ).drop_duplicates()
    data = Dataset.from_frame(frame.astype(str))
    x = data.matrix[:, 1:].toarray() > 0
    p = np.linalg.inv(x.T.astype(np.float64) @ x + 50.0 * np.eye(data.n_items))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    weights = EASE({"reg": 50.0}).fit(data).weights_
    assert weights is not None and weights.dtype == np.float32
    assert weights.shape == (data.n_items + 1, data.n_items + 1)
    assert not weights[0].any() and not weights[:, 0].any()
    np.testing.assert_allclose(weights[1:, 1:], b, atol=1e-5 * np.abs(b).max())


def test_shift_to_weights_keeps_the_matrix_and_pads_with_zeros() -> None:
    n = 4
    flat = np.full((n + 1) ** 2, 7.0, dtype=np.float32)
    block = np.arange(n * n, dtype=np.float32).reshape(n, n) + 1
    flat[: n * n] = block.ravel()
    weights = ease._shift_to_weights(flat, n)
    assert np.shares_memory(weights, flat)
    np.testing.assert_array_equal(weights[1:, 1:], block)
    assert not weights[0].any() and not weights[:, 0].any()


_PEAK_SCRIPT = """
import json, re, sys
from pathlib import Path
import numpy as np, pandas as pd, psutil
from cartwise.data.dataset import Dataset
from cartwise.models.ease import EASE, required_memory
n_items, n_users = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
items = np.concatenate([np.arange(n_items), rng.zipf(1.3, n_users * 12) % n_items])
users = np.concatenate([np.arange(n_items) % n_users, np.repeat(np.arange(n_users), 12)])
frame = pd.DataFrame({"user_id": users.astype(str), "item_id": items.astype(str)})
data = Dataset.from_frame(frame.drop_duplicates())
nnz = int((data.matrix[:, 1:] > 0).sum())
before = psutil.Process().memory_info().rss
EASE({"reg": 100.0}).fit(data)
# VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's size (pytest's, with torch)
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024
print(json.dumps({"n": data.n_items, "grew": peak - before,
                  "estimate": required_memory(data.n_items, data.n_users, nnz)}))
"""


def test_fit_peak_memory_is_the_estimate() -> None:
    """In a fresh process (peak RSS is per process): a 4,000-item catalog grows the process by
    about the estimate, which the old float64 inverse exceeded four times over."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, "4000", "5000"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["n"] == 4000
    weights = 4 * 4001**2
    assert weights * 0.9 <= result["grew"] <= result["estimate"] + 32 * 2**20
    assert result["grew"] < 4 * 8 * 4000**2 / 3  # the old fit needed 4 float64 n × n matrices


def test_cli_evaluate_refuses_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """`cartwise evaluate --models ease` on a catalog that does not fit: a one-line error and
    exit status 1, never a crash."""
    path = tmp_path / "tiny.txt"
    path.write_text("".join(f"u{u} i{(u + s) % 30}\n" for u in range(40) for s in range(5)))
    monkeypatch.setattr(ease, "available_memory", lambda: 10_000)
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(path), "--models", "ease", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1
    assert "error: EASE on 'tiny/train' (30 items) needs about" in result.output
    assert "itemknn or als" in result.output and "Traceback" not in result.output
