"""Sliding-window geometry: every pixel covered, and fold is the exact inverse of extract;
anomaly_maps independent of how images and maps are grouped (the maps against their
definitions: tests/test_maps.py, tests/test_vae_maps.py)."""
import numpy as np
import pytest

from evaluation.windows import extract_patches, fold, patch_values_to_maps, window_starts
from errors import InputError


@pytest.mark.parametrize("length, patch, stride, expected", [
    (512, 128, 30, list(range(0, 361, 30)) + [384]),
    (200, 128, 30, [0, 30, 60, 72]),
    (128, 128, 30, [0]),
    (130, 128, 30, [0, 2]),
    (218, 128, 30, [0, 30, 60, 90]),  # stride divides length - patch: no extra window
])
def test_window_starts_cover_every_pixel(length, patch, stride, expected):
    starts = window_starts(length, patch, stride)
    np.testing.assert_array_equal(starts, expected)
    assert starts[0] == 0 and starts[-1] == length - patch
    assert np.all(np.diff(starts) > 0) and np.all(np.diff(starts) <= stride)
    covered = np.zeros(length, dtype=int)
    for s in starts:
        covered[s:s + patch] += 1
    assert covered.min() >= 1


def test_image_smaller_than_patch_is_an_input_error():
    with pytest.raises(InputError, match="100 px is smaller than the patch size 128"):
        window_starts(100, 128, 30)
    with pytest.raises(InputError):
        extract_patches(np.zeros((100, 300), np.float32), 128, 30)


def test_patches_are_row_major_per_image_and_images_concatenated():
    images = np.arange(2 * 9 * 7, dtype=np.float32).reshape(2, 9, 7)
    patches, grid = extract_patches(images, 4, 3)
    np.testing.assert_array_equal(grid.rows, [0, 3, 5])
    np.testing.assert_array_equal(grid.cols, [0, 3])
    assert patches.shape == (2 * 3 * 2, 4, 4)
    k = 0
    for n in range(2):
        for r in grid.rows:
            for c in grid.cols:
                np.testing.assert_array_equal(patches[k], images[n, r:r + 4, c:c + 4])
                k += 1


@pytest.mark.parametrize("shape, patch, stride", [
    ((158, 188), 128, 30),  # stride divides H - patch and W - patch
    ((200, 171), 128, 30),  # it divides neither
    ((40, 33), 8, 5),
    ((16, 16), 16, 3),      # a single window
])
def test_extract_then_fold_returns_the_image_exactly(shape, patch, stride):
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    patches, grid = extract_patches(image, patch, stride)
    back = fold(patches, grid)
    assert back.shape == shape and back.dtype == np.float32
    np.testing.assert_array_equal(back, image)


def _fold_by_brute_force(patch_maps, height, width, patch, stride):
    """Accumulate every window's map where the window lies and count the windows at
    every pixel, windows row-major with the last row and column moved to the border."""
    total = np.zeros((height, width))
    count = np.zeros((height, width), int)
    starts_r = list(range(0, height - patch + 1, stride))
    starts_c = list(range(0, width - patch + 1, stride))
    if starts_r[-1] != height - patch:
        starts_r.append(height - patch)
    if starts_c[-1] != width - patch:
        starts_c.append(width - patch)
    k = 0
    for r in starts_r:
        for c in starts_c:
            total[r:r + patch, c:c + patch] += patch_maps[k]
            count[r:r + patch, c:c + patch] += 1
            k += 1
    assert k == len(patch_maps)
    return total / count, count


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fold_matches_accumulate_and_count_at_the_borders(dtype):
    """Distinct random patch maps (unlike the patches of one image, they disagree where
    they overlap), so a wrong weight or a misplaced window changes the result. 200 x 171 at
    patch 128, stride 30: rows start at 0, 30, 60 and 72 (moved to the border), columns at
    0, 30 and 43 (moved)."""
    h, w, p, s = 200, 171, 128, 30
    _, grid = extract_patches(np.zeros((2, h, w), dtype), p, s)
    np.testing.assert_array_equal(grid.rows, [0, 30, 60, 72])
    np.testing.assert_array_equal(grid.cols, [0, 30, 43])
    maps = np.random.default_rng(5).random((grid.n_patches, p, p)).astype(dtype)
    back = fold(maps, grid)
    assert back.shape == (2, h, w) and back.dtype == dtype
    per_image = grid.patches_per_image
    for n in range(2):
        expected, count = _fold_by_brute_force(maps[n * per_image:(n + 1) * per_image], h, w, p, s)
        # the border windows overlap their neighbours more: counts 1 .. 4 x 3 windows
        assert count.min() == 1 and count.max() == 12 and len(np.unique(count)) > 4
        np.testing.assert_allclose(back[n], expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # spreading one value per window is the same average
    values = np.random.default_rng(6).random(grid.n_patches)
    spread = patch_values_to_maps(values, grid)
    for n in range(2):
        expected, _ = _fold_by_brute_force(
            np.broadcast_to(values[n * per_image:(n + 1) * per_image, None, None], (per_image, p, p)),
            h, w, p, s)
        np.testing.assert_allclose(spread[n], expected, rtol=1e-12)


def test_fold_batch_of_images():
    images = np.random.default_rng(1).random((3, 45, 38))  # float64 this time
    patches, grid = extract_patches(images, 16, 7)
    back = fold(patches, grid)
    assert back.shape == images.shape and back.dtype == np.float64
    np.testing.assert_allclose(back, images, rtol=0, atol=1e-12)


def test_constant_patches_fold_to_the_constant():
    _, grid = extract_patches(np.zeros((2, 50, 61), np.float32), 16, 7)
    back = fold(np.full((grid.n_patches, 16, 16), 0.37, np.float32), grid)
    np.testing.assert_array_equal(back, np.float32(0.37))
    # Keras-style (P, patch, patch, 1) outputs fold the same way.
    back = fold(np.full((grid.n_patches, 16, 16, 1), 0.37, np.float32), grid)
    assert back.shape == (2, 50, 61)
    np.testing.assert_array_equal(back, np.float32(0.37))


def test_fold_averages_overlaps():
    # A 2x3 image, 2x2 windows at columns [0, 2) and [1, 3): the middle column is shared.
    _, grid = extract_patches(np.zeros((2, 3)), 2, 1)
    assert grid.n_patches == 2
    maps = np.stack([np.ones((2, 2)), np.zeros((2, 2))])  # first window 1, second 0
    back = fold(maps, grid)
    np.testing.assert_array_equal(back, [[1.0, 0.5, 0.0], [1.0, 0.5, 0.0]])


def test_fold_rejects_the_wrong_number_of_patches():
    patches, grid = extract_patches(np.zeros((40, 40), np.float32), 16, 8)
    with pytest.raises(InputError, match="grid expects"):
        fold(patches[:-1], grid)


def test_patch_values_spread_like_folded_constant_patches():
    rng = np.random.default_rng(2)
    _, grid = extract_patches(np.zeros((2, 47, 39), np.float32), 16, 6)
    values = rng.random(grid.n_patches)
    constant_patches = np.broadcast_to(values[:, None, None], (grid.n_patches, 16, 16))
    np.testing.assert_allclose(patch_values_to_maps(values, grid),
                               fold(constant_patches, grid), rtol=0, atol=1e-12)
    # A single image: (H, W) back.
    _, grid1 = extract_patches(np.zeros((47, 39), np.float32), 16, 6)
    one = patch_values_to_maps(np.full(grid1.n_patches, 2.5, np.float32), grid1)
    assert one.shape == (47, 39) and one.dtype == np.float32
    np.testing.assert_array_equal(one, 2.5)


@pytest.mark.parametrize("method", ["l2_ae", "vae"])
def test_anomaly_maps_do_not_depend_on_how_images_are_grouped(method):
    """Images share batches (small images would otherwise pad every batch); the maps of
    each image must be the ones it gets alone."""
    import keras
    from evaluation.maps import anomaly_maps
    from models.autoencoder import build_autoencoder
    from models.vae import build_vae
    keras.utils.set_random_seed(0)
    model = build_vae(latent_dim=8) if method == "vae" else build_autoencoder(latent_dim=8)
    images = np.random.default_rng(0).random((3, 150, 170), dtype=np.float32)
    kw = dict(stride=30, batch=8, kl_stride=20, rp_samples=2)
    alone = anomaly_maps(model, method, images, max_patches=1, **kw)
    grouped = anomaly_maps(model, method, images, **kw)
    assert alone.keys() == grouped.keys()
    for name in alone:
        assert grouped[name].shape == (3, 150, 170)
        # every map, the VAE's sampled ones too: a patch's draws of z must not depend on
        # its place in its batch
        np.testing.assert_allclose(grouped[name], alone[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("method", ["ssim_ae", "vae"])
def test_a_map_computed_alone_equals_it_computed_with_the_others(method):
    """``segment`` and the benchmark ask for one map; it must be the map ``evaluate``
    scores (same patches, same draws of z), and each function is traced once whatever the
    number of patches (no padded batches, no retracing)."""
    import keras
    from evaluation.maps import anomaly_maps
    from methods import METHODS
    from models.autoencoder import build_autoencoder
    from models.vae import build_vae
    keras.utils.set_random_seed(1)
    model = build_vae(latent_dim=8) if method == "vae" else build_autoencoder(latent_dim=8)
    images = np.random.default_rng(1).random((2, 140, 160), dtype=np.float32)
    kw = dict(stride=30, batch=8, kl_stride=20, rp_samples=2)
    together = anomaly_maps(model, method, images, **kw)
    assert set(together) == set(METHODS[method].maps)
    for name in METHODS[method].maps:
        alone = anomaly_maps(model, method, images, maps=(name,), **kw)
        assert list(alone) == [name]
        np.testing.assert_allclose(alone[name], together[name], rtol=1e-6, atol=1e-7, err_msg=name)
    anomaly_maps(model, method, images[:1, :130, :131], **kw)  # another number of patches
    traced = {key: fn.experimental_get_tracing_count() for key, fn in model._anomaly_fns.items()}
    assert traced and all(count == 1 for count in traced.values()), traced
    with pytest.raises(ValueError, match="gives the maps"):
        anomaly_maps(model, method, images, maps=("l2" if method == "vae" else "vae_rp",), **kw)
