"""Markdown and HTML evaluation reports with a metrics table and matplotlib plots."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cartwise.evaluation.experiment import ModelRun  # noqa: E402

COLUMNS = ("hr@10", "ndcg@10", "mrr", "coverage@10")


def metrics_rows(runs: Sequence[ModelRun]) -> list[list[str]]:
    """One row per model: validation and test metrics, training time, peak memory."""
    rows = []
    for r in runs:
        row = [r.model]
        row += [f"{r.valid.get('ndcg@10', float('nan')):.4f}"]
        row += [f"{r.test.get(c, float('nan')):.4f}" for c in COLUMNS]
        row += [f"{r.train_seconds:.1f}", f"{r.peak_rss_mb:.0f}"]
        rows.append(row)
    return rows


HEADER = ["model", "valid ndcg@10", *(f"test {c}" for c in COLUMNS), "train s", "peak MB"]


def bar_plot(runs: Sequence[ModelRun]) -> bytes:
    """PNG: test HR@10 and NDCG@10 per model."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = range(len(runs))
    width = 0.4
    ax.bar([i - width / 2 for i in x], [r.test.get("hr@10", 0) for r in runs], width, label="HR@10")
    ax.bar(
        [i + width / 2 for i in x], [r.test.get("ndcg@10", 0) for r in runs], width, label="NDCG@10"
    )
    ax.set_xticks(list(x), [r.model for r in runs])
    ax.set_ylabel("test metric")
    ax.legend()
    return _png(fig)


#: The validation metric the curve plot shows: training's per-epoch records carry it under
#: ``"metrics"`` (:class:`cartwise.training.EpochRecord`).
CURVE_METRIC = "ndcg@10"


def validation_curves(runs: Sequence[ModelRun]) -> dict[str, list[tuple[int, float]]]:
    """The points of the validation-curve plot: per model that trains in epochs, its
    (epoch, validation NDCG@10) pairs in epoch order. Epochs without a validation figure are
    left out, and so are models with none at all."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for r in runs:
        points: list[tuple[int, float]] = []
        for n, entry in enumerate(r.history, start=1):
            metrics = entry.get("metrics")
            if isinstance(metrics, dict) and CURVE_METRIC in metrics:
                points.append((int(entry.get("epoch", n)), float(metrics[CURVE_METRIC])))
        if points:
            curves[r.model] = points
    return curves


def history_figure(runs: Sequence[ModelRun]) -> Figure | None:
    """Validation NDCG@10 per epoch, one line per model (:func:`validation_curves`); None if no
    model has a curve."""
    curves = validation_curves(runs)
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for model, points in curves.items():
        epochs, values = zip(*points, strict=True)
        ax.plot(epochs, values, marker="o", label=model)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation NDCG@10")
    ax.legend()
    return fig


def history_plot(runs: Sequence[ModelRun]) -> bytes | None:
    """PNG of :func:`history_figure` (None if no model has a validation curve)."""
    fig = history_figure(runs)
    return None if fig is None else _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_report(
    runs: Sequence[ModelRun],
    folder: Path,
    *,
    dataset: str,
    formats: Sequence[str] = ("md", "html"),
    protocol: str = "Leave-one-out",
) -> list[Path]:
    """Write report.md / report.html (and the PNG plots) into `folder`, and every figure at
    full precision in results.json; returns the paths.

    Args:
        protocol: the split in words, e.g. "Leave-one-out" or "Temporal split at ...".
    """
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    record = {"dataset": dataset, "protocol": protocol, "runs": [r.to_dict() for r in runs]}
    results.write_text(json.dumps(record, indent=2, default=str))
    plots = {"metrics.png": bar_plot(runs), "sasrec_valid_ndcg.png": history_plot(runs)}
    written: list[Path] = [results]
    for name, data in plots.items():
        if data is not None:
            (folder / name).write_bytes(data)
            written.append(folder / name)
    rows = metrics_rows(runs)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if "md" in formats:
        lines = [f"# Evaluation on {dataset}", "", f"{protocol}, full ranking; {stamp}.", ""]
        lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", *(f"![{n}]({n})" for n, d in plots.items() if d is not None), ""]
        lines += [f"- {r.model}: `{r.config}`" for r in runs]
        path = folder / "report.md"
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    if "html" in formats:
        path = folder / "report.html"
        path.write_text(
            _html(
                runs,
                rows,
                plots,
                dataset,
                f"{protocol}, full ranking, seen items filtered; {stamp}",
            )
        )
        written.append(path)
    return written


def _html(
    runs: Sequence[ModelRun],
    rows: list[list[str]],
    plots: dict[str, bytes | None],
    dataset: str,
    about: str,
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    images = "".join(
        f'<img alt="{n}" src="data:image/png;base64,{base64.b64encode(d).decode()}">'
        for n, d in plots.items()
        if d is not None
    )
    configs = "".join(
        f"<li>{html.escape(r.model)}: <code>{html.escape(str(r.config))}</code></li>" for r in runs
    )
    return (
        "<!doctype html><meta charset='utf-8'>"
        f"<title>Cartwise evaluation: {html.escape(dataset)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}</style>"
        f"<h1>Evaluation on {html.escape(dataset)}</h1>"
        f"<p>{html.escape(about)}.</p>"
        f"<table><tr>{head}</tr>{body}</table>{images}<ul>{configs}</ul>"
    )
