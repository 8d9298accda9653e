"""Thresholds for binary segmentation, chosen on defect-free VALIDATION maps only.

The paper's qualitative segmentations need one threshold per model and dataset. Choosing
it on test images would leak the answer, so, as in the MVTec AD paper, it is chosen on
defect-free images held out from training. Every function here takes validation maps and
nothing else: by construction they cannot read a test image or a test label.

``max_region_threshold`` is the MVTec AD rule: raise the threshold until, on every
validation image, the largest connected anomalous region ``{map > t}`` is smaller than the
smallest defect one cares about (``min_area`` pixels). The largest region can only shrink
as ``t`` grows, and ``{map > t}`` only changes at the maps' own values, so a bisection
over the sorted distinct values finds the exact smallest such ``t``.
``percentile_threshold`` is the simpler alternative: a high percentile of all validation
pixels (a fixed false-positive rate on defect-free data).
"""
from __future__ import annotations

import numpy as np

from errors import InputError
from evaluation.metrics import connected_regions

__all__ = ["max_region_threshold", "percentile_threshold"]


def _validation_stack(val_maps) -> np.ndarray:
    maps = np.asarray(val_maps)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.size == 0:
        raise InputError(f"validation maps of shape {maps.shape}: expected (M, H, W) "
                         "with at least one defect-free validation image")
    if not np.isfinite(maps).all():
        raise InputError("validation maps contain NaN or infinity: check the model output")
    return maps


def _largest_region(maps: np.ndarray, threshold) -> int:
    """Area in pixels of the largest 8-connected region of ``maps > threshold``, over
    all images (one labelling of the whole stack)."""
    regions, n = connected_regions(maps > threshold)
    return int(np.bincount(regions.ravel())[1:].max()) if n else 0


def max_region_threshold(val_maps, min_area: int) -> float:
    """Smallest threshold ``t`` (one of the maps' values) such that on every validation
    image the largest 8-connected region of ``map > t`` has fewer than ``min_area`` px.

    Exact: the next lower distinct value leaves some region of ``min_area`` px or more.
    """
    maps = _validation_stack(val_maps)
    min_area = int(min_area)
    height, width = maps.shape[1:]
    if not 1 <= min_area <= height * width:
        raise InputError(f"min_area={min_area} px must lie in [1, {height * width}] "
                         f"(the validation image area): choose the smallest defect area "
                         "worth finding")
    values = np.unique(maps)  # candidates, ascending; the largest always qualifies
    low, high = 0, values.size - 1  # invariant: values[high] qualifies
    while low < high:
        mid = (low + high) // 2
        if _largest_region(maps, values[mid]) < min_area:
            high = mid
        else:
            low = mid + 1
    return float(values[high])


def percentile_threshold(val_maps, q: float = 99.9) -> float:
    """The ``q``-th percentile of all validation pixels: about (100 - q) % of defect-free
    pixels lie above it."""
    if not 0.0 <= q <= 100.0:
        raise InputError(f"percentile q={q} must lie in [0, 100]")
    return float(np.percentile(_validation_stack(val_maps), q))
