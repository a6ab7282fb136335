"""The plot of the loop simulation's days: CTR per day of the retrained arm and the control.

    python benchmarks/loop_plot.py benchmarks/results/loop-days-demo.json

Writes ``loop-days-demo.png`` beside the result file (observed CTR as lines with markers,
the ground truth's expected CTR dashed; the catalog change before day 1 marked).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_days(result: Path, out: Path) -> Path:
    """Draw the CTR by day of `result` (a ``loop-days`` file) into `out`; returns `out`."""
    metrics = json.loads(result.read_text())["metrics"]
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {"retrained": "tab:blue", "control": "tab:grey"}
    for arm, colour in colours.items():
        ctr = metrics["ctr_by_day"][arm]
        days = list(range(len(ctr)))
        ax.plot(days, ctr, marker="o", color=colour, label=f"{arm} (observed)")
        ax.plot(days, metrics["expected_ctr_by_day"][arm], linestyle="--", color=colour,
                alpha=0.6, label=f"{arm} (expected, ground truth)")  # fmt: skip
    ax.axvline(0.5, color="tab:red", linestyle=":", label="catalog change (new items, text only)")
    ax.set_xlabel("simulated day")
    ax.set_ylabel("CTR@10")
    ax.set_title("Demo store loop: daily retraining vs a control that never retrains")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1])
    print(plot_days(path, path.with_suffix(".png")))
