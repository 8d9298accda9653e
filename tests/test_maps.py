"""The autoencoders' anomaly maps (evaluation/maps.py) against their definitions, by hand.

The model is a tiny Keras network whose output is a known function of its input: a fixed
3 x 3 blur plus a brightness shift, zero-padded at the patch border (so a pixel's
reconstruction depends on where its window lies, and a misplaced window shows). Every
window is cut here with its own loop, reconstructed by scipy, scored by the definitions
of Section 3 (l2: ``(x - x_hat)^2``; SSIM: ``1 - SSIM`` by scikit-image, 11 x 11 Gaussian
window, sigma 1.5, K1 = 0.01, K2 = 0.03) and folded by accumulating and counting. A
perfect reconstruction (the identity) gives zero maps. Patches of 16 px at stride 6 keep
it to a fraction of a second.
"""
import keras
import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from evaluation.maps import anomaly_maps

P, STRIDE = 16, 6
BLUR = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
SHIFT = 0.05  # the reconstruction's brightness differs: SSIM's luminance term counts too


def _model(kernel=None, bias=0.0):
    """x -> kernel * x + bias with zero padding ('same'); the identity without a kernel."""
    if kernel is None:
        return keras.Sequential([keras.Input((P, P, 1)), keras.layers.Identity()])
    conv = keras.layers.Conv2D(1, 3, padding="same")
    model = keras.Sequential([keras.Input((P, P, 1)), conv])
    conv.set_weights([kernel[:, :, None, None], np.array([bias], np.float32)])
    return model


def _images():
    """Two 40 x 35 images from dark to bright (left to right), so that SSIM's constants
    matter where the local means are small."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.02, 0.9, 35, dtype=np.float32)
    return (rng.random((2, 40, 35), dtype=np.float32) * ramp).astype(np.float32)


def _starts(length, patch, stride):
    starts = list(range(0, length - patch + 1, stride))
    return starts + ([length - patch] if starts[-1] != length - patch else [])


def fold_by_hand(image, per_window, patch=P, stride=STRIDE):
    """Mean over the windows covering each pixel of per_window(window), windows at
    ``stride`` with the last row and column moved to the border (also used by
    tests/test_pipeline.py on the smoke run's models)."""
    total, count = np.zeros(image.shape), np.zeros(image.shape)
    for r in _starts(image.shape[0], patch, stride):
        for c in _starts(image.shape[1], patch, stride):
            total[r:r + patch, c:c + patch] += per_window(image[r:r + patch, c:c + patch].astype(np.float64))
            count[r:r + patch, c:c + patch] += 1
    assert count.min() >= 1 and count.max() > 1
    return total / count


def one_minus_ssim(x, x_hat):
    """1 - SSIM(x, x_hat) per pixel by scikit-image (Gaussian 11 x 11 window, sigma 1.5)."""
    _, ssim = structural_similarity(x, x_hat, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, full=True)
    return 1.0 - ssim


def _reconstruct(window):
    return ndimage.correlate(window, BLUR.astype(np.float64), mode="constant", cval=0.0) + SHIFT


@pytest.mark.parametrize("method", ["l2_ae", "ssim_ae"])
def test_l2_and_ssim_maps_are_their_definitions_folded(method):
    images = _images()
    maps = anomaly_maps(_model(BLUR, SHIFT), method, images, patch=P, stride=STRIDE, batch=7)
    assert set(maps) >= {"l2", "ssim", "recon"}
    for k, image in enumerate(images):
        l2 = fold_by_hand(image, lambda w: (w - _reconstruct(w)) ** 2)
        np.testing.assert_allclose(maps["l2"][k], l2, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(maps["recon"][k], fold_by_hand(image, _reconstruct), rtol=1e-5, atol=1e-6)
        ssim = fold_by_hand(image, lambda w: one_minus_ssim(w, _reconstruct(w)))
        np.testing.assert_allclose(maps["ssim"][k], ssim, rtol=0, atol=1e-4)
        # the maps are not trivial: an inverted or rescaled map would differ by far more
        assert ssim.min() > 0.01 and np.ptp(ssim) > 0.1 and np.ptp(l2) > 1e-3


def test_a_perfect_reconstruction_gives_zero_maps():
    images = _images()
    maps = anomaly_maps(_model(), "ssim_ae", images, patch=P, stride=STRIDE, batch=64)
    np.testing.assert_array_equal(maps["l2"], 0.0)
    np.testing.assert_allclose(maps["ssim"], 0.0, atol=1e-6)
    np.testing.assert_allclose(maps["recon"], images, rtol=0, atol=1e-7)
