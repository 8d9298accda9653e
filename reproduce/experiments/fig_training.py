"""Training curves: did every model train, and did it settle?

Not a figure of the paper, but the evidence a reader needs before trusting the maps. One
row per dataset, one column per training term, each panel on its own linear scale:

- l2-AE: Eq. 2, the sum of squared differences, per patch;
- SSIM-AE: 1 - SSIM, per patch, in [0, 2];
- VAE, reconstruction term: -log p(x|z) per patch, in nats (negative where the decoder's
  Gaussian density exceeds 1 on well-fit pixels);
- VAE, KL term: KL(Q(z|x) || N(0, I)) per patch, in nats. The VAE's loss, the negative
  ELBO, is the sum of its two panels.

Every training seed is drawn, one colour each, from the per-epoch Keras log of each model:
the copy the evaluation keeps in ``<eval_dir>/logs/`` (reproduce/context.py), else
``log.csv`` in the model cache (the folder ``run.json`` records). Evaluation folders of
older versions kept only the first seed's log; without the model cache (a fresh clone)
their other seeds are missing, and the figure says so. Beside each training curve (solid),
the same term on the validation patches (dashed, same colour; training.py: a fixed set of
patches of the defect-free validation images, computed after every epoch) where the log
has it (logs written before it was recorded have none). A model that
evaluation/trainedness.py judged not trained (``run.json``) is drawn faint with crosses.
During a warm-up (shaded: the VAE's KL warm-up, models/vae.py) the logged training
reconstruction term uses the decoder's variance blended with a fixed one and the objective
down-weights the KL: the training loss there is not the model's ELBO (the validation terms
are: the full ELBO at warm-up 1). A value far above a curve after its first epoch (more
than 3 interquartile ranges above its upper quartile: the spikes of unstable runs) is
left off scale, and the panel says how far; a falling loss is never cut off.
Writes ``fig_training.png``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from methods import METHODS, default_methods
from reproduce.context import log_file
from reproduce.plotting import pyplot, save_figure



def panels(methods) -> list[tuple[str, str, str, str]]:
    """One panel per training term of each method (methods.py): (method, log column,
    title, y label)."""
    return [(method, *term) for method in methods for term in METHODS[method].terms]


SEED_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")


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


def _cache_log(recorded: str) -> Path:
    """A model's log.csv where run.json says, else under this machine's model cache."""
    path = Path(recorded) / "log.csv"
    if path.exists():
        return path
    from reproduce.cache import cache_root
    return cache_root() / "models" / Path(recorded).name / "log.csv"


def _run_info(folder: Path) -> dict:
    try:
        return json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def seed_logs(folder: Path, method: str, info: dict) -> list[tuple[int, pd.DataFrame, bool]]:
    """(training seed, its log, judged trained) of every seed whose log can be found;
    ``info``: the evaluation's run.json."""
    seeds = info.get("train_seeds") or info.get("seeds") or [0]
    models, health = info.get("models", {}), info.get("trainedness", {})
    out = []
    for i, seed in enumerate(seeds):
        tag = f"{method}/seed{seed}"
        df = _read(log_file(folder, method, seed, first=i == 0))
        if df is None and tag in models:
            df = _read(_cache_log(models[tag]))
        if df is not None:
            out.append((int(seed), df, bool(health.get(tag, {}).get("trained", True))))
    return out


def _limits(curves):
    """(lo, hi) covering every value but upward spikes (more than 3 interquartile ranges
    above a curve's upper quartile, after its first epoch), and the highest spike (None if
    none). A loss that falls is never cut off."""
    values = np.concatenate(curves)
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    hi = -math.inf
    for y in curves:
        y = y[np.isfinite(y)]
        if y.size:
            q1, q3 = np.percentile(y, [25, 75])
            hi = max(hi, y[0], y[y <= q3 + 3 * (q3 - q1)].max())
    lo, top = values.min(), values.max()
    pad = 0.06 * (hi - lo) or 0.05 * abs(hi) or 1.0
    return (lo - pad, hi + pad), (float(top) if top > hi else None)


def _panel(ax, spec, panel, logs, warmup) -> bool:
    """One term of one method; returns whether a validation curve was drawn."""
    method, column, title, ylabel = panel
    ax.set_title(f"{spec}: {title}", fontsize=7.5)
    ax.set_xlabel("epoch", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.tick_params(labelsize=6.5)
    ax.grid(color="0.92", lw=0.5)
    if METHODS[method].warm_up and warmup:
        ax.axvspan(0.5, warmup + 0.5, color="0.88", lw=0)
    curves, validation = [], False
    for seed, df, trained in logs:
        if column not in df:
            continue
        style = dict(color=SEED_COLORS[seed % len(SEED_COLORS)], lw=1.0, alpha=1.0 if trained else 0.45)
        ax.plot(df["epoch"], df[column], marker="." if trained else "x", ms=3, ls="-", **style)
        curves.append(df[column].to_numpy(float))
        val = f"val_{column}"
        if val in df and df[val].notna().any():  # Keras writes NA without validation data
            ax.plot(df["epoch"], df[val], ls="--", marker="o", ms=2.5, mfc="none", **style)
            curves.append(df[val].to_numpy(float))
            validation = True
    if not curves:
        ax.text(0.5, 0.5, "no training log", ha="center", va="center", fontsize=7,
                transform=ax.transAxes)
        return False
    limits, extreme = _limits(curves)
    ax.set_ylim(*limits)
    ax.set_xlim(0.5, max(df["epoch"].max() for _, df, _ in logs) + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if extreme is not None:
        ax.text(0.97, 0.96, f"off scale: up to {extreme:.3g}", fontsize=6, ha="right", va="top",
                transform=ax.transAxes, bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
    return validation


def run(ctx) -> list[Path]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = pyplot()
    ctx.out.mkdir(parents=True, exist_ok=True)
    n = max(len(ctx.datasets), 1)
    infos = {spec: _run_info(ctx.eval_dir(spec)) for spec in ctx.datasets}
    # the methods the evaluations ran (the default run's where a run.json does not say)
    ran = {spec: info.get("methods", default_methods()) for spec, info in infos.items()}
    shown = panels([m for m in METHODS if any(m in names for names in ran.values())])
    fig, grid = plt.subplots(n, len(shown), figsize=(7.0 * max(len(shown), 4) / 4, 1.75 * n + 1.3),
                             squeeze=False, layout="constrained")
    seeds, missing, untrained, warmups, validation = set(), [], False, set(), False
    for row, spec in zip(grid, ctx.datasets):
        folder, info = ctx.eval_dir(spec), infos[spec]
        warmup = int(info.get("profile", {}).get("kl_warmup_epochs", 0) or 0)
        warmups.add(warmup)
        logs = {m: seed_logs(folder, m, info) for m in ran[spec]}
        for found in logs.values():
            drawn = {s for s, _, _ in found}
            seeds |= drawn
            missing += [s for s in info.get("train_seeds", []) if s not in drawn]
            untrained |= not all(trained for _, _, trained in found)
        for ax, panel in zip(row, shown):
            validation |= _panel(ax, spec, panel, logs.get(panel[0], []), warmup)
    handles = [Line2D([], [], color=SEED_COLORS[s % len(SEED_COLORS)], marker=".", lw=1.0,
                      label=f"training seed {s}") for s in sorted(seeds)]
    handles.append(Line2D([], [], color="0.3", marker=".", lw=1.0, label="training patches"))
    if validation:
        handles.append(Line2D([], [], color="0.3", ls="--", marker="o", ms=2.5, mfc="none", lw=1.0,
                              label="validation patches"))
    if untrained:
        handles.append(Line2D([], [], color="0.3", marker="x", ms=3, alpha=0.45, lw=1.0,
                              label="model judged not trained"))
    if any(warmups):
        handles.append(Patch(color="0.88", label="VAE KL warm-up: training loss not the ELBO"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    lines = ["Loss per epoch on the training patches (solid) and on fixed validation patches "
             "(dashed), each panel on its own linear scale.",
             "VAE: negative ELBO = reconstruction term + KL term."]
    if any(warmups):
        lines += ["Shaded: the VAE's KL warm-up, where the logged training reconstruction term "
                  "uses a blended decoder variance and the objective",
                  "down-weights the KL: the training loss there is not the model's ELBO "
                  "(the validation loss is)."]
    if not validation:
        lines[-1] += " No validation loss in these logs (written before it was recorded)."
    if missing:  # an older folder (first seed's log only) without the model cache
        lines.append(f"Not drawn: the logs of {len(missing)} models (training seeds "
                     f"{', '.join(map(str, sorted(set(missing))))}), not found here: they are "
                     "kept in the model cache, which is not committed.")
    fig.suptitle("\n".join(lines), fontsize=7.5)
    path = ctx.out / "fig_training.png"
    save_figure(fig, path, dpi=200)
    ctx.log(f"fig_training: {len(ctx.datasets)} datasets, seeds {sorted(seeds)}")
    return [path]
