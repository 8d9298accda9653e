"""Training curves: did every model train, and did it settle?

Not a figure of the paper, but the evidence a reader needs before trusting the maps: one
panel per dataset, the per-epoch training loss of each method from
``<eval_dir>/logs/<method>.csv`` (written by Keras during training). The losses have
different units, so each is drawn on its own scale:

- l2-AE: Eq. 2, the sum of squared differences, per patch (left axis);
- SSIM-AE: 1 - SSIM, per patch, in [0, 2] (left axis);
- VAE: the negative ELBO per patch, -log p(x|z) + KL, in nats (right axis; it can be
  negative, because the decoder's Gaussian density exceeds 1 on well-fit pixels).

The left axis is logarithmic when both AE losses are positive. Validation losses
(a ``val_loss`` column, if the log has one) are dashed. Writes ``fig_training.png``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from reproduce.provenance import dataset_panels, save_figure

METHODS = {"l2_ae": ("l2-AE: sum of squared differences", "tab:blue"),
           "ssim_ae": ("SSIM-AE: 1 - SSIM", "tab:red"),
           "vae": ("VAE: negative ELBO (nats)", "tab:green")}


def _read(path: Path):
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    if "loss" not in df or df.empty:
        return None
    if "epoch" not in df:
        df["epoch"] = range(1, len(df) + 1)
    elif df["epoch"].min() == 0:  # Keras' CSVLogger counts from 0
        df["epoch"] = df["epoch"] + 1
    return df


def _panel(ax, spec, logs: Path) -> None:
    ax.set_title(spec, fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("AE loss per patch")
    right = ax.twinx()
    right.set_ylabel("VAE loss per patch (nats)", color=METHODS["vae"][1])
    right.tick_params(axis="y", colors=METHODS["vae"][1])
    lines, positive = [], True
    for method, (label, color) in METHODS.items():
        df = _read(logs / f"{method}.csv")
        if df is None:
            continue
        target = right if method == "vae" else ax
        lines += target.plot(df["epoch"], df["loss"], color=color, lw=1.6, marker=".", label=label)
        if "val_loss" in df and df["val_loss"].notna().any():  # Keras writes NA without validation
            lines += target.plot(df["epoch"], df["val_loss"], color=color, lw=1.2, ls="--",
                                 label=f"{label.split(':')[0]} (validation)")
        if target is ax:
            positive = positive and bool((df["loss"] > 0).all())
    if not lines:
        ax.text(0.5, 0.5, "no training logs", ha="center", transform=ax.transAxes)
        right.set_yticks([])
        return
    if positive and ax.get_lines():
        ax.set_yscale("log")
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="upper right")


def run(ctx) -> list[Path]:
    ctx.out.mkdir(parents=True, exist_ok=True)
    plt, fig, axes = dataset_panels(len(ctx.datasets), 5.2, 3.8)
    for ax, spec in zip(axes, ctx.datasets):
        _panel(ax, spec, ctx.eval_dir(spec) / "logs")
    fig.suptitle("Training loss per epoch (each method in its own units; VAE on the right axis)",
                 fontsize=11)
    path = ctx.out / "fig_training.png"
    save_figure(fig, path)
    plt.close(fig)
    ctx.log(f"fig_training: {len(ctx.datasets)} datasets")
    return [path]
