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
