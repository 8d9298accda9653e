"""How sure is a ROC AUC or an AUPRO? Seeds and test images resampled: a 95 % interval.

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
compares it with scikit-learn's exact AUC. AUPRO (evaluation/metrics.py aupro) is resampled
the same way from each defect region's pixel counts in the same bins (``region_histograms``,
``aupro_from_counts``; a drawn image brings its regions), and the image ROC AUC from every
test image's score. ``resample`` computes the three in each replicate from the same draws
(``Units``: one map's inputs; a subset of the images for one defect kind's rows);
``bootstrap``, the pixel ROC AUC alone, is what the pixel intervals always were.
"""
from dataclasses import dataclass

import numpy as np

BINS = 512
REPLICATES = 1000
MAX_FPR = 0.3            # AUPRO's bound (evaluation/metrics.py aupro, MVTec AD)


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
    jointly for all maps, seeds drawn per map: ``resample``'s pixel ROC AUC alone.

    ``groups`` (K,) names each image's unit (TextureDataset.groups: crops that share
    pixels of one photo): the G groups are drawn with replacement, each bringing all its
    images, so that overlapping images count as one unit. None (the default), or every
    image its own group, draws the images themselves: the same draws and results."""
    units = {name: Units(counts) for name, counts in counts_by_map.items()}
    return {name: metrics["pixel_auroc"] for name, metrics in
            resample(units, replicates=replicates, seed=seed, groups=groups).items()}


def _members(groups, k):
    """The image indices of each group, groups in sorted order; one image each if None."""
    if groups is None:
        return np.arange(k)[:, None]
    groups = np.asarray(groups)
    if groups.shape != (k,):
        raise ValueError(f"groups has shape {groups.shape}, not one entry per image ({k})")
    names, index = np.unique(groups, return_inverse=True)
    return [np.flatnonzero(index == g) for g in range(len(names))]


def paired_difference(a, b, groups=None):
    """Seed-mean AUC of ``a`` minus that of ``b`` ((S, K, 2, bins) each, the same K test
    images) and its 95 % interval from ``bootstrap``, which draws the images (or their
    ``groups``) once for both maps and the seeds of each apart."""
    samples = bootstrap({"a": a, "b": b}, groups=groups)
    return seed_mean_auroc(a) - seed_mean_auroc(b), interval(samples["a"] - samples["b"])


def interval(samples, level=0.95):
    """The central percentile interval of bootstrap samples, (low, high), NaNs ignored."""
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def aupro_from_counts(negatives, regions, max_fpr=MAX_FPR, weights=None):
    """AUPRO up to ``max_fpr`` (evaluation/metrics.py aupro) from (bins,) defect-free pixel
    counts and (R, bins) counts of each defect region's pixels: the curve through the bin
    edges, from the highest bin down, every region's share above the edge averaged (with
    ``weights`` (R,), a region drawn w times counting w times). Exact up to pixels within
    one bin (joined by a straight line). NaN without a region."""
    regions = np.asarray(regions, np.float64)
    weights = np.ones(len(regions)) if weights is None else np.asarray(weights, np.float64)
    return _aupro(np.asarray(negatives, np.float64), _shares(regions), weights, max_fpr)


def _shares(regions):
    """(..., R, bins) region counts -> each region's share of pixels above each bin edge,
    from the highest bin down."""
    regions = np.asarray(regions, np.float64)
    return np.cumsum(regions[..., ::-1], axis=-1) / regions.sum(axis=-1, keepdims=True)


def _aupro(negatives, shares, weights, max_fpr=MAX_FPR):
    """AUPRO of (bins,) defect-free counts and (R, bins) region shares, regions weighted."""
    from evaluation.metrics import _area

    if not len(shares) or negatives.sum() == 0 or weights.sum() == 0:
        return float("nan")
    fp = np.concatenate([[0.0], np.cumsum(negatives[::-1])])
    pro = np.concatenate([[0.0], weights @ shares / weights.sum()])
    return _area(fp / fp[-1], pro, max_fpr) / max_fpr


@dataclass
class Units:
    """One map's bootstrap units, every training seed's: what ``resample`` draws from.

    pixels   (S, K, 2, bins) ``pixel_histograms`` of each seed's maps
    regions  (S, R, bins) ``region_histograms`` in the same bins, or None (no AUPRO)
    scores   (S, K) each test image's score (evaluation/metrics.py image_scores), or None
             (no image ROC AUC)
    seeds_of the name of an earlier map whose seed draw this one shares: another map of the
             same models (each autoencoder scored with the other's residual), so that
             their difference is paired by seed as well as by image; None: its own draw"""
    pixels: np.ndarray
    regions: np.ndarray | None = None
    scores: np.ndarray | None = None
    seeds_of: str | None = None


class _PerSeed:
    """Every seed's metrics of one map on a draw of images, weighted by how often each
    image was drawn (0: not drawn, or outside the subset)."""

    def __init__(self, units: Units, labels, region_image):
        self.pixels = np.asarray(units.pixels)
        self.shares = self.compare = None
        if units.regions is not None and region_image is not None:
            self.shares, self.region_image = _shares(units.regions), np.asarray(region_image)
        if units.scores is not None and labels is not None:
            s = np.asarray(units.scores, np.float64)[:, :, None]
            t = np.swapaxes(s, 1, 2)  # (S, K, K): image i above image j, ties half
            self.compare = (s > t) + 0.5 * (s == t)
            self.defective = np.asarray(labels).astype(bool)

    def __call__(self, weights: np.ndarray) -> dict:
        counts = np.tensordot(weights, self.pixels, axes=([0], [1]))  # (S, 2, bins)
        out = {"pixel_auroc": auroc_from_counts(counts)}
        if self.shares is not None:
            drawn = weights[self.region_image]
            out["aupro_30"] = np.array([_aupro(c[0].astype(np.float64), shares, drawn)
                                        for c, shares in zip(counts, self.shares)])
        if self.compare is not None:
            pos, neg = weights * self.defective, weights * ~self.defective
            with np.errstate(invalid="ignore", divide="ignore"):
                out["image_auroc"] = (np.einsum("i,sij,j->s", pos, self.compare, neg)
                                      / (pos.sum() * neg.sum()))
        return out


def resample(units: dict, labels=None, region_image=None, replicates=REPLICATES, seed=0,
             groups=None, subset=None) -> dict:
    """{map: Units} -> {map: {metric: (replicates,)}}: in each replicate the test images
    (or their ``groups``) drawn once for every map, each map's training seeds drawn (or
    shared, ``Units.seeds_of``), and the mean over the drawn seeds of each seed's pixel
    ROC AUC, AUPRO (FPR <= 0.3; where regions are given) and image ROC AUC (where scores
    are given), each pooled over the drawn images. NaN where a replicate lacks a class.

    ``labels`` (K,): 1 for the defective images; ``region_image`` (R,): the image each
    region lies in (``region_images``). ``subset`` (K,) bool: only these images count
    (a defect kind's images and the defect-free ones): the draws are those of the whole
    test set, the images outside the subset then left out of every replicate, so the
    subset's replicates are paired with the whole set's. The draws are ``bootstrap``'s
    of old: the pixel intervals of maps that draw their own seeds do not change."""
    k = next(iter(units.values())).pixels.shape[1]
    keep = np.ones(k, np.int64) if subset is None else np.asarray(subset, bool).astype(np.int64)
    if keep.shape != (k,):
        raise ValueError(f"subset has shape {keep.shape}, not one entry per image ({k})")
    measure = {name: _PerSeed(u, labels, region_image) for name, u in units.items()}
    out = {}
    for r, (weights, seeds) in enumerate(_draws(units, _members(groups, k), k, replicates, seed)):
        for name, per_seed in measure.items():
            for metric, values in per_seed(weights * keep).items():
                out.setdefault(name, {}).setdefault(metric, np.empty(replicates))[r] = \
                    np.mean(values[seeds[name]])
    return out


def _draws(units: dict, members, k: int, replicates: int, seed: int):
    """Each replicate's (K,) count of draws of every image and {map: its drawn seeds}: the
    groups first, then each map's seeds in the order of ``units`` (the random stream that
    fixes every interval: changing this order changes every interval)."""
    _check_shared(units)
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        drawn = rng.integers(0, len(members), len(members))
        images = np.concatenate([members[g] for g in drawn])
        seeds = {}
        for name, u in units.items():
            n = len(u.pixels)
            seeds[name] = seeds[u.seeds_of] if u.seeds_of else rng.integers(0, n, n)
        yield np.bincount(images, minlength=k), seeds


def _check_shared(units: dict) -> None:
    """Every ``seeds_of`` names an earlier map with as many seeds."""
    names = list(units)
    for i, (name, u) in enumerate(units.items()):
        if u.seeds_of is not None and (u.seeds_of not in names[:i]
                                       or len(units[u.seeds_of].pixels) != len(u.pixels)):
            raise ValueError(f"{name}: seeds_of {u.seeds_of!r} is not an earlier map with "
                             "as many seeds")
