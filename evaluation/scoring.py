"""All metrics of one anomaly map over a test set, with its threshold from validation.

The threshold is chosen on the defect-free validation maps only (MVTec AD rule: the
lowest threshold at which no validation image has an anomalous region of ``min_area``
pixels or more); IoU and F1 of the test segmentation are measured at it. ``f1_max`` is
an oracle (it reads the test labels) and is reported only as a reference.
"""
from evaluation.metrics import aupro, f1_max, image_auroc, pixel_auroc, segmentation_scores
from evaluation.thresholds import max_region_threshold, percentile_threshold

COLUMNS = ("pixel_auroc", "aupro_30", "image_auroc", "threshold", "threshold_p99_9",
           "iou", "f1", "f1_max")


def score(test_maps, val_maps, masks, has_mask, labels, min_area):
    """Metrics of one map: a dict over COLUMNS (NaN where a metric is undefined)."""
    nan = float("nan")
    threshold = max_region_threshold(val_maps, min_area)
    row = dict.fromkeys(COLUMNS, nan)
    row["threshold"] = threshold
    row["threshold_p99_9"] = percentile_threshold(val_maps, 99.9)
    if has_mask.any() and masks[has_mask].any() and (~masks[has_mask]).any():
        row["pixel_auroc"] = pixel_auroc(test_maps, masks, has_mask)
        row["aupro_30"] = aupro(test_maps, masks, has_mask, max_fpr=0.3)
        row.update(segmentation_scores(test_maps, masks, has_mask, threshold))
        row["f1_max"] = f1_max(test_maps, masks, has_mask)[0]
    if 0 < labels.sum() < len(labels):
        row["image_auroc"] = image_auroc(test_maps, labels)
    return {k: float(v) for k, v in row.items()}
