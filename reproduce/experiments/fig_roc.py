"""The paper's ROC figure: pixel-wise ROC curves of every anomaly map, one panel per dataset.

Each curve pools every pixel of every test image that has a ground-truth mask (defect-free
test images included, all their pixels negatives), as the paper's pixel ROC does, and is
drawn for every training seed at once: the line is the mean of the seeds' curves (their
true-positive rates averaged at each false-positive rate, "vertical averaging", Fawcett
2006, An introduction to ROC analysis, Section 7.1), so that its area is the mean of the
seeds' areas, the number table_auc reports; the band around it runs from the lowest to the
highest seed's curve. The legends give each map's pixel ROC AUC as table_auc.md's cell does:
the mean over seeds from ``metrics.csv`` ± their standard deviation, and how many of the
seeds' models trained where not all did (evaluation/trainedness.py).

The curves come from the evaluation's ``histograms.npz`` (every seed's per-image pixel
counts in 512 quantile bins of each map, committed with the results), so the figure needs
no ``maps.npz``; where an older folder has only ``maps.npz`` (the first seed's maps), its
counts are made from it and the figure shows that one seed. The two controls
(nearest-patch control, intensity control), trained on nothing and so with one curve each,
are drawn thin and dotted; the diagonal is chance.

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
# the controls' (one name each, as in results/README.md)
CURVES = {**{f"{m.method}__{name}": (m.label, m.colour, m.style, m.marker)
             for name, m in MAPS.items()},
          "reference__knn": ("nearest-patch control", "0.15", ":", "+"),
          "reference__intensity": ("intensity control", "0.55", ":", "x")}
# maps.npz key of each curve, for folders without histograms.npz
MAPS_KEY = {**{f"{m.method}__{name}": name for name, m in MAPS.items()},
            "reference__knn": "reference_knn", "reference__intensity": "reference_intensity"}


def roc_from_counts(counts):
    """(fpr, tpr) from (2, bins) defect-free / defect pixel counts of ascending bins: one
    point per bin edge, from (0, 0) to (1, 1)."""
    neg, pos = (np.concatenate([[0], np.cumsum(c[::-1])]) for c in np.asarray(counts, float))
    return neg / neg[-1], pos / pos[-1]


def seed_curves(counts):
    """Every seed's ROC curve of (S, 2, bins) pooled counts on one grid of false-positive
    rates (every seed's vertices), and their mean, lowest and highest true-positive rate:
    (fpr, mean, low, high). Each seed's curve is the trapezoid interpolation between its
    vertices (at a vertical step, its top), so the mean's area is the mean of the areas."""
    curves = [roc_from_counts(c) for c in counts]
    grid = np.unique(np.concatenate([fpr for fpr, _ in curves]))
    tprs = []
    for fpr, tpr in curves:
        last = len(fpr) - 1 - np.unique(fpr[::-1], return_index=True)[1]  # top of each step
        tprs.append(np.interp(grid, fpr[last], tpr[last]))
    tprs = np.array(tprs)
    start = np.zeros(1)  # every curve leaves (0, 0), whatever its first step
    return (np.concatenate([start, grid]), *(np.concatenate([start, f(tprs, axis=0)])
                                            for f in (np.mean, np.min, np.max)))


def _counts(folder: Path) -> dict:
    """{curve key: (S, 2, bins) counts pooled over the test images, one row per seed},
    from histograms.npz (every seed) or maps.npz (the first seed)."""
    if (folder / "histograms.npz").exists():
        with np.load(folder / "histograms.npz", allow_pickle=False) as z:
            return {key: z[key].sum(axis=1) for key in CURVES if key in z}
    if (folder / "maps.npz").exists():
        from evaluation.uncertainty import pixel_histograms
        with np.load(folder / "maps.npz", allow_pickle=False) as z:
            return {key: pixel_histograms(z[MAPS_KEY[key]], z["masks"], z["has_mask"]).sum(0)[None]
                    for key in CURVES if MAPS_KEY[key] in z}
    return {}


def _legend_values(folder: Path) -> dict:
    """{curve key: its pixel ROC AUC as table_auc.md writes it}: the mean over the seeds'
    rows of metrics.csv, ± their standard deviation, (k/n trained) where not all trained."""
    path = folder / "metrics.csv"
    if not path.exists():
        return {}
    out = {}
    df = pd.read_csv(path)
    for (method, name), group in df.groupby(["method", "map"], sort=False):
        values = group["pixel_auroc"].astype(float)
        text = f"{values.mean():.3f}" + (f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else "")
        if "fit_trained" in group and group["fit_trained"].notna().any():
            trained = int(group["fit_trained"].astype(str).str.lower().eq("true").sum())
            if trained < len(group):
                text += f" ({trained}/{len(group)} trained)" if trained else " (not trained)"
        out[f"{method}__{name}"] = text
    return out


def _style(ax, spec) -> None:
    ax.set_title(spec, fontsize=9, fontweight="bold")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.01), ax.set_aspect("equal")
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(color="0.92", lw=0.5)


def _panel(ax, spec, folder: Path, log) -> None:
    from evaluation.uncertainty import auroc_from_counts

    _style(ax, spec)
    counts, values = _counts(folder), _legend_values(folder)
    counts = {key: c for key, c in counts.items() if (c[:, 0].sum(-1) > 0).all()
              and (c[:, 1].sum(-1) > 0).all()}
    if not counts:
        ax.text(0.5, 0.5, "no pixel masks\nor not evaluated", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
        log(f"fig_roc: no pixel counts in {folder}")
        return
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, label="chance (AUC 0.5)")
    for i, (key, c) in enumerate(counts.items()):
        label, color, style, marker = CURVES[key]
        fpr, mean, low, high = seed_curves(c)
        value = values.get(key) or f"{np.mean(auroc_from_counts(c)):.3f}"
        reference = key.startswith("reference")
        if len(c) > 1:
            ax.fill_between(fpr, low, high, color=color, alpha=0.15, lw=0)
        ax.plot(fpr, mean, color=color, ls=style, lw=0.9 if reference else 1.3, marker=marker,
                ms=4, mfc="none", mew=0.9, markevery=(0.03 + 0.025 * i, 0.15),
                label=f"{label}: {value}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, fontsize=7,
              title="pixel ROC AUC, mean over seeds ± sd", title_fontsize=7, frameon=False,
              handlelength=3)


def run(ctx) -> list[Path]:
    plt = pyplot()
    ctx.out.mkdir(parents=True, exist_ok=True)
    n = max(len(ctx.datasets), 1)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(3.7 * cols, 5.6 * rows), squeeze=False,
                             layout="constrained")
    for ax in grid.flat[len(ctx.datasets):]:
        ax.axis("off")
    for ax, spec in zip(grid.flat, ctx.datasets):
        _panel(ax, spec, ctx.eval_dir(spec), ctx.log)
    fig.suptitle("Pixel-wise ROC curves of the anomaly maps (all pixels of the test images "
                 "with masks).\nLine: the mean of the training seeds' curves; band: from the "
                 "lowest to the highest seed's", fontsize=9)
    path = ctx.out / "fig_roc.png"
    save_figure(fig, path, dpi=200)
    ctx.log(f"fig_roc: {len(ctx.datasets)} datasets")
    return [path]
