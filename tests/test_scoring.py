"""One map's metrics (evaluation/scoring.py) on fixed maps, against independent computations,
and what ``evaluate`` passes it: the threshold comes from the validation maps only, AUPRO
is integrated to FPR 0.3.

The fixed maps are made so that the wrong choice shows: the test maps hold a bright
defect-free image, so a threshold chosen on them is far higher than the validation maps'
one; the defects overlap the defect-free scores, so AUPRO to FPR 1.0 is far from AUPRO to
0.3; a defect-free image has one hot pixel, which an image score without its smoothing
(sigma 4 px) would rank first.
"""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from evaluation.scoring import COLUMNS, score
from tests.test_metrics import _aupro_by_brute_force

MIN_AREA = 4


def _fixed_maps():
    rng = np.random.default_rng(0)
    masks = np.zeros((5, 20, 20), bool)
    masks[1, 3:8, 4:9] = masks[2, 10:13, 2:12] = masks[3, 14:18, 14:18] = masks[3, 2, 2] = True
    test = rng.random(masks.shape) + 0.8 * masks
    test[4] += 1.0  # a bright defect-free test image: it would set a test-map threshold
    test[0, 10, 10] = 5.0  # a hot pixel: the highest score unless the image score is smoothed
    val = 0.9 * rng.random((2, 20, 20))
    labels = np.array([0, 1, 1, 1, 0])
    return test.astype(np.float32), val.astype(np.float32), masks, labels


def _mvtec_threshold(val, min_area):
    """The lowest value t of the maps at which no map has an 8-connected region of
    ``map > t`` of min_area px or more. Regions only shrink as t rises, so a bisection
    over the sorted values finds it (also used on 256 px maps: tests/test_pipeline.py,
    tests/test_walkthrough.py)."""
    def fits(t):
        return all(np.bincount(ndimage.label(v > t, structure=np.ones((3, 3)))[0].ravel())[1:]
                   .max(initial=0) < min_area for v in val)
    values = np.unique(val)
    low, high = 0, len(values) - 1  # values[high] always fits: nothing lies above it
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(values[mid]) else (mid + 1, high)
    assert fits(values[high]) and (high == 0 or not fits(values[high - 1]))
    return float(values[high])


def _expected_row(test, val, masks, labels):
    threshold = _mvtec_threshold(val, MIN_AREA)
    predicted = test > threshold
    tp, fp = (predicted & masks).sum(), (predicted & ~masks).sum()
    fn = (~predicted & masks).sum()
    f1s = [2 * ((test >= t) & masks).sum() / ((test >= t).sum() + masks.sum()) for t in np.unique(test)]
    smooth = ndimage.gaussian_filter(test, sigma=(0, 4, 4))
    return {"pixel_auroc": roc_auc_score(masks.ravel(), test.ravel()),
            "aupro_30": _aupro_by_brute_force(test, masks, 0.3),
            "image_auroc": roc_auc_score(labels, smooth.max(axis=(1, 2))),
            "threshold": threshold, "threshold_p99_9": np.percentile(val, 99.9),
            "iou": tp / (tp + fp + fn), "f1": 2 * tp / (2 * tp + fp + fn), "f1_max": max(f1s)}


def test_score_reads_the_threshold_from_validation_maps_and_aupro_to_0_3():
    test, val, masks, labels = _fixed_maps()
    row = score(test, val, masks, np.ones(len(test), bool), labels, MIN_AREA)
    expected = _expected_row(test, val, masks, labels)
    assert set(row) == set(COLUMNS) and set(expected) <= set(COLUMNS)
    for column in expected:
        assert row[column] == pytest.approx(expected[column], abs=1e-6), column
    # the fixed maps tell the right choices from the wrong ones
    assert _mvtec_threshold(test, MIN_AREA) > expected["threshold"] + 0.5
    assert np.percentile(test, 99.9) > expected["threshold_p99_9"] + 0.5
    assert abs(_aupro_by_brute_force(test, masks, 1.0) - expected["aupro_30"]) > 0.1
    assert abs(roc_auc_score(labels, test.max(axis=(1, 2))) - expected["image_auroc"]) > 0.1


def test_evaluate_scores_each_map_on_its_own_validation_part():
    """reproduce/evaluate.py maps the test images followed by the validation images in one
    call; what it passes to score must be split there: the threshold is the validation
    part's, the metrics the test part's."""
    from reproduce.evaluate import score_maps
    test, val, masks, labels = _fixed_maps()
    ds = SimpleNamespace(test=np.zeros_like(test), val=np.zeros_like(val), masks=masks,
                         has_mask=np.ones(len(test), bool), labels=labels)
    stacked = {"a": np.concatenate([test, val]), "b": np.concatenate([test[::-1], val[::-1]])}
    got = dict(score_maps(stacked, ds, {"min_defect_area": MIN_AREA}))
    assert set(got) == {"a", "b"}
    np.testing.assert_array_equal(got["a"]["test"], test)
    assert got["a"]["metrics"] == pytest.approx(score(test, val, masks, ds.has_mask, labels, MIN_AREA))
    assert got["a"]["metrics"]["threshold"] == pytest.approx(_mvtec_threshold(val, MIN_AREA))
    assert got["b"]["metrics"]["threshold"] == pytest.approx(_mvtec_threshold(val[::-1], MIN_AREA))
