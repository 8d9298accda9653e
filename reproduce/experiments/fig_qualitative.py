"""The paper's qualitative figures: what each method flags, segments and reconstructs.

Images shown (``choose``): the first defect-free test image and the first test image of
each defect type, in test-set order; one row each. All maps and reconstructions are the
first training seed's (``maps.npz`` holds only those). Two figures per dataset:

- ``fig_qualitative_<dataset>.png``: the input with its true defect outlined, then the four
  anomaly maps (l2-AE, SSIM-AE, VAE KL, VAE reconstruction probability). Each map type
  has one colour scale across the images shown (1st to 99.5th percentile of their
  values, widened to include the threshold), with its colour bar below the column. On
  each map, the segmentation ``map > t`` is filled in red (filled, not outlined: an outline
  around every stray pixel would look far larger than it is), with ``t`` the threshold
  chosen on defect-free validation images (never on the test set; marked on the colour
  bar); the true defect is outlined dashed in cyan.
- ``fig_qualitative_<dataset>_reconstructions.png``: the input and each model's
  reconstruction (the VAE's decoder mean), all on the grey scale [0, 1], cropped to
  CROP x CROP pixels around the centre of the defect's largest region (the image centre if
  it has none): at
  full size the texture's period is finer than the printed pixels.

A model that evaluation/trainedness.py judged not trained is marked in its column title.
Reads ``<eval_dir>/maps.npz`` (not committed: a fresh clone skips these figures with a
message) and ``run.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from methods import MAPS, METHODS
from reproduce.plotting import pyplot, save_figure

SEGMENT, TRUTH = "red", "cyan"  # map > t (filled), ground-truth defect (dashed outline)
CELL = 1.2  # inches per image: five columns fit a 17 cm page
CROP = 160


def choose(labels, defect_types) -> list[int]:
    """The first defect-free test image, then the first of each defect type (test order)."""
    shown, seen = [k for k, label in enumerate(labels) if label == 0][:1], set()
    for k, (kind, label) in enumerate(zip(defect_types, labels)):
        if label == 1 and str(kind) not in seen:
            seen.add(str(kind))
            shown.append(k)
    return shown


def crop(mask, size=CROP):
    """Index of the size x size window centred on the centre of the mask's largest connected
    region (8-connected; the image's centre if the mask is empty). Not the whole mask's
    centre: with two small defects far apart (dust) that lies between them and shows none."""
    h, w = mask.shape
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n > 1:
        mask = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    ys, xs = np.nonzero(mask)
    cy, cx = (int(ys.mean()), int(xs.mean())) if ys.size else (h // 2, w // 2)
    y0 = int(np.clip(cy - size // 2, 0, max(h - size, 0)))
    x0 = int(np.clip(cx - size // 2, 0, max(w - size, 0)))
    return np.s_[y0:y0 + size, x0:x0 + size]


def truth(z, k):
    """Image k's ground-truth defect; all False where the image has no mask."""
    return z["masks"][k].astype(bool) & bool(z["has_mask"][k])


def _grid(plt, rows, titles, z, chosen, structural, window):
    """Rows of images, the input in the first column with its row label and true defect;
    ``window(k)``: the part of image k to show."""
    fig, axes = plt.subplots(rows, len(titles), squeeze=False, layout="constrained",
                             figsize=(CELL * len(titles) + 0.5, CELL * rows + 1.6))
    for r, k in enumerate(chosen):
        kind, mask = str(z["defect_types"][k]), truth(z, k)[window(k)]
        if z["labels"][k] == 0:
            label = "defect-free"
        else:
            label = kind.replace("_", " ") + ("\n(structural)" if kind in structural else "")
            if not z["has_mask"][k]:
                label += "\n(no mask)"
        axes[r, 0].imshow(z["images"][k][window(k)], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(f"{label}\ntest image {k}", fontsize=7)
        _outline(axes[r, 0], mask, TRUTH, "--")
    for c, title in enumerate(titles):
        axes[0, c].set_title(title, fontsize=7.5)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    return fig, axes


def _outline(ax, region, color, style="-"):
    if region.any() and not region.all():
        ax.contour(region.astype(float), levels=[0.5], colors=color, linewidths=0.9,
                   linestyles=style)


def _scale(values, threshold):
    lo, hi = np.percentile(values, [1, 99.5])
    if np.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    return lo, hi if hi > lo else lo + 1e-6


def maps_figure(plt, z, chosen, structural, note):
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = [m for m in MAPS if m in z]
    titles = ["input"] + [MAPS[m].label + note.get(MAPS[m].method, "") for m in names]
    fig, axes = _grid(plt, len(chosen), titles, z, chosen, structural, lambda k: np.s_[:, :])
    for c, name in enumerate(names, start=1):
        t = float(z.get(f"threshold_{name}", np.nan))
        lo, hi = _scale(z[name][chosen], t)
        for r, k in enumerate(chosen):
            image = axes[r, c].imshow(z[name][k], cmap="viridis", vmin=lo, vmax=hi)
            axes[r, c].imshow(np.ma.masked_where(~(z[name][k] > t), z[name][k]),
                              cmap=ListedColormap([SEGMENT]), alpha=0.75)
            _outline(axes[r, c], truth(z, k), TRUTH, "--")
        bar = fig.colorbar(image, ax=axes[:, c], location="bottom", shrink=0.9, pad=0.01)
        bar.ax.tick_params(labelsize=6)
        bar.ax.xaxis.get_major_locator().set_params(nbins=3)
        if np.isfinite(t):
            bar.ax.axvline(t, color=SEGMENT, lw=2)
            bar.set_label(f"t = {t:.3g}", fontsize=6.5, labelpad=1)
    fig.legend(handles=[Patch(color=SEGMENT, alpha=0.75, label="map > t (t: validation threshold)"),
                        Line2D([], [], color=TRUTH, ls="--", lw=1.2, label="ground-truth defect")],
               loc="outside lower center", ncol=2, fontsize=7, frameon=False)
    return fig


def recon_figure(plt, z, chosen, structural, note):
    methods = [m for m in METHODS if f"recon_{m}" in z]
    titles = ["input"] + [(METHODS[m].recon_label or METHODS[m].label) + note.get(m, "")
                          for m in methods]
    windows = {k: crop(truth(z, k)) for k in chosen}
    fig, axes = _grid(plt, len(chosen), titles, z, chosen, structural, windows.get)
    for c, method in enumerate(methods, start=1):
        for r, k in enumerate(chosen):
            axes[r, c].imshow(z[f"recon_{method}"][k][windows[k]], cmap="gray", vmin=0, vmax=1)
    return fig


def run(ctx) -> list[Path]:
    plt = pyplot()
    ctx.out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in ctx.datasets:
        folder = ctx.eval_dir(spec)
        if not (folder / "maps.npz").exists():
            ctx.log(f"fig_qualitative: no {folder / 'maps.npz'}, {spec} left out")
            continue
        with np.load(folder / "maps.npz", allow_pickle=False) as npz:
            z = {key: npz[key] for key in npz.files}
        try:
            info = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            info = {}
        seed = (info.get("train_seeds") or ctx.profile.get("seeds") or [0])[0]
        health = info.get("trainedness", {})
        note = {m: "\n(not trained)" for m in METHODS
                if not health.get(f"{m}/seed{seed}", {}).get("trained", True)}
        chosen = choose(z["labels"], z["defect_types"])
        structural = ctx.structural_types(spec)
        rule = (f"{spec}, models of training seed {seed}. Images: the first defect-free test "
                "image\nand the first test image of each defect type (test-set order).")
        for suffix, draw, what in (
                ("", maps_figure, "Anomaly maps; one colour scale per map type (bar below "
                                  "its column, t marked)."),
                ("_reconstructions", recon_figure,
                 f"Reconstructions, grey values in [0, 1], {CROP} x {CROP} px crops around "
                 "the defect (dashed: ground truth).")):
            fig = draw(plt, z, chosen, structural, note)
            fig.suptitle(f"{rule}\n{what}", fontsize=8)
            out = ctx.out / f"fig_qualitative_{folder.name}{suffix}.png"
            save_figure(fig, out, dpi=200)
            written.append(out)
        ctx.log(f"fig_qualitative: {spec}: test images {chosen}")
    return written
