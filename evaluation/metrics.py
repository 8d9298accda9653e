"""Segmentation metrics of the paper and of the MVTec AD protocol, in plain numpy.

The paper (Bergmann et al., VISAPP 2019) reports the pixel-wise ROC curve over the whole
test set and its area: every pixel of every test image is one sample, a defect pixel a
positive, and the true-positive rate is the share of *all* defect pixels above the
threshold. Defect-free test images take part (all their pixels are negatives); defective
images whose type ships no masks (``has_mask`` False) cannot, and are left out.

The MVTec AD follow-up adds the per-region overlap (PRO): large defects should not
outweigh small ones, so each connected defect region counts equally. Here it is computed
exactly, as in the MVTec AD evaluation code (Bergmann et al., IJCV 2021): at every
distinct score the PRO is the mean, over regions, of the share of the region's pixels at
or above it, the false-positive rate is the share of defect-free pixels at or above it,
and the curve is integrated up to FPR 0.3 and divided by 0.3.

Both curves come from one sort of the scores (:func:`_sorted_steps`); tied scores form one
step, exactly as in scikit-learn, and counts are integers, so the pixel AUC is exact.
Convention: a pixel is called anomalous at threshold ``t`` in a curve when its score is
``>= t`` (scikit-learn's); a fixed threshold segments ``map > t`` (the rule
``thresholds.max_region_threshold`` is defined with). ``f1_max`` returns a threshold for
the latter, so its value can be fed to :func:`segmentation_scores` unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from errors import InputError

__all__ = ["roc_curve", "roc_auc", "pixel_auroc", "aupro", "pro_at_threshold", "image_auroc",
           "image_scores", "segmentation_scores", "f1_max", "connected_regions"]

_IN_PLANE_8 = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE_8[1] = True  # 8-connectivity within each image, never across the stack


# ----------------------------------------------------------------------------- helpers
def connected_regions(stack) -> tuple[np.ndarray, int]:
    """The 8-connected regions of the True pixels of each image of a (K, H, W) stack, as
    ``scipy.ndimage.label`` numbers them (in raster order, image after image): the
    defect regions of AUPRO, and of ``thresholds.max_region_threshold``."""
    return ndimage.label(np.asarray(stack, bool), structure=_IN_PLANE_8)


def _as_scores(scores) -> np.ndarray:
    """Flat float scores (float32 kept, integers widened), all finite."""
    scores = np.asarray(scores).ravel()
    scores = scores.astype(np.result_type(scores.dtype, np.float32), copy=False)
    if not np.isfinite(scores).all():
        raise InputError("anomaly scores contain NaN or infinity: check the model output "
                         "(a diverged training run gives NaN maps)")
    return scores


def _sorted_steps(scores: np.ndarray, payload: np.ndarray):
    """Sort scores descending once, carrying an integer payload (a label, a region id).

    Returns the payload in that order, the index where each distinct score's run of ties
    ends (one ROC step each), and the distinct scores. float32 scores take a fast path:
    their bits become unsigned integers of the same order, the payload goes in the low
    32 bits, and one plain sort of uint64 keys replaces a ~10x slower argsort.
    """
    if scores.dtype == np.float32 and payload.max(initial=0) < 2**32:
        bits = (scores + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into 0.0
        ordered = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31))
        keys = np.sort((ordered.astype(np.uint64) << 32) | payload.astype(np.uint64))[::-1]
        high = (keys >> 32).astype(np.uint32)
        ends = np.append(np.flatnonzero(np.diff(high)), keys.size - 1)
        distinct = high[ends]
        values = np.where(distinct >> 31, distinct & np.uint32(0x7FFFFFFF), ~distinct)
        return (keys & np.uint64(0xFFFFFFFF)).astype(payload.dtype), ends, values.view(np.float32)
    order = np.argsort(scores)[::-1]
    sorted_scores = scores[order]
    ends = np.append(np.flatnonzero(np.diff(sorted_scores)), scores.size - 1)
    return payload[order], ends, sorted_scores[ends]


def _roc_counts(scores, labels):
    """(fp, tp, thresholds): integer counts of negatives/positives scoring >= each
    distinct score, descending, with the (0, 0) point at threshold +inf in front."""
    scores = _as_scores(scores)
    labels = np.asarray(labels).ravel()
    if labels.shape != scores.shape:
        raise InputError(f"{scores.size} scores but {labels.size} labels: "
                         "pass one label per score")
    labels = labels.astype(bool)
    n_pos = np.count_nonzero(labels)
    if n_pos == 0 or n_pos == labels.size:
        raise InputError(f"ROC needs both classes, got {n_pos} positives among "
                         f"{labels.size} samples: evaluate on a test set with both "
                         "defect-free and defective samples")
    sorted_labels, ends, thresholds = _sorted_steps(scores, labels)
    tp = np.cumsum(sorted_labels, dtype=np.int64)[ends]
    fp = ends + 1 - tp
    return (np.concatenate([[0], fp]), np.concatenate([[0], tp]),
            np.concatenate([[np.inf], thresholds.astype(np.float64)]))


def _area(x: np.ndarray, y: np.ndarray, x_max: float = 1.0) -> float:
    """Trapezoid area under the piecewise-linear curve (x ascending, from 0) up to x_max,
    the point at exactly x_max interpolated."""
    inside = np.searchsorted(x, x_max, side="right")
    xs, ys = x[:inside], y[:inside]
    if inside < x.size and xs[-1] < x_max:
        y_at = ys[-1] + (y[inside] - ys[-1]) * (x_max - xs[-1]) / (x[inside] - xs[-1])
        xs, ys = np.append(xs, x_max), np.append(ys, y_at)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1])) / 2.0)


def _with_masks(maps, masks, has_mask):
    """The maps and boolean masks of the test images that have ground truth."""
    maps, masks = np.asarray(maps), np.asarray(masks)
    has_mask = np.asarray(has_mask, dtype=bool).ravel()
    if maps.ndim != 3 or masks.shape != maps.shape or has_mask.shape != maps.shape[:1]:
        raise InputError(f"maps {maps.shape}, masks {masks.shape} and has_mask "
                         f"{has_mask.shape} must be (K, H, W), (K, H, W) and (K,): "
                         "one mask of the map's size per test image")
    if not has_mask.any():
        raise InputError("no test image has a ground-truth mask: pixel metrics need "
                         "masks (use image-level metrics for this dataset)")
    return maps[has_mask], masks[has_mask].astype(bool)


# ----------------------------------------------------------------------------- ROC
def roc_curve(scores, labels, max_points: int | None = None):
    """ROC curve (fpr, tpr, thresholds) of scores against boolean labels.

    Identical to ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)``:
    one point per distinct score (descending) plus (0, 0) at threshold +inf. For plotting,
    ``max_points`` thins the curve to about that many points spread evenly along its
    length (fpr + tpr), always keeping both ends; use :func:`roc_auc` for the area.
    """
    fp, tp, thresholds = _roc_counts(scores, labels)
    fpr, tpr = fp / fp[-1], tp / tp[-1]
    if max_points is not None and fpr.size > max_points:
        if max_points < 2:
            raise InputError(f"max_points={max_points}: keep at least 2 curve points")
        along = np.searchsorted(fpr + tpr, np.linspace(0.0, 2.0, max_points))
        keep = np.unique(np.clip(np.concatenate([[0], along, [fpr.size - 1]]),
                                 0, fpr.size - 1))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return fpr, tpr, thresholds


def roc_auc(scores, labels) -> float:
    """Exact area under the ROC curve (ties as in scikit-learn's ``roc_auc_score``).

    The trapezoid sum is done on integer counts, sum of dFP * (TP_i + TP_i+1), and
    divided by 2 * positives * negatives once at the end.
    """
    fp, tp, _ = _roc_counts(scores, labels)
    twice_area = np.sum(np.diff(fp) * (tp[1:] + tp[:-1]))
    return float(twice_area / (2.0 * float(fp[-1]) * float(tp[-1])))


def pixel_auroc(maps, masks, has_mask) -> float:
    """Pixel ROC AUC pooled over every pixel of every test image that has a mask (the
    paper's protocol); defect-free test images count, with all-False masks."""
    maps, masks = _with_masks(maps, masks, has_mask)
    return roc_auc(maps, masks)


# ----------------------------------------------------------------------------- PRO
def aupro(maps, masks, has_mask, max_fpr: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve up to ``max_fpr`` (MVTec AD).

    Regions are the 8-connected components of each ground-truth mask. Exact: the curve
    has one point per distinct score; the area is a trapezoid sum, interpolated at
    FPR = ``max_fpr``, divided by ``max_fpr`` so a perfect map scores 1.

    The PRO curve is a weighted ROC curve: a pixel of region k adds 1 / (n_regions *
    |k|) to the PRO once the threshold passes below its score, so one sort and two
    cumulative sums give the whole curve.
    """
    if not 0.0 < max_fpr <= 1.0:
        raise InputError(f"max_fpr={max_fpr} must lie in (0, 1]; MVTec AD uses 0.3")
    maps, masks = _with_masks(maps, masks, has_mask)
    scores = _as_scores(maps)
    regions, n_regions = connected_regions(masks)
    if n_regions == 0:
        raise InputError("no defect pixel in any mask: AUPRO needs defective test images")
    sizes = np.bincount(regions.ravel())  # sizes[0]: the defect-free pixels
    if sizes[0] == 0:
        raise InputError("every pixel is a defect pixel: AUPRO needs defect-free pixels")
    weight = 1.0 / (n_regions * sizes.astype(np.float64))
    weight[0] = 0.0

    region_sorted, ends, _ = _sorted_steps(scores, regions.ravel())
    pro = np.concatenate([[0.0], np.cumsum(weight[region_sorted])[ends]])
    fp = np.concatenate([[0], np.cumsum(region_sorted == 0, dtype=np.int64)[ends]])
    fpr = fp / sizes[0]
    return _area(fpr, np.minimum(pro, 1.0), max_fpr) / max_fpr


def pro_at_threshold(maps, masks, has_mask, threshold: float) -> float:
    """The per-region overlap at one threshold, as MVTec AD's Table 3 reports it (at a
    threshold chosen on validation images): over every 8-connected defect region of the
    images with masks, the mean share of its pixels with ``map > threshold``. One point of
    the curve :func:`aupro` integrates (there ``>=``, the curves' convention); NaN where
    no image has a defect region."""
    keep = np.asarray(has_mask, bool)
    regions, n = connected_regions(np.asarray(masks, bool)[keep])
    if not n:
        return float("nan")
    hit = np.bincount(regions[np.asarray(maps)[keep] > threshold], minlength=n + 1)[1:]
    return float(np.mean(hit / np.bincount(regions.ravel())[1:]))


# ----------------------------------------------------------------------------- images
def image_scores(maps, sigma: float = 4) -> np.ndarray:
    """(K,) image scores: the maximum of each anomaly map after Gaussian smoothing (std
    ``sigma`` px; 0 disables it), so one hot pixel counts less than a defect-sized blob."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise InputError(f"maps of shape {maps.shape}: expected (K, H, W)")
    smooth = ndimage.gaussian_filter(maps.astype(np.float32, copy=False),
                                     sigma=(0, sigma, sigma))
    return smooth.max(axis=(1, 2))


def image_auroc(maps, labels, sigma: float = 4) -> float:
    """Image-level ROC AUC of the image scores (:func:`image_scores`). ``labels``: 1 for
    defective images, 0 for defect-free."""
    return roc_auc(image_scores(maps, sigma), labels)


# ----------------------------------------------------------------------------- threshold
def segmentation_scores(maps, masks, has_mask, threshold: float) -> dict:
    """IoU and F1 of the segmentation ``map > threshold``, pooled over all pixels of the
    images with masks. NaN where undefined (no predicted and no true defect pixel)."""
    maps, masks = _with_masks(maps, masks, has_mask)
    predicted = maps > threshold
    tp = np.count_nonzero(predicted & masks)
    fp = np.count_nonzero(predicted & ~masks)
    fn = np.count_nonzero(~predicted & masks)
    union = tp + fp + fn
    return {"iou": tp / union if union else float("nan"),
            "f1": 2 * tp / (union + tp) if union else float("nan")}


def f1_max(maps, masks, has_mask) -> tuple[float, float]:
    """Best pooled pixel F1 over all thresholds, and a threshold ``t`` that attains it
    with ``map > t``.

    An ORACLE: it reads the test labels to pick the threshold, so it is an upper bound
    for reference, never a result of a method (those use thresholds.py on validation).
    """
    maps, masks = _with_masks(maps, masks, has_mask)
    fp, tp, thresholds = _roc_counts(maps, masks)
    fp, tp, thresholds = fp[1:], tp[1:], thresholds[1:]  # drop the empty segmentation
    f1 = 2 * tp / (tp + fp + tp[-1])  # tp[-1]: all positives, so fn = tp[-1] - tp
    best = int(np.argmax(f1))
    # ">= thresholds[best]" equals "> the next lower distinct score".
    if best + 1 < thresholds.size:
        cut = thresholds[best + 1]
    else:
        dtype = np.result_type(maps.dtype, np.float32)  # the scores' own precision
        cut = np.nextafter(dtype.type(thresholds[best]), dtype.type(-np.inf))
    return float(f1[best]), float(cut)
