"""The paper's qualitative figures: what each method reconstructs, flags and segments.

For every dataset, one or two defective test images, chosen deterministically: the one
with the largest defect mask among the *structural* defect types (those that change the
texture's structure rather than its grey values, where the paper says per-pixel
residuals fail), or among all defective images with masks if the dataset names no
structural types; then, if the dataset has another defect type, the largest defect of a
different type (preferring an intensity defect, the case where l2 should do well).

Rows: the four anomaly maps (l2-AE, SSIM-AE, VAE KL, VAE reconstruction probability).
Columns per image: the input; the model's reconstruction (the VAE's for both VAE maps);
the anomaly map (its own colour scale, the validation threshold marked on the colour bar);
the segmentation ``map > threshold`` with that threshold chosen on defect-free validation
images (never on the test set), the true defect outlined in red; the ground-truth mask.

Reads ``<eval_dir>/maps.npz``; writes ``fig_qualitative_<dataset>.png`` per dataset.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reproduce.context import MAPS
from reproduce.provenance import save_figure


def choose(labels, has_mask, masks, defect_types, structural, n=2) -> list[int]:
    """Indices of up to ``n`` defective test images to show (see the module docstring)."""
    labels, has_mask = np.asarray(labels), np.asarray(has_mask, bool)
    area = np.asarray(masks).reshape(len(labels), -1).sum(axis=1)
    types = [str(t) for t in defect_types]
    candidates = [i for i in range(len(labels)) if labels[i] == 1 and has_mask[i] and area[i] > 0]
    if not candidates:
        return []
    struct = [i for i in candidates if types[i] in set(structural)]
    pool = struct or candidates
    first = max(pool, key=lambda i: (area[i], -i))  # largest; ties: the earlier image
    chosen = [first]
    if n > 1:
        others = [i for i in candidates if types[i] != types[first]]
        intensity = [i for i in others if types[i] not in set(structural)]
        pool = intensity or others
        if pool:
            chosen.append(max(pool, key=lambda i: (area[i], -i)))
    return chosen


def structural_types(ctx, spec) -> list[str]:
    """The dataset's structural defect types: from run.json if recorded there, else from
    the dataset itself (textures caches generated datasets); [] if unknown."""
    run_json = ctx.eval_dir(spec) / "run.json"
    try:
        info = json.loads(run_json.read_text())
        if isinstance(info.get("structural_types"), list):
            return [str(t) for t in info["structural_types"]]
    except (OSError, ValueError, AttributeError):
        pass
    try:
        import textures
        seeds = ctx.profile.get("seeds", (0,))
        ds = textures.load(spec, seed=seeds[0], small=bool(ctx.profile.get("small_data")))
        return list(ds.structural_types)
    except Exception as error:  # an unknown or unreadable dataset: no preference
        ctx.log(f"fig_qualitative: structural types of {spec} unknown ({error})")
        return []


def _figure(spec, z, chosen, structural):
    import matplotlib.pyplot as plt

    names = [m for m in MAPS if m in z]
    columns = ["input", "reconstruction", "anomaly map", "segmentation (map > t)", "ground truth"]
    ncol = len(columns) * len(chosen)
    fig, axes = plt.subplots(len(names), ncol, figsize=(2.5 * ncol, 2.6 * len(names)),
                             squeeze=False, constrained_layout=True)
    for b, k in enumerate(chosen):
        image, mask = z["images"][k], z["masks"][k].astype(bool)
        kind = str(z["defect_types"][k])
        tag = "structural" if kind in structural else "intensity" if structural else ""
        for r, name in enumerate(names):
            method, label = MAPS[name]
            amap = z[name][k]
            t_key = f"threshold_{name}"
            threshold = float(z[t_key]) if t_key in z else None
            recon_key = f"recon_{method}"
            row = axes[r, b * len(columns):(b + 1) * len(columns)]
            row[0].imshow(image, cmap="gray", vmin=0, vmax=1)
            if recon_key in z:
                row[1].imshow(z[recon_key][k], cmap="gray", vmin=0, vmax=1)
            else:
                row[1].text(0.5, 0.5, "not stored", ha="center", transform=row[1].transAxes)
            lo, hi = np.percentile(amap, [1, 99.5])
            if threshold is not None and np.isfinite(threshold):
                hi = max(hi, threshold)
            img = row[2].imshow(amap, cmap="inferno", vmin=lo, vmax=hi if hi > lo else lo + 1e-6)
            bar = fig.colorbar(img, ax=row[2], fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=7)
            if threshold is not None and np.isfinite(threshold):
                bar.ax.axhline(threshold, color="cyan", lw=1.5)
                seg = amap > threshold
                row[3].imshow(seg, cmap="gray", vmin=0, vmax=1)
                row[3].contour(mask, levels=[0.5], colors="red", linewidths=0.8)
                row[3].set_title(("segmentation (map > t)\n" if r == 0 else "")
                                 + f"t = {threshold:.3g}", fontsize=8)
            else:
                row[3].text(0.5, 0.5, "no threshold", ha="center", transform=row[3].transAxes)
                row[3].set_title("segmentation (map > t)" if r == 0 else "", fontsize=8)
            row[4].imshow(mask, cmap="gray", vmin=0, vmax=1)
            for ax in row:
                ax.set_xticks([]), ax.set_yticks([])
            row[0].set_ylabel(label, fontsize=10)
            if r == 0:
                about = f"\ntest image {k}: {kind}" + (f" ({tag})" if tag else "")
                for c, (ax, title) in enumerate(zip(row, columns)):
                    if c != 3:  # the segmentation column is titled with its threshold
                        ax.set_title(title + (about if c == 0 else ""), fontsize=9)
    fig.suptitle(f"{spec}: reconstructions, anomaly maps and segmentations at the "
                 "validation threshold (cyan line on the colour bar; red: true defect)",
                 fontsize=11)
    return fig


def run(ctx) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx.out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in ctx.datasets:
        path = ctx.eval_dir(spec) / "maps.npz"
        if not path.exists():
            ctx.log(f"fig_qualitative: no {path}, {spec} left out")
            continue
        with np.load(path, allow_pickle=False) as npz:
            z = {key: npz[key] for key in npz.files}
        structural = structural_types(ctx, spec)
        chosen = choose(z["labels"], z["has_mask"], z["masks"], z["defect_types"], structural)
        if not chosen:
            ctx.log(f"fig_qualitative: {spec} has no defective test image with a mask")
            continue
        fig = _figure(spec, z, chosen, structural)
        out = ctx.out / f"fig_qualitative_{ctx.eval_dir(spec).name}.png"
        save_figure(fig, out)
        plt.close(fig)
        written.append(out)
        ctx.log(f"fig_qualitative: {spec}: test images {chosen}")
    return written
