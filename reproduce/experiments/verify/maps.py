"""verify, check 1: every metric of the first seed recomputed from its stored maps.

Where ``eval/<dataset>/maps.npz`` exists (written by a local run, not committed), for the
first training seed, whose maps it stores, and each stored map: pixel ROC AUC with
``sklearn.metrics.roc_auc_score`` over every pixel of the test images that have masks;
AUPRO up to FPR 0.3 (MVTec AD: the regions are the 8-connected components of each image's
mask; at every distinct score t, PRO(t) is the mean over regions of the share of the
region's pixels scoring >= t and FPR(t) the share of defect-free pixels scoring >= t; the
curve from (0, 0) through every distinct score is integrated by trapezoids up to FPR 0.3,
linearly interpolated there, and divided by 0.3), computed as a weighted ROC curve
(``sklearn.metrics.roc_curve``, each defect pixel weighted 1 / (regions x its region's
size)); image ROC AUC, an image's score being the maximum of its map smoothed by a
Gaussian of std 4 px (evaluation/scoring.py's rule); IoU and F1 of ``map > threshold`` at
the stored validation threshold. Against metrics.csv, which keeps 7 significant digits:
tolerance 1e-6. None of it imports evaluation/metrics.py.

Also (check 2b) the first seed's per-image pixel counts of ``histograms.npz`` against the
masks (exact). The per-defect-kind pixel AUCs are every seed's, from histograms.npz
(histograms.py).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score, roc_curve

from reproduce.experiments.verify.inputs import STORED, Evaluation
from reproduce.experiments.verify.report import MAP_TOL, Check, Report

MAX_FPR = 0.3
SIGMA = 4               # image score: max of the map smoothed with this Gaussian (px)
MAP_CHECKS = {"pixel_auroc": "1a. pixel ROC AUC from maps.npz (first seed), roc_auc_score",
              "aupro_30": "1b. AUPRO (FPR <= 0.3) from maps.npz (first seed)",
              "image_auroc": "1c. image ROC AUC from maps.npz (first seed)",
              "iou": "1d. IoU and F1 at the stored threshold (first seed)",
              "threshold": "1e. threshold: metrics.csv / maps.npz, ratio"}


def aupro(scores: np.ndarray, masks: np.ndarray, max_fpr: float = MAX_FPR) -> float:
    """Normalised area under the PRO curve up to ``max_fpr`` (definition: module docstring).
    ``scores``, ``masks``: (K, H, W) of the images with masks."""
    regions = np.zeros(masks.shape, np.int64)
    eight = np.ones((3, 3), bool)
    offset = 0
    for k in range(len(masks)):  # per image: a region never spans two images
        labelled, n = ndimage.label(masks[k], structure=eight)
        regions[k] = np.where(labelled > 0, labelled + offset, 0)
        offset += n
    sizes = np.bincount(regions.ravel())
    weight = np.where(regions.ravel() > 0, 1.0 / (offset * sizes[regions.ravel()]), 1.0)
    fpr, pro, _ = roc_curve(masks.ravel(), scores.ravel(), sample_weight=weight,
                            drop_intermediate=False)
    return _area_to(fpr, pro, max_fpr) / max_fpr


def _area_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under y(x) (x ascending from 0) up to x_max, interpolated there."""
    inside = x <= x_max
    xs, ys = x[inside], y[inside]
    if not inside.all() and xs[-1] < x_max:
        j = np.argmax(~inside)  # the first point beyond x_max
        ys = np.append(ys, ys[-1] + (y[j] - ys[-1]) * (x_max - xs[-1]) / (x[j] - xs[-1]))
        xs = np.append(xs, x_max)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))


def image_scores(maps: np.ndarray) -> np.ndarray:
    """Each image's score: the maximum of its map smoothed with a Gaussian (std SIGMA)."""
    return np.array([ndimage.gaussian_filter(m, SIGMA).max() for m in maps])


def map_metrics(scores, masks, has_mask, labels, threshold=None) -> dict:
    """The metrics of one stored map, recomputed; NaN where undefined (as metrics.csv)."""
    out = dict.fromkeys(("pixel_auroc", "aupro_30", "image_auroc", "iou", "f1"), math.nan)
    s, m = scores[has_mask], masks[has_mask]
    if m.any() and (~m).any():
        out["pixel_auroc"] = roc_auc_score(m.ravel(), s.ravel())
        out["aupro_30"] = aupro(s, m)
        if threshold is not None:
            predicted = s > threshold
            tp, fp = np.count_nonzero(predicted & m), np.count_nonzero(predicted & ~m)
            fn = np.count_nonzero(~predicted & m)
            out["iou"], out["f1"] = tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn)
    if 0 < labels.sum() < len(labels):
        out["image_auroc"] = roc_auc_score(labels, image_scores(scores))
    return out


def _map_check(report: Report, metric: str) -> Check:
    metric = "iou" if metric == "f1" else metric
    return report.check(f"maps_{metric}", MAP_CHECKS[metric],
                        f"{MAP_TOL:g} (csv: 7 significant digits)")


def _check_one_map(ev: Evaluation, report: Report, key: str, row, scores, truth,
                   threshold) -> None:
    """One stored map's metrics against its metrics.csv row (first seed); ``truth``:
    (masks, has_mask, labels) of maps.npz."""
    method, name = STORED[key]
    got = map_metrics(scores, *truth, threshold)
    where = f"{ev.rel('metrics.csv')}: {method}/{name} seed {row['seed']}"
    for metric, value in got.items():
        if metric in ("iou", "f1") and threshold is None:
            continue
        _map_check(report, metric).number(f"{where} {metric}", row.get(metric), value, MAP_TOL)
    if threshold is not None:  # relative: a threshold need not lie in [0, 1]
        scale = abs(float(threshold)) or 1.0
        _map_check(report, "threshold").number(
            f"{where} threshold / maps.npz threshold_{key}", row.get("threshold") / scale,
            float(threshold) / scale, MAP_TOL)


def check_maps(ev: Evaluation, report: Report) -> None:
    path = ev.folder / "maps.npz"
    if not path.exists():
        report.not_checked.append(
            f"{ev.name}: no maps.npz (not committed): pixel ROC AUC checked only from "
            "histograms.npz; AUPRO, image ROC AUC, IoU and F1 not recomputed from maps")
        return
    with np.load(path, allow_pickle=False) as z:
        masks, has_mask = z["masks"].astype(bool), z["has_mask"].astype(bool)
        labels = np.asarray(z["labels"])
        for key, (method, name) in STORED.items():
            row = ev.row(method, name, ev.seeds[0])
            if key not in z.files or row is None:
                report.not_checked.append(f"{ev.name}: map {key} not in maps.npz or metrics.csv")
                continue
            scores = z[key]
            threshold = z[f"threshold_{key}"] if f"threshold_{key}" in z.files else None
            _check_one_map(ev, report, key, row, scores, (masks, has_mask, labels), threshold)
        _check_counts(ev, z, report)


def _check_counts(ev: Evaluation, z, report: Report) -> None:
    """histograms.npz's first seed against the masks: every image's pixel counts."""
    path = ev.folder / "histograms.npz"
    if not path.exists():
        return
    check = report.check("counts", "2b. histograms.npz pixel counts from maps.npz masks", "exact")
    masks, has_mask = z["masks"].astype(bool), z["has_mask"].astype(bool)
    defect = masks.sum(axis=(1, 2)) * has_mask
    clean = (masks[0].size - masks.sum(axis=(1, 2))) * has_mask
    with np.load(path, allow_pickle=False) as h:
        for key in [k for k in h.files if "__" in k]:
            counts = h[key][0].sum(axis=-1)  # (K, 2)
            for k in range(len(defect)):
                where = f"{ev.rel('histograms.npz')}: {key} image {k}"
                check.number(f"{where} defect-free pixels", counts[k, 0], clean[k], 0)
                check.number(f"{where} defect pixels", counts[k, 1], defect[k], 0)
