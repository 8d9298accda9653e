"""The grouped bootstrap (evaluation/uncertainty.bootstrap with ``groups``): images that
share pixels are drawn as one unit; without groups, or with every image its own group,
the draws and results are those of the plain image bootstrap."""
import numpy as np
import pytest

from evaluation.uncertainty import bootstrap, interval, seed_mean_auroc


def _counts(k=12, seeds=3, bins=32, seed=0):
    """(seeds, k, 2, bins) histograms: defect pixels shifted up by an amount that varies
    from image to image, so that the pooled AUC depends on which images are drawn."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((seeds, k, 2, bins), np.int64)
    for s in range(seeds):
        for i in range(k):
            shift = rng.uniform(-2, 8)
            counts[s, i, 0] = np.bincount(rng.integers(0, bins - 8, 400), minlength=bins)
            counts[s, i, 1] = np.bincount(rng.integers(0, bins - 8, 60) + int(shift) % 8,
                                          minlength=bins)
    return counts


def test_every_image_its_own_group_is_the_plain_bootstrap():
    counts = {"a": _counts(seed=1), "b": _counts(seed=2)}
    plain = bootstrap(counts, replicates=200, seed=4)
    grouped = bootstrap(counts, replicates=200, seed=4, groups=np.arange(12))
    for name in counts:
        np.testing.assert_array_equal(plain[name], grouped[name])
    # the draw order: the images for all maps, then each map's seeds
    rng = np.random.default_rng(4)
    images = rng.integers(0, 12, 12)
    first = {name: seed_mean_auroc(c[rng.integers(0, 3, 3)][:, images]) for name, c in counts.items()}
    assert plain["a"][0] == first["a"] and plain["b"][0] == first["b"]


def test_duplicated_images_grouped_give_the_original_interval():
    """Every image twice: as pairs drawn together the replicates are the original ones
    (an AUC does not change when all counts double); drawn apart, the copies pose as
    independent images and the interval shrinks by about 1 / sqrt(2)."""
    counts = {"m": _counts(k=16, seeds=1, seed=3)}
    twice = {"m": np.repeat(counts["m"], 2, axis=1)}
    original = bootstrap(counts, replicates=1000)["m"]
    paired = bootstrap(twice, replicates=1000, groups=np.repeat(np.arange(16), 2))["m"]
    np.testing.assert_allclose(paired, original, rtol=1e-12)
    apart = bootstrap(twice, replicates=1000)["m"]
    width = lambda s: np.subtract(*interval(s)[::-1])  # noqa: E731
    assert width(apart) < 0.85 * width(original)
    assert width(original) > 0.02  # the images do differ


def test_a_group_is_drawn_whole():
    """Three images in two groups, {0, 1} and {2}: every replicate pools whole groups,
    so it can only be one of three AUCs (group 0 twice, each once, group 1 twice)."""
    counts = np.zeros((1, 3, 2, 3), np.int64)
    counts[0, 0] = [[5, 0, 0], [0, 0, 5]]  # defects score above: AUC 1
    counts[0, 1] = [[0, 0, 5], [5, 0, 0]]  # below: AUC 0
    counts[0, 2] = [[0, 5, 0], [0, 0, 5]]  # above: AUC 1
    samples = bootstrap({"m": counts}, replicates=200, groups=np.array([7, 7, 3]))["m"]
    pooled = lambda *i: seed_mean_auroc(counts[:, list(i)])  # noqa: E731
    expected = {pooled(0, 1, 0, 1), pooled(0, 1, 2), pooled(2, 2)}
    assert set(np.round(samples, 12)) == set(np.round(sorted(expected), 12))
    ungrouped = bootstrap({"m": counts}, replicates=200)["m"]
    assert len(set(np.round(ungrouped, 12))) > 3


def test_groups_must_name_every_image():
    with pytest.raises(ValueError, match="one entry per image"):
        bootstrap({"m": _counts(k=4, seeds=1)}, replicates=2, groups=np.arange(3))
