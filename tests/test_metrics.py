"""Metrics against scikit-learn and against values worked out by hand; thresholds by the
MVTec AD rule. That callers take thresholds from validation maps only is tested in
tests/test_scoring.py."""
import numpy as np
import pytest
from scipy import ndimage
from sklearn import metrics as skm

from evaluation.metrics import (aupro, f1_max, image_auroc, pixel_auroc, roc_auc, roc_curve,
                                segmentation_scores)
from evaluation.thresholds import max_region_threshold, percentile_threshold
from errors import InputError


# ----------------------------------------------------------------------------- ROC
@pytest.mark.parametrize("kind", ["continuous", "tied", "large"])
def test_roc_auc_matches_sklearn(kind):
    rng = np.random.default_rng(0)
    n = 1_000_000 if kind == "large" else 5_000
    labels = rng.random(n) < 0.1
    if kind == "tied":
        scores = rng.integers(0, 4, n) + labels  # integers 0..4, heavy ties
    else:
        scores = (rng.normal(size=n) + labels).astype(np.float32)
    assert abs(roc_auc(scores, labels) - skm.roc_auc_score(labels, scores)) < 1e-6


def test_roc_curve_matches_sklearn_points_on_tied_data():
    rng = np.random.default_rng(1)
    labels = rng.random(2_000) < 0.3
    scores = rng.integers(0, 4, labels.size) + labels
    fpr, tpr, thr = roc_curve(scores, labels)
    fpr_sk, tpr_sk, thr_sk = skm.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr_sk, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tpr, tpr_sk, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(thr[1:], thr_sk[1:])  # both start at +inf
    assert np.isinf(thr[0])


def test_float32_fast_path_agrees_with_float64():
    # Negative scores, +0.0 and -0.0 (tied), infinitesimal gaps: the bit-level sort of
    # float32 scores must give the same curve as the plain argsort used for float64.
    rng = np.random.default_rng(3)
    scores = rng.choice(np.array([-2.5, -1e-30, -0.0, 0.0, 1e-30, 1.0, 1.0000001],
                                 np.float32), 3_000)
    labels = rng.random(scores.size) < 0.4
    curve32 = roc_curve(scores, labels)
    curve64 = roc_curve(scores.astype(np.float64), labels)
    for a, b in zip(curve32, curve64):
        np.testing.assert_array_equal(a, b)
    assert len(curve32[0]) == 1 + 6  # -0.0 and 0.0 are one threshold
    assert roc_auc(scores, labels) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)


def test_roc_curve_thinning_keeps_the_ends():
    rng = np.random.default_rng(2)
    labels = rng.random(10_000) < 0.5
    scores = rng.random(labels.size) + labels
    fpr, tpr, thr = roc_curve(scores, labels, max_points=50)
    assert len(fpr) <= 52 and (fpr[0], tpr[0]) == (0, 0) and (fpr[-1], tpr[-1]) == (1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_roc_needs_both_classes():
    with pytest.raises(InputError, match="both classes"):
        roc_auc([0.1, 0.2], [False, False])


# ----------------------------------------------------------------------------- pixels
def _tiny_test_set():
    """Image A (defective, 2x5): a 1-px region S at (0,0) and a 2x2 region L at the right.
    Image B: defect-free, all scores 0. Image C: defective without a mask (has_mask False),
    very high scores: it must be ignored by every pixel metric."""
    map_a = np.array([[6, 9, 7, 10, 8],
                      [5, 4, 2, 3, 1]], np.float32)
    mask_a = np.array([[1, 0, 0, 1, 1],
                       [0, 0, 0, 1, 1]], bool)
    maps = np.stack([map_a, np.zeros((2, 5), np.float32), np.full((2, 5), 100, np.float32)])
    masks = np.stack([mask_a, np.zeros((2, 5), bool), np.zeros((2, 5), bool)])
    return maps, masks, np.array([True, True, False])


def test_pixel_auroc_pools_masked_images_including_defect_free_ones():
    maps, masks, has_mask = _tiny_test_set()
    expected = skm.roc_auc_score(masks[:2].ravel(), maps[:2].ravel())  # A and B, not C
    assert pixel_auroc(maps, masks, has_mask) == pytest.approx(expected, abs=1e-12)
    assert expected != pytest.approx(skm.roc_auc_score(masks[:1].ravel(), maps[:1].ravel()))
    assert expected != pytest.approx(skm.roc_auc_score(masks.ravel(), maps.ravel()))


def test_aupro_hand_computed():
    """Regions: S (1 px, each pixel adds 1/2 to PRO), L (4 px, each adds 1/8).
    Negatives: 5 in A plus 10 in B = 15. In descending score order (10 .. 1 in A, then B):
        L n L n S n n L n L (then B's ties at 0)
    gives the curve (fpr, pro): (0, 1/8), (1/15, 1/8), (1/15, 2/8), (2/15, 2/8),
    (2/15, 6/8), (4/15, 6/8), (4/15, 7/8), (5/15, 7/8), (5/15, 1), ...
    Area up to fpr 0.3 = 4.5/15 (vertical steps add nothing):
        1/15 * 1/8 + 1/15 * 2/8 + 2/15 * 6/8 + 0.5/15 * 7/8 = (0.125 + 0.25 + 1.5 + 0.4375)/15
      = 2.3125/15; divided by 0.3 = 4.5/15: 2.3125/4.5 = 37/72."""
    maps, masks, has_mask = _tiny_test_set()
    assert aupro(maps, masks, has_mask) == pytest.approx(37 / 72, abs=1e-12)
    # Up to fpr 1 the curve is 1 from 5/15 on: area = (2.3125 + 0.5*7/8 + 10)/15 ... /1
    assert aupro(maps, masks, has_mask, max_fpr=1.0) == pytest.approx(
        (0.125 + 0.25 + 1.5 + 0.875 + 10) / 15, abs=1e-12)


def _aupro_by_brute_force(maps, masks, max_fpr):
    """Loops over thresholds and regions, np.interp for the point at max_fpr."""
    labelled = [ndimage.label(m, structure=np.ones((3, 3)))[0] for m in masks]
    regions = [(i, lab == k) for i, lab in enumerate(labelled) for k in range(1, lab.max() + 1)]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        above = maps >= t
        pro = np.mean([above[i][r].mean() for i, r in regions])
        points.append((above[~masks].mean(), pro))
    fpr, pro = np.array(points).T
    keep = fpr <= max_fpr
    x, y = np.append(fpr[keep], max_fpr), np.append(pro[keep], np.interp(max_fpr, fpr, pro))
    return np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2) / max_fpr


def test_aupro_matches_brute_force_with_ties():
    rng = np.random.default_rng(3)
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 2:4, 2:4] = masks[0, 8:11, 6:11] = masks[1, 5, 5] = True
    maps = rng.integers(0, 6, masks.shape) + 2 * masks  # ties within and across classes
    for max_fpr in (0.05, 0.3, 1.0):
        expected = _aupro_by_brute_force(maps, masks, max_fpr)
        assert aupro(maps, masks, np.ones(3, bool), max_fpr) == pytest.approx(expected, abs=1e-12)


def test_aupro_float32_path_matches_brute_force_with_ties(monkeypatch):
    """float32 maps take the bit-sort fast path of _sorted_steps (the integer maps above
    are widened to float64 and take the argsort path). Ties within and across classes,
    negative scores, and +0.0 next to -0.0 (one threshold)."""
    rng = np.random.default_rng(13)
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 2:4, 2:4] = masks[0, 8:11, 6:11] = masks[1, 5, 5] = masks[2, 0:2, 9:12] = True
    levels = np.array([-0.75, -0.1, -0.0, 0.0, 0.3, 0.3000001, 1.5], np.float32)
    maps = levels[rng.integers(0, 5, masks.shape) + 2 * masks]
    assert maps.dtype == np.float32 and np.unique(maps).size < maps.size // 20  # many ties
    from evaluation import metrics
    seen = []
    original = metrics._sorted_steps
    monkeypatch.setattr(metrics, "_sorted_steps",
                        lambda scores, payload: seen.append(scores.dtype) or original(scores, payload))
    for max_fpr in (0.05, 0.3, 1.0):
        expected = _aupro_by_brute_force(maps, masks, max_fpr)
        got = aupro(maps, masks, np.ones(3, bool), max_fpr)
        assert got == pytest.approx(expected, abs=1e-12), max_fpr
        assert seen[-1] == np.float32  # the fast path did run
        assert got == pytest.approx(aupro(maps.astype(np.float64), masks, np.ones(3, bool), max_fpr),
                                    abs=1e-12)
        assert seen[-1] == np.float64


def test_aupro_perfect_and_range():
    rng = np.random.default_rng(4)
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 3:6, 3:6] = masks[0, 14, 14] = masks[1, 10:18, 2:4] = True
    perfect = masks + 0.5 * rng.random(masks.shape)  # every defect pixel above all others
    assert aupro(perfect, masks, [True, True]) == pytest.approx(1.0, abs=1e-12)
    value = aupro(rng.random(masks.shape), masks, [True, True])
    assert 0.0 <= value <= 1.0
    assert aupro(-perfect, masks, [True, True]) == pytest.approx(0.0, abs=1e-12)


def test_image_auroc_smoothing_prefers_blobs_over_hot_pixels():
    maps = np.zeros((4, 32, 32), np.float32)
    maps[[0, 1], 16, 16] = 1.0  # defect-free images with one hot pixel each
    maps[2, 10:22, 10:22] = 0.5  # defective images with a dimmer, defect-sized blob
    maps[3, 5:17, 12:24] = 0.5
    labels = [0, 0, 1, 1]
    assert image_auroc(maps, labels, sigma=0) == 0.0  # raw maximum: hot pixels win
    assert image_auroc(maps, labels, sigma=4) == 1.0
    # Without smoothing the score is the maximum: scores 1, 3, 2, 4 with labels 0, 1, 1, 0:
    # of the 4 (defective, defect-free) pairs, 3>1 and 2>1 are ordered right: AUC 0.5.
    flat = np.array([1, 3, 2, 4], np.float32)[:, None, None] * np.ones((1, 4, 4))
    assert image_auroc(flat, [0, 1, 1, 0], sigma=0) == 0.5


def test_segmentation_scores_and_f1_max_by_hand():
    # Scores 0.1, 0.4, 0.35, 0.8 with defects at 0.4 and 0.8; a defect-free image all 0.
    maps = np.array([[[0.1, 0.4], [0.35, 0.8]], [[0.0, 0.0], [0.0, 0.0]]], np.float32)
    masks = np.array([[[0, 1], [0, 1]], [[0, 0], [0, 0]]], bool)
    has_mask = np.array([True, True])
    # t = 0.2 predicts 0.4, 0.35, 0.8: tp 2, fp 1, fn 0 -> IoU 2/3, F1 4/5.
    scores = segmentation_scores(maps, masks, has_mask, 0.2)
    assert scores["iou"] == pytest.approx(2 / 3) and scores["f1"] == pytest.approx(4 / 5)
    # t = 0.5 predicts 0.8 only: tp 1, fp 0, fn 1 -> IoU 1/2, F1 2/3.
    scores = segmentation_scores(maps, masks, has_mask, 0.5)
    assert scores["iou"] == pytest.approx(1 / 2) and scores["f1"] == pytest.approx(2 / 3)
    # Best: exactly {0.4, 0.8}, i.e. map > 0.35 -> F1 1.
    best, threshold = f1_max(maps, masks, has_mask)
    assert best == pytest.approx(1.0) and threshold == pytest.approx(0.35)
    assert segmentation_scores(maps, masks, has_mask, threshold)["f1"] == pytest.approx(1.0)


def test_f1_max_threshold_reproduces_its_f1():
    rng = np.random.default_rng(5)
    masks = rng.random((3, 16, 16)) < 0.2
    maps = (rng.random(masks.shape) + masks).astype(np.float32)
    best, threshold = f1_max(maps, masks, [True] * 3)
    assert segmentation_scores(maps, masks, [True] * 3, threshold)["f1"] == pytest.approx(best)
    grid = np.unique(maps)
    f1s = [segmentation_scores(maps, masks, [True] * 3, t)["f1"] for t in grid[::50]]
    assert best >= max(f1s) - 1e-12


def test_pixel_metrics_need_masks_of_the_maps_shape():
    maps = np.zeros((2, 8, 8))
    with pytest.raises(InputError, match="one mask of the map's size"):
        pixel_auroc(maps, np.zeros((2, 8, 9), bool), [True, True])
    with pytest.raises(InputError, match="no test image has a ground-truth mask"):
        aupro(maps, np.zeros((2, 8, 8), bool), [False, False])


# ----------------------------------------------------------------------------- thresholds
def test_max_region_threshold_by_hand():
    val = np.zeros((2, 8, 8), np.float32)
    val[0, 2:4, 2:5] = 1.0  # 6-px blob
    val[1, 5, 5] = 2.0  # 1-px spot
    # min_area 6: map > 0 leaves the 6-px blob (not < 6); map > 1 leaves the spot only.
    assert max_region_threshold(val, 6) == 1.0
    # min_area 7: map > 0 is fine; anything below 0 selects whole 64-px images.
    assert max_region_threshold(val, 7) == 0.0
    # min_area 1: no pixel at all may remain.
    assert max_region_threshold(val, 1) == 2.0
    with pytest.raises(InputError, match="min_area=65"):
        max_region_threshold(val, 65)


def test_max_region_threshold_is_the_smallest_that_works():
    rng = np.random.default_rng(6)
    val = rng.random((3, 24, 24)).astype(np.float32) * 0.5
    val[1, 4:10, 6:12] += 0.5  # a bright 36-px blob with distinct values
    min_area = 10

    def largest(t):
        labelled = [ndimage.label(v > t, structure=np.ones((3, 3)))[0] for v in val]
        return max(np.bincount(lab.ravel())[1:].max(initial=0) for lab in labelled)

    t = max_region_threshold(val, min_area)
    values = np.unique(val)
    lower = values[np.searchsorted(values, t) - 1]
    assert largest(t) < min_area <= largest(lower)
    assert 0.5 < t < 1.0  # set inside the blob's value range


def test_percentile_threshold():
    val = np.random.default_rng(7).random((4, 10, 10))
    assert percentile_threshold(val, 99.0) == pytest.approx(np.percentile(val, 99.0))
    assert percentile_threshold(val) == pytest.approx(np.percentile(val, 99.9))


def test_pro_at_threshold_by_hand():
    from evaluation.metrics import pro_at_threshold
    masks = np.zeros((3, 3, 6), bool)
    masks[0, 0, :2] = True          # region A, 2 px
    masks[0, 2, 4] = masks[0, 1, 5] = True  # region B: diagonal neighbours, one region
    masks[2, 1, 1] = True           # an image without a usable mask: left out
    maps = np.zeros((3, 3, 6))
    maps[0, 0, :2] = [0.9, 0.5]     # A: one pixel above 0.5, one exactly at it (not above)
    maps[0, 2, 4] = maps[0, 1, 5] = 0.8  # B: all above
    has_mask = np.array([True, True, False])
    assert pro_at_threshold(maps, masks, has_mask, 0.5) == pytest.approx((0.5 + 1.0) / 2)
    assert pro_at_threshold(maps, masks, np.ones(3, bool), 0.5) == pytest.approx(1.5 / 3)
    assert np.isnan(pro_at_threshold(maps, masks, np.array([False, True, False]), 0.5))
