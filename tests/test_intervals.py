"""Intervals beyond the pixel ROC AUC (evaluation/uncertainty.py): what evaluate stores for
them (per-region pixel counts, image scores) against a direct computation, and the
intervals of AUPRO, image ROC AUC, the cross rows and the per-kind rows on synthetic
maps whose answer is known."""
import numpy as np
import pytest

from evaluation.metrics import aupro, image_auroc, image_scores, roc_auc
from evaluation.uncertainty import (aupro_from_counts, pixel_histograms, region_histograms,
                                    region_images)


def _maps(seed, shift, k=10, size=40):
    """k maps; images 3.. carry one or two square defects scoring ``shift`` higher."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((k, size, size), bool)
    for i in range(3, k):
        y, x = rng.integers(0, size - 12, 2)
        masks[i, y:y + 3 + i % 5, x:x + 8] = True
        if i % 2:
            masks[i, size - 4:, :6] = True  # a second region in the corner
    maps = rng.normal(size=masks.shape) + shift * masks
    return maps.astype(np.float32), masks


def test_region_counts_add_up_to_the_defect_counts_and_give_aupro():
    maps, masks = _maps(0, 1.0)
    has = np.ones(len(maps), bool)
    has[4] = False  # an image without masks: none of its regions
    regions, image = region_histograms(maps, masks, has), region_images(masks, has)
    pixels = pixel_histograms(maps, masks, has)
    per_image = np.zeros_like(pixels[:, 1])
    np.add.at(per_image, image, regions)
    assert (per_image == pixels[:, 1]).all() and 4 not in image
    assert len(regions) == sum(1 + i % 2 for i in range(3, len(maps)) if i != 4)
    exact = aupro(maps, masks, has)
    assert aupro_from_counts(pixels[:, 0].sum(0), regions) == pytest.approx(exact, abs=5e-3)


def test_image_scores_are_what_image_auroc_ranks():
    maps, masks = _maps(1, 2.0)
    labels = masks.any(axis=(1, 2)).astype(int)
    assert roc_auc(image_scores(maps), labels) == image_auroc(maps, labels)


def _units(shifts, seed=0, k=10, perfect=False):
    """Units of one map per "training seed" (one per shift), on the same test images;
    ``perfect``: the maps are the masks, every defect pixel above every other."""
    from evaluation.uncertainty import Units, bin_edges
    pixels, regions, scores = [], [], []
    for i, shift in enumerate(shifts):
        maps, masks = _maps(seed + i, shift, k=k)
        maps = masks.astype(np.float32) if perfect else maps
        has = np.ones(len(maps), bool)
        edges = bin_edges(maps, has)
        pixels.append(pixel_histograms(maps, masks, has, edges=edges))
        regions.append(region_histograms(maps, masks, has, edges=edges))
        scores.append(image_scores(maps))
    labels = masks.any(axis=(1, 2)).astype(int)
    return (Units(np.stack(pixels), np.stack(regions), np.stack(scores)), labels,
            region_images(masks, np.ones(len(masks), bool)))


def _old_bootstrap(counts_by_map, replicates, seed, groups):
    """The pixel bootstrap as it was before ``resample`` (its draws fix the committed
    intervals): images (or groups) for all maps, then each map's seeds, per replicate."""
    from evaluation.uncertainty import _members, seed_mean_auroc
    rng = np.random.default_rng(seed)
    k = next(iter(counts_by_map.values())).shape[1]
    members = _members(groups, k)
    out = {name: np.empty(replicates) for name in counts_by_map}
    for r in range(replicates):
        drawn = rng.integers(0, len(members), len(members))
        images = np.concatenate([members[g] for g in drawn])
        for name, counts in counts_by_map.items():
            seeds = rng.integers(0, len(counts), len(counts))
            out[name][r] = seed_mean_auroc(counts[seeds][:, images])
    return out


def test_the_pixel_replicates_are_those_of_the_old_bootstrap():
    from evaluation.uncertainty import Units, bootstrap, resample
    a, labels, where = _units([1.0, 0.5, 0.8])
    b, _, _ = _units([0.3, 0.9], seed=7)
    c, _, _ = _units([0.6], seed=9)
    counts = {"a": a.pixels, "b": b.pixels, "c": c.pixels}
    for groups in (None, np.array([0, 0, 1, 2, 3, 3, 3, 4, 5, 6])):
        old = _old_bootstrap(counts, 60, 3, groups)
        new = resample({"a": a, "b": b, "c": c}, labels, where, 60, 3, groups)
        # a cross map sharing a's seed draw, added last, leaves the others' draws alone
        shared = resample({"a": a, "b": b, "c": c, "x": Units(a.pixels, seeds_of="a")},
                          labels, where, 60, 3, groups)
        for name in counts:
            np.testing.assert_array_equal(new[name]["pixel_auroc"], old[name])
            np.testing.assert_array_equal(shared[name]["pixel_auroc"], old[name])
            np.testing.assert_array_equal(bootstrap(counts, 60, 3, groups)[name], old[name])
        np.testing.assert_array_equal(shared["x"]["pixel_auroc"], old["a"])


def test_a_replicate_is_the_metrics_of_its_drawn_images():
    """Replicate 0 against the metrics of the images it drew, duplicates and all."""
    from evaluation.uncertainty import Units, resample
    maps, masks = _maps(3, 1.0)
    has, labels = np.ones(len(maps), bool), masks.any(axis=(1, 2)).astype(int)
    units = Units(pixel_histograms(maps, masks, has)[None],
                  region_histograms(maps, masks, has)[None], image_scores(maps)[None])
    got = resample({"m": units}, labels, region_images(masks, has), replicates=1, seed=5)["m"]
    images = np.random.default_rng(5).integers(0, len(maps), len(maps))
    m, k, lab = maps[images], masks[images], labels[images]
    assert got["pixel_auroc"][0] == pytest.approx(roc_auc(m.ravel(), k.ravel()), abs=3e-3)
    assert got["aupro_30"][0] == pytest.approx(aupro(m, k, np.ones(len(m), bool)), abs=5e-3)
    assert got["image_auroc"][0] == pytest.approx(roc_auc(image_scores(m), lab), abs=1e-12)


def test_identical_maps_differ_by_zero_and_a_perfect_map_scores_one():
    from evaluation.uncertainty import Units, interval, resample
    units, labels, where = _units([0.7, 0.9, 1.1])
    twin = Units(units.pixels.copy(), units.regions.copy(), units.scores.copy(), seeds_of="m")
    got = resample({"m": units, "twin": twin}, labels, where, replicates=100)
    for metric, values in got["m"].items():
        assert np.nanmax(values) - np.nanmin(values) > 0.005, metric  # not a point
        assert interval(values - got["twin"][metric]) == (0.0, 0.0), metric
    perfect, labels, where = _units([1.0, 1.0], perfect=True)
    for metric, values in resample({"p": perfect}, labels, where, replicates=100)["p"].items():
        assert interval(values) == (1.0, 1.0), metric


def test_a_subset_uses_only_its_images():
    """Images 3, 5, 7 and the defect-free 0-2: what the other images hold changes nothing,
    what one of the subset's holds does; the subset's replicates are drawn from the same
    draws as the whole set's (the same seed gives the images outside it weight 0)."""
    from evaluation.uncertainty import Units, resample
    units, labels, where = _units([0.8, 1.2])
    subset = np.isin(np.arange(10), [0, 1, 2, 3, 5, 7])
    first = resample({"m": units}, labels, where, 80, subset=subset)["m"]
    spoilt = units.pixels.copy()
    spoilt[:, [4, 6, 8, 9]] = spoilt[:, [4, 6, 8, 9], :, ::-1]  # their defects now score low
    regions, scores = units.regions.copy(), units.scores.copy()
    outside = np.isin(where, [4, 6, 8, 9])
    regions[:, outside], scores[:, [4, 6, 8, 9]] = regions[:, outside, ::-1], -5.0
    again = resample({"m": Units(spoilt, regions, scores)}, labels, where, 80, subset=subset)["m"]
    whole = resample({"m": Units(spoilt, regions, scores)}, labels, where, 80)["m"]
    for metric in first:
        np.testing.assert_allclose(again[metric], first[metric], rtol=1e-12, equal_nan=True)
        assert np.nanmean(whole[metric]) < np.nanmean(first[metric]) - 0.05, metric
    inside = units.pixels.copy()
    inside[:, 5] = inside[:, 5, :, ::-1]
    moved = resample({"m": Units(inside)}, labels, where, 80, subset=subset)["m"]
    assert np.nanmean(moved["pixel_auroc"]) < np.nanmean(first["pixel_auroc"]) - 0.01
