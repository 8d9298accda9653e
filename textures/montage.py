"""A picture of a dataset: training images, then test images with their defects outlined.

This is the paper's figure of example images per dataset. Each defect's ground-truth mask is
drawn as a red contour, so a reader can check that the planted defects are visible and that
the masks fit them.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from files import atomic_write_bytes  # noqa: E402

from .dataset import TextureDataset  # noqa: E402


def show(dataset: TextureDataset, out_png: str | os.PathLike, per_type: int = 2,
         n_train: int = 5, zoom: bool = False) -> Path:
    """Write a montage PNG: one row of training images, then ``per_type`` test images of
    each type (defect-free first). ``zoom=True`` crops each defective image to a 192 px
    window around its defect, so that small defects in large images can be seen."""
    picks = []
    for t in dict.fromkeys(dataset.defect_types):
        picks += [i for i, d in enumerate(dataset.defect_types) if d == t][:per_type]
    cols = max(n_train, min(6, len(picks)), 1)
    rows = 1 + -(-len(picks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for c, img in enumerate(dataset.train[:cols]):
        axes[0, c].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(f"train {c}", fontsize=9)
    for n, i in enumerate(picks):
        ax = axes[1 + n // cols, n % cols]
        img, mask = dataset.test[i], dataset.masks[i]
        if zoom and mask.any():
            cy, cx = np.argwhere(mask).mean(0).astype(int)
            h, w = img.shape
            half = min(96, h // 2, w // 2)
            y0, x0 = np.clip(cy - half, 0, h - 2 * half), np.clip(cx - half, 0, w - 2 * half)
            img, mask = img[y0:y0 + 2 * half, x0:x0 + 2 * half], mask[y0:y0 + 2 * half, x0:x0 + 2 * half]
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest" if zoom else "antialiased")
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors="red", linewidths=0.8)
        title = dataset.defect_types[i]
        if dataset.labels[i] and not dataset.has_mask[i]:
            title += " (no mask)"
        ax.set_title(title, fontsize=9, color="black" if title == "good" else "darkred")
    h, w = dataset.image_shape
    fig.suptitle(f"{dataset.spec}: {len(dataset.train)} train, {len(dataset.val)} val, "
                 f"{len(dataset.test)} test images of {h}x{w}"
                 + (" (defects zoomed)" if zoom else ""), fontsize=11)
    fig.tight_layout()
    out = Path(out_png)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, dpi=110, format="png")
    finally:
        plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out
