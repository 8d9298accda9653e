"""The paper's ROC figure: pixel-wise ROC curves of every anomaly map, one panel per dataset.

Each curve pools every pixel of every test image that has a ground-truth mask (defect-free
test images included, all their pixels negatives), as the paper's pixel ROC does; the
curve comes from ``evaluation.metrics.roc_curve`` (thinned to about 500 points for
drawing) and the area in the legend is the one in the evaluation's ``metrics.csv`` (the
same number as in table_auc). The diagonal is a map that knows nothing (chance).

Reads ``<eval_dir>/maps.npz`` (maps l2, ssim, vae_kl, vae_rp; masks; has_mask) and
``metrics.csv``; writes ``fig_roc.png``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from reproduce.context import MAPS
from reproduce.provenance import dataset_panels, save_figure

COLORS = {"l2": "tab:blue", "ssim": "tab:red", "vae_kl": "tab:green", "vae_rp": "tab:purple"}
MAX_POINTS = 500


def _aucs(folder: Path) -> dict:
    path = folder / "metrics.csv"
    if not path.exists():
        return {}
    df = pd.read_csv(path)
    if "seed" in df:  # the maps drawn are the first training seed's (maps.npz)
        df = df[df["seed"] == df["seed"].iloc[0]]
    return {(row["method"], row["map"]): float(row["pixel_auroc"]) for _, row in df.iterrows()}


def _panel(ax, spec, folder: Path, log) -> None:
    from evaluation.metrics import pixel_auroc, roc_curve

    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="chance (AUC 0.5)")
    ax.set_title(spec, fontsize=10)
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.01), ax.set_aspect("equal")
    ax.set_xlabel("false-positive rate (defect-free pixels)")
    ax.set_ylabel("true-positive rate (defect pixels)")
    path = folder / "maps.npz"
    if not path.exists():
        ax.text(0.5, 0.5, "not evaluated", ha="center", transform=ax.transAxes)
        log(f"fig_roc: no {path}")
        return
    aucs = _aucs(folder)
    with np.load(path, allow_pickle=False) as z:
        has_mask = z["has_mask"].astype(bool)
        masks = z["masks"][has_mask].astype(bool)
        if not has_mask.any() or masks.all() or not masks.any():
            ax.text(0.5, 0.5, "no pixel masks:\nimage-level metrics only", ha="center",
                    transform=ax.transAxes)
            return
        for name, (method, label) in MAPS.items():
            if name not in z:
                continue
            scores = z[name][has_mask]
            fpr, tpr, _ = roc_curve(scores, masks, max_points=MAX_POINTS)
            auc = aucs.get((method, name))
            if auc is None or not math.isfinite(auc):
                auc = pixel_auroc(z[name], z["masks"], has_mask)
            ax.plot(fpr, tpr, color=COLORS.get(name), lw=1.6, label=f"{label}: AUC {auc:.3f}")
    ax.legend(loc="lower right", fontsize=8)


def run(ctx) -> list[Path]:
    ctx.out.mkdir(parents=True, exist_ok=True)
    plt, fig, axes = dataset_panels(len(ctx.datasets), 4.4, 4.4)
    for ax, spec in zip(axes, ctx.datasets):
        _panel(ax, spec, ctx.eval_dir(spec), ctx.log)
    fig.suptitle("Pixel-wise ROC curves of the anomaly maps (all pixels of the test images "
                 "with masks)", fontsize=11)
    path = ctx.out / "fig_roc.png"
    save_figure(fig, path)
    plt.close(fig)
    ctx.log(f"fig_roc: {len(ctx.datasets)} datasets")
    return [path]
