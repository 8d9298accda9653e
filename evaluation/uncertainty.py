"""How sure is a pixel ROC AUC? Seeds and test images resampled: a 95 % interval.

A pixel AUC pooled over a test set of a dozen images depends on which images happened to
be drawn, and a trained model on its seed. Both are resampled here, by a two-level
bootstrap (Efron and Tibshirani, 1993; the hierarchical form resamples the units of each
level): each replicate draws the test images with replacement (the same draw for every
map, so differences between maps are paired), and the training seeds of each method with
replacement, and takes the mean over the drawn seeds of the pooled AUC over the drawn
images. The 2.5 and 97.5 percentiles of the replicates are the interval. Test images that
share pixels (crops of one photo, textures/real.py) are not independent: they form a
group, and the groups are drawn in their place, each with all its images (the cluster
bootstrap, Davison and Hinkley, 1997, on hierarchical data).

Recomputing an AUC over a million pixels a thousand times is slow, so every image's
pixels are first counted into histograms over ``BINS`` quantile bins of the map's values
(``pixel_histograms``); a resampled AUC is then a sum of histograms (``auroc_from_counts``),
exact up to pixels tied within one bin (they count half, as ties do); tests/test_uncertainty.py
compares it with scikit-learn's exact AUC.
"""
import numpy as np

BINS = 512
REPLICATES = 1000


def pixel_histograms(maps, masks, has_mask, bins=BINS, edges=None):
    """(K, 2, bins) int64 counts of defect-free [0] and defect [1] pixels of each image
    in the map's quantile bins (``edges``: ``bin_edges`` of these maps, computed where not
    given); zeros for images without masks (they are left out of pixel metrics, as in
    evaluation/metrics.py)."""
    maps = np.asarray(maps, np.float64)
    edges = bin_edges(maps, has_mask, bins) if edges is None else edges
    counts = np.zeros((len(maps), 2, bins), np.int64)
    for k in np.flatnonzero(has_mask):
        index = np.searchsorted(edges, maps[k].ravel(), side="right")
        defect = np.asarray(masks[k]).ravel().astype(bool)
        counts[k, 0] = np.bincount(index[~defect], minlength=bins)
        counts[k, 1] = np.bincount(index[defect], minlength=bins)
    return counts


def bin_edges(maps, has_mask, bins=BINS):
    """The inner edges of the map's ``bins`` quantile bins over the images with masks."""
    scored = np.asarray(maps, np.float64)[np.asarray(has_mask, bool)]
    return np.unique(np.quantile(scored, np.linspace(0, 1, bins + 1)[1:-1])) if scored.size else []


def _regions(masks, has_mask):
    """The defect regions of the images with masks, numbered as ``metrics.aupro`` does."""
    from evaluation.metrics import connected_regions

    has_mask = np.asarray(has_mask, bool)
    return connected_regions(np.asarray(masks, bool) & has_mask[:, None, None])


def region_histograms(maps, masks, has_mask, bins=BINS, edges=None):
    """What AUPRO's bootstrap needs beside ``pixel_histograms``: (R, bins) int32 counts of
    the pixels of each 8-connected defect region (evaluation/metrics.py connected_regions,
    in ``aupro``'s order) in the same quantile bins as ``pixel_histograms`` of these maps."""
    maps = np.asarray(maps, np.float64)
    edges = bin_edges(maps, has_mask, bins) if edges is None else edges
    regions, n = _regions(masks, has_mask)
    inside = regions > 0
    index = np.searchsorted(edges, maps[inside], side="right")
    counts = np.bincount((regions[inside] - 1) * bins + index, minlength=n * bins)
    return counts.reshape(n, bins).astype(np.int32)


def region_images(masks, has_mask):
    """(R,) the test image each defect region of ``region_histograms`` lies in."""
    regions, n = _regions(masks, has_mask)
    image = np.zeros(n, np.int64)
    inside = regions > 0
    image[regions[inside] - 1] = np.nonzero(inside)[0]
    return image


def auroc_from_counts(counts):
    """ROC AUC from (..., 2, bins) summed counts: P(defect score > defect-free score),
    ties (same bin) counting half. NaN without both classes."""
    neg, pos = counts[..., 0, :].astype(np.float64), counts[..., 1, :].astype(np.float64)
    below = np.cumsum(neg, axis=-1) - neg
    n, p = neg.sum(-1), pos.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((pos * (below + 0.5 * neg)).sum(-1)) / (n * p)


def seed_mean_auroc(counts):
    """Mean over seeds of the pooled AUC: counts (S, K, 2, bins) -> float."""
    return float(np.mean(auroc_from_counts(counts.sum(axis=1))))


def bootstrap(counts_by_map, replicates=REPLICATES, seed=0, groups=None):
    """{map: (S, K, 2, bins)} -> {map: (replicates,) seed-mean AUCs}, images drawn
    jointly for all maps, seeds drawn per map.

    ``groups`` (K,) names each image's unit (TextureDataset.groups: crops that share
    pixels of one photo): the G groups are drawn with replacement, each bringing all its
    images, so that overlapping images count as one unit. None (the default), or every
    image its own group, draws the images themselves: the same draws and results."""
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


def _members(groups, k):
    """The image indices of each group, groups in sorted order; one image each if None."""
    if groups is None:
        return np.arange(k)[:, None]
    groups = np.asarray(groups)
    if groups.shape != (k,):
        raise ValueError(f"groups has shape {groups.shape}, not one entry per image ({k})")
    names, index = np.unique(groups, return_inverse=True)
    return [np.flatnonzero(index == g) for g in range(len(names))]


def interval(samples, level=0.95):
    """The central percentile interval of bootstrap samples, (low, high), NaNs ignored."""
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def aupro_from_counts(negatives, regions, max_fpr=0.3):
    """AUPRO up to ``max_fpr`` (evaluation/metrics.py aupro) from (bins,) defect-free pixel
    counts and (R, bins) counts of each defect region's pixels: the curve through the bin
    edges, from the highest bin down, every region's share above the edge averaged. Exact
    up to pixels within one bin (joined by a straight line). NaN without a region."""
    from evaluation.metrics import _area

    negatives, regions = np.asarray(negatives, np.float64), np.asarray(regions, np.float64)
    if not len(regions) or negatives.sum() == 0:
        return float("nan")
    fp = np.concatenate([[0.0], np.cumsum(negatives[::-1])])
    shares = np.cumsum(regions[:, ::-1], axis=1) / regions.sum(axis=1, keepdims=True)
    pro = np.concatenate([[0.0], shares.mean(axis=0)])
    return _area(fp / fp[-1], pro, max_fpr) / max_fpr
