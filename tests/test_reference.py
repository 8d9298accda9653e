"""Tests of evaluation/reference.py: the kNN and intensity reference detectors."""
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from evaluation import reference as R


def test_nn_distances_match_sklearn_brute_force():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(300, 20)).astype(np.float32)
    queries = rng.normal(size=(97, 20)).astype(np.float32)
    queries[:5] = bank[:5]  # exact matches: distance 0, not NaN from rounding
    nn = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(bank)
    dist, _ = nn.kneighbors(queries)
    for k in (1, 3):
        got = R.nn_distances(queries, bank, k=k, chunk=16)  # several chunks
        np.testing.assert_allclose(got, dist[:, :k].mean(axis=1), atol=2e-3)
    assert np.all(R.nn_distances(queries[:5], bank) < 2e-3)


def test_descriptors_and_seeded_bank():
    rng = np.random.default_rng(1)
    p = rng.random((4, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(R.descriptors(p)[1], p[1].ravel())
    train = rng.random((3, 40, 40)).astype(np.float32)
    a, b = R.sample_bank(train, 50, seed=0), R.sample_bank(train, 50, seed=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, R.sample_bank(train, 50, seed=1))
    assert R.sample_bank(train[:, :17, :17], 10_000).shape == (3 * 2 * 2, 256)  # all there are


def _stripes(rng, n, size=64, period=6):
    """A periodic texture (vertical stripes at random phase) with a little noise."""
    x = np.arange(size)
    out = [0.5 + 0.3 * np.sin(2 * np.pi * (x[None, :] + rng.uniform(0, period)) / period)
           * np.ones((size, 1)) + rng.normal(0, 0.02, (size, size)) for _ in range(n)]
    return np.clip(np.array(out), 0, 1).astype(np.float32)


def test_knn_finds_a_foreign_square_and_intensity_a_bright_blob():
    rng = np.random.default_rng(2)
    train, test = _stripes(rng, 6), _stripes(rng, 3)
    masks = np.zeros(test.shape, bool)
    # a structural defect: a square of horizontal stripes with the same grey values
    square = np.s_[20:40, 24:44]
    test[0][square] = test[0][square].T
    masks[0][square] = True
    maps = R.reference_maps(train, test, seed=0)
    assert set(maps) == {"knn", "intensity"}
    for m in maps.values():
        assert m.shape == test.shape and m.dtype == np.float32 and np.isfinite(m).all()
    assert roc_auc_score(masks.ravel(), maps["knn"].ravel()) > 0.95
    assert roc_auc_score(masks.ravel(), maps["intensity"].ravel()) < 0.75  # blind to it
    # an intensity defect: a bright disc
    yy, xx = np.mgrid[:64, :64]
    blob = (yy - 32) ** 2 + (xx - 32) ** 2 < 10 ** 2
    test[1][blob] = np.clip(test[1][blob] + 0.4, 0, 1)
    inten = R.intensity_map(train, test[1:3])
    assert roc_auc_score(np.stack([blob, 0 * blob]).ravel(), inten.ravel()) > 0.95
    # a dark one: the distance from the training mean counts either way
    test[2][blob] = np.clip(test[2][blob] - 0.4, 0, 1)
    inten = R.intensity_map(train, test[2:3])
    assert roc_auc_score(blob.ravel(), inten.ravel()) > 0.95


def test_the_projection_keeps_the_distances():
    """On a smooth texture the bank's first 32 principal components hold nearly all of its
    variance, so projected distances stay close to the full 256-dimensional ones (the
    last components would leave a fraction of them)."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(4)
    train, test = (np.stack([gaussian_filter(rng.random((48, 48)), 2.0) for _ in range(n)])
                   .astype(np.float32) for n in (3, 1))
    projected = R.knn_map(train, test, seed=0, bank_size=2000)
    full = R.knn_map(train, test, seed=0, bank_size=2000, dims=None)
    assert np.abs(projected - full).mean() < 0.1 * full.mean()


def test_deterministic_and_seed_changes_the_bank():
    rng = np.random.default_rng(3)
    train, test = rng.random((2, 48, 48)).astype(np.float32), rng.random((1, 40, 40)).astype(np.float32)
    a = R.knn_map(train, test, seed=0, bank_size=500)
    np.testing.assert_array_equal(a, R.knn_map(train, test, seed=0, bank_size=500))
    assert not np.array_equal(a, R.knn_map(train, test, seed=1, bank_size=500))
    full = R.knn_map(train, test, seed=0, bank_size=500, dims=None)
    assert full.shape == (1, 40, 40) and full.dtype == np.float32
