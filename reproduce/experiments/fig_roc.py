"""The paper's ROC figure: pixel-wise ROC curves of every anomaly map, one panel per dataset.

Each curve pools every pixel of every test image that has a ground-truth mask (defect-free
test images included, all their pixels negatives), as the paper's pixel ROC does, for the
first training seed (the maps of fig_qualitative). The curves come from the evaluation's
``histograms.npz`` (per-image pixel counts in 512 quantile bins of each map, committed
with the results), so the figure needs no ``maps.npz``; where an older folder has only
``maps.npz``, the same counts are made from it. The areas in the legends are the first
seed's from ``metrics.csv`` (as in table_auc). The two reference detectors (nearest
training patch, naive intensity) are drawn thin and dotted; the diagonal is chance.

Each map has its own colour, line style and marker, so that curves lying on each other
stay apart; each panel's legend sits below it, outside the data. Writes ``fig_roc.png``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from methods import MAPS
from reproduce.plotting import pyplot, save_figure

# histogram key -> (label, colour, line style, marker): the maps' from methods.py, then the
# reference detectors'
CURVES = {**{f"{m.method}__{name}": (m.label, m.colour, m.style, m.marker)
             for name, m in MAPS.items()},
          "reference__knn": ("ref.: nearest training patch", "0.15", ":", "+"),
          "reference__intensity": ("ref.: naive intensity", "0.55", ":", "x")}
# maps.npz key of each curve, for folders without histograms.npz
MAPS_KEY = {**{f"{m.method}__{name}": name for name, m in MAPS.items()},
            "reference__knn": "reference_knn", "reference__intensity": "reference_intensity"}


def roc_from_counts(counts):
    """(fpr, tpr) from (2, bins) defect-free / defect pixel counts of ascending bins: one
    point per bin edge, from (0, 0) to (1, 1)."""
    neg, pos = (np.concatenate([[0], np.cumsum(c[::-1])]) for c in np.asarray(counts, float))
    return neg / neg[-1], pos / pos[-1]


def _counts(folder: Path) -> dict:
    """{curve key: (K, 2, bins) counts of the first seed}, from histograms.npz or maps.npz."""
    if (folder / "histograms.npz").exists():
        with np.load(folder / "histograms.npz", allow_pickle=False) as z:
            return {key: z[key][0] for key in CURVES if key in z}
    if (folder / "maps.npz").exists():
        from evaluation.uncertainty import pixel_histograms
        with np.load(folder / "maps.npz", allow_pickle=False) as z:
            return {key: pixel_histograms(z[MAPS_KEY[key]], z["masks"], z["has_mask"])
                    for key in CURVES if MAPS_KEY[key] in z}
    return {}


def _aucs(folder: Path) -> dict:
    path = folder / "metrics.csv"
    if not path.exists():
        return {}
    df = pd.read_csv(path)
    if "seed" in df:  # the curves drawn are the first training seed's
        df = df[(df["seed"] == df["seed"].iloc[0]) | (df["method"] == "reference")]
    return {f"{row['method']}__{row['map']}": float(row["pixel_auroc"]) for _, row in df.iterrows()}


def _panel(ax, spec, folder: Path, log) -> None:
    from evaluation.uncertainty import auroc_from_counts

    ax.set_title(spec, fontsize=9, fontweight="bold")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.01), ax.set_aspect("equal")
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(color="0.92", lw=0.5)
    counts, aucs = _counts(folder), _aucs(folder)
    pooled = {key: c.sum(axis=0) for key, c in counts.items()}
    pooled = {key: c for key, c in pooled.items() if c[0].sum() and c[1].sum()}
    if not pooled:
        ax.text(0.5, 0.5, "no pixel masks\nor not evaluated", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
        log(f"fig_roc: no pixel counts in {folder}")
        return
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, label="chance (AUC 0.5)")
    for i, (key, c) in enumerate(pooled.items()):
        label, color, style, marker = CURVES[key]
        fpr, tpr = roc_from_counts(c)
        auc = aucs.get(key)
        if auc is None or not math.isfinite(auc):
            auc = float(auroc_from_counts(c))
        reference = key.startswith("reference")
        ax.plot(fpr, tpr, color=color, ls=style, lw=0.9 if reference else 1.3, marker=marker,
                ms=4, mfc="none", mew=0.9, markevery=(0.03 + 0.025 * i, 0.15),
                label=f"{label}: {auc:.3f}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=7,
              title="pixel ROC AUC", title_fontsize=7, frameon=False, handlelength=3,
              columnspacing=1.0)


def run(ctx) -> list[Path]:
    plt = pyplot()
    ctx.out.mkdir(parents=True, exist_ok=True)
    n = max(len(ctx.datasets), 1)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(3.5 * cols, 4.1 * rows), squeeze=False,
                             layout="constrained")
    for ax in grid.flat[len(ctx.datasets):]:
        ax.axis("off")
    for ax, spec in zip(grid.flat, ctx.datasets):
        _panel(ax, spec, ctx.eval_dir(spec), ctx.log)
    fig.suptitle("Pixel-wise ROC curves of the anomaly maps (first training seed; all pixels "
                 "of the test images with masks)", fontsize=9)
    path = ctx.out / "fig_roc.png"
    save_figure(fig, path, dpi=200)
    ctx.log(f"fig_roc: {len(ctx.datasets)} datasets")
    return [path]
