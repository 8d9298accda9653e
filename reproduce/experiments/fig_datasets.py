"""The paper's dataset figure: what the textures and their defects look like.

One row per dataset of the run: two defect-free training images, then one defective test
image per defect type (the first of that type in the test order), its ground-truth
defect outlined in red; a dataset named in ``BESIDE`` is followed by the generator it
replaced (``nanofibres`` by ``nanofibres_v3``), so that the two can be compared. Defect
types that change the texture's structure rather than its grey values
(``structural_types`` of the dataset) are marked "structural": these are the defects the
paper says per-pixel residuals miss. Images are shown at their grey values
in [0, 1], without contrast stretching.

Loads each dataset with ``textures.load`` (profile's first seed and data scale, the same
call the evaluation makes); writes ``fig_datasets.png``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from reproduce.plotting import pyplot, save_figure

N_TRAIN = 2
# a dataset of the run -> the older generator drawn in the row below it
BESIDE = {"nanofibres": "nanofibres_v3"}


def examples(ds) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(title, image, mask or None) to show: N_TRAIN training images, then the first
    defective test image of each defect type, in order of first appearance."""
    shown = [(f"train {i}", ds.train[i], None) for i in range(min(N_TRAIN, len(ds.train)))]
    structural = set(getattr(ds, "structural_types", []) or [])
    has_mask = np.asarray(getattr(ds, "has_mask", np.ones(len(ds.test), bool)), bool)
    seen = set()
    for k, (kind, label) in enumerate(zip(ds.defect_types, ds.labels)):
        if label != 1 or kind in seen:
            continue
        seen.add(kind)
        tag = " (structural)" if kind in structural else ""
        shown.append((f"{kind}{tag}", ds.test[k], ds.masks[k] if has_mask[k] else None))
    return shown


def run(ctx) -> list[Path]:
    import textures

    plt = pyplot()
    ctx.out.mkdir(parents=True, exist_ok=True)
    seed = ctx.profile.get("seeds", (0,))[0]
    small = bool(ctx.profile.get("small_data", False))
    rows = []
    specs = [s for spec in ctx.datasets for s in (spec, BESIDE.get(spec))
             if s and (s == spec or s not in ctx.datasets)]
    for spec in specs:
        ds = textures.load(spec, seed=seed, small=small)
        rows.append((spec, ds, examples(ds)))
    ncol = max([len(shown) for _, _, shown in rows] + [1])
    fig, axes = plt.subplots(max(len(rows), 1), ncol, figsize=(2.3 * ncol, 2.6 * max(len(rows), 1)),
                             squeeze=False, constrained_layout=True)
    for r, (spec, ds, shown) in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(shown):
                ax.axis("off")
                continue
            title, image, mask = shown[c]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            if mask is not None and mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors="red", linewidths=0.9)
            elif c >= N_TRAIN:
                title += "\n(no mask)"
            ax.set_title(title, fontsize=8)
        h, w = ds.test.shape[1:3]
        axes[r, 0].set_ylabel(f"{spec}\n{len(ds.train)} train / {len(ds.test)} test, {h}x{w} px",
                              fontsize=9)
    fig.suptitle("Datasets: defect-free training images, then one defective test image per "
                 "defect type (red: ground-truth defect)", fontsize=11)
    path = ctx.out / "fig_datasets.png"
    save_figure(fig, path)
    ctx.log(f"fig_datasets: {len(rows)} datasets")
    return [path]
