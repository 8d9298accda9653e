"""Bootstrap intervals (evaluation/uncertainty.py): the binned AUC against scikit-learn's
exact one, the interval against the truth, the pairing of maps (a map against itself
differs by exactly 0) and the resampling of seeds (seeds that disagree widen the interval).
Trainedness is tested in tests/test_trainedness.py."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.uncertainty import (auroc_from_counts, bootstrap, interval, pixel_histograms,
                                    seed_mean_auroc)


def _maps(seed, shift, k=12, size=48):
    """k maps with a square defect on all but the first two images; defect pixels score
    ``shift`` higher on average."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((k, size, size), bool)
    for i in range(2, k):
        y, x = rng.integers(0, size - 12, 2)
        masks[i, y:y + 4 + i, x:x + 10] = True
    maps = rng.normal(size=masks.shape) + shift * masks
    return maps.astype(np.float32), masks


def test_binned_auroc_equals_sklearn_exact():
    maps, masks = _maps(0, 1.0)
    has = np.ones(len(maps), bool)
    has[5] = False  # an image without masks is left out
    counts = pixel_histograms(maps, masks, has)
    assert counts[5].sum() == 0 and counts.sum() == has.sum() * maps[0].size
    exact = roc_auc_score(masks[has].ravel(), maps[has].ravel())
    assert auroc_from_counts(counts.sum(axis=0)) == pytest.approx(exact, abs=2e-3)
    assert seed_mean_auroc(counts[None]) == pytest.approx(exact, abs=2e-3)
    # ties: a map of few distinct values, ties counted half as sklearn does
    coarse = np.round(maps * 2) / 2
    counts = pixel_histograms(coarse, masks, np.ones(len(maps), bool))
    assert auroc_from_counts(counts.sum(axis=0)) == pytest.approx(
        roc_auc_score(masks.ravel(), coarse.ravel()), abs=1e-4)


def test_bootstrap_interval_covers_truth_and_separates_real_differences():
    strong, weak = [], []
    for seed in range(3):  # three "training seeds" on the same test images
        maps, masks = _maps(10 + seed, 1.0)
        strong.append(pixel_histograms(maps, masks, np.ones(len(maps), bool)))
        maps_w = np.where(masks, maps - 0.8, maps)  # defects score only 0.2 higher
        weak.append(pixel_histograms(maps_w, masks, np.ones(len(maps), bool)))
    samples = bootstrap({"strong": np.stack(strong), "weak": np.stack(weak)}, replicates=300)
    from scipy.stats import norm
    truth_strong, truth_weak = norm.cdf(1.0 / np.sqrt(2)), norm.cdf(0.2 / np.sqrt(2))
    lo, hi = interval(samples["strong"])
    assert lo < truth_strong < hi and hi - lo < 0.1
    lo, hi = interval(samples["weak"])
    assert lo < truth_weak < hi
    lo, hi = interval(samples["strong"] - samples["weak"])
    assert lo > 0  # a real difference is larger than its interval
    same = bootstrap({"a": np.stack(strong), "b": np.stack(strong[::-1])}, replicates=300)
    lo, hi = interval(same["a"] - same["b"])
    assert lo <= 0 <= hi  # and the same model against itself is not


def _counts(shifts, seed=20):
    """(S, K, 2, bins) histograms: one "training seed" per shift, on the same images."""
    out = []
    for i, shift in enumerate(shifts):
        maps, masks = _maps(seed + i, shift)
        out.append(pixel_histograms(maps, masks, np.ones(len(maps), bool)))
    return np.stack(out)


def test_a_map_against_itself_differs_by_exactly_zero():
    """Images are drawn once per replicate for every map: the paired difference of a map
    with itself is 0 in every replicate, while each map's own interval is not a point."""
    counts = _counts([0.5])
    samples = bootstrap({"a": counts, "b": counts.copy()}, replicates=200)
    assert np.ptp(samples["a"]) > 0.02
    assert interval(samples["a"] - samples["b"]) == (0.0, 0.0)


def test_seeds_that_disagree_widen_the_interval():
    """Three seeds of different quality against three copies of the middle one on the same
    images: only the seed draws differ, and they must widen the interval."""
    spread = _counts([0.2, 0.6, 1.0])
    same = np.stack([spread[1]] * 3)
    samples = bootstrap({"spread": spread, "same": same}, replicates=300)
    width = {name: np.subtract(*interval(values)[::-1]) for name, values in samples.items()}
    assert width["spread"] > 2 * width["same"], width


def test_the_point_estimate_is_the_mean_over_seeds_of_each_seeds_auc():
    """Each seed's pixels are pooled over images, never over seeds: two models whose maps
    differ by an offset (a scale each model sets for itself) have the same AUC each, while
    pooling both would rank one model's defect-free pixels above the other's defects."""
    maps, masks = _maps(0, 1.0)
    both_maps, both_masks = np.concatenate([maps, maps + 10]), np.concatenate([masks, masks])
    k = len(maps)  # the two seeds' histograms, on bins common to both
    both = pixel_histograms(both_maps, both_masks, np.ones(2 * k, bool))
    counts = np.stack([both[:k], both[k:]])
    one = roc_auc_score(masks.ravel(), maps.ravel())
    assert seed_mean_auroc(counts) == pytest.approx(one, abs=2e-3)
    assert abs(roc_auc_score(both_masks.ravel(), both_maps.ravel()) - one) > 0.05  # pooled


def test_interval_is_the_central_percentile_range_and_ties_count_half():
    assert interval(np.arange(1001.0)) == pytest.approx((25.0, 975.0), abs=1e-9)
    assert interval(np.append(np.arange(1001.0), np.nan), level=0.9) == pytest.approx((50.0, 950.0), abs=1e-9)
    # defect-free pixels in bins 0 and 1, defect pixels in bins 1 and 2: of the 4 pairs,
    # 3 are ordered and 1 is tied (half): 3.5 / 4
    counts = np.array([[1, 1, 0], [0, 1, 1]])
    assert auroc_from_counts(counts) == pytest.approx(0.875, abs=1e-12)
