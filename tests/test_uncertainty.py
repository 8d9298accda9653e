"""Bootstrap intervals (evaluation/uncertainty.py) against scikit-learn's exact AUC, and
trainedness (evaluation/trainedness.py) on models whose answer is known."""
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


# ------------------------------------------------------------------ trainedness
def _patches(n=24, seed=0):
    from skimage.data import brick
    img = brick().astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, 512 - 128, n), rng.integers(0, 512 - 128, n)
    return np.stack([img[y:y + 128, x:x + 128] for y, x in zip(ys, xs)])[..., None]


@pytest.mark.parametrize("method", ["l2_ae", "ssim_ae"])
def test_trainedness_of_an_identity_a_mean_and_a_flat_model(method):
    from evaluation.trainedness import trainedness
    x = _patches()
    perfect = trainedness(lambda b, training=False: b, method, x)
    assert perfect["r2"] == pytest.approx(1.0) and perfect["loss"] == pytest.approx(0.0, abs=1e-5)
    assert perfect["spread_ratio"] == pytest.approx(1.0) and perfect["trained"]
    mean = x.mean(axis=0, keepdims=True)
    constant = trainedness(lambda b, training=False: np.repeat(mean, len(b), 0), method, x)
    assert constant["r2"] == pytest.approx(0.0, abs=1e-5)
    assert constant["loss_ratio"] == pytest.approx(1.0, abs=1e-4) and not constant["trained"]
    flat = trainedness(lambda b, training=False: np.full_like(b, 0.5), method, x)
    assert flat["spread_ratio"] == 0 and flat["correlation"] == 0 and not flat["trained"]
    # half-way: input blended with the mean: R^2 = 1 - 0.5^2
    blend = trainedness(lambda b, training=False: 0.5 * b + 0.5 * np.repeat(mean, len(b), 0), method, x)
    assert blend["r2"] == pytest.approx(0.75, abs=1e-4)


def test_trainedness_of_a_vae_counts_active_units_and_compares_with_the_best_constant():
    from types import SimpleNamespace

    import tensorflow as tf
    from evaluation.trainedness import trainedness
    x = _patches()
    mean = x.mean(axis=0, keepdims=True)
    var = np.clip(x.var(axis=0, keepdims=True), np.exp(-6.0), np.exp(6.0)).astype(np.float32)  # the decoder's bound

    def encoder(b, training=False):  # unit 0 carries the patch mean, units 1-3 collapse
        mu = np.zeros((len(b), 1, 1, 4), np.float32)
        mu[:, 0, 0, 0] = (np.asarray(b).mean(axis=(1, 2, 3)) - 0.5) * 100
        return tf.constant(mu), tf.zeros_like(mu)

    def constant_decoder(z, training=False):
        n = len(z)
        return tf.constant(np.repeat(mean, n, 0)), tf.constant(np.log(np.repeat(var, n, 0)))

    got = trainedness(SimpleNamespace(encoder=encoder, decoder=constant_decoder), "vae", x)
    assert got["active_units"] == 1
    # the best constant Gaussian decoder gains nothing over itself but pays the KL
    assert got["nll_gain"] == pytest.approx(-got["kl"] / x[0].size, abs=1e-3)
    assert got["r2"] == pytest.approx(0.0, abs=1e-5) and not got["trained"]
