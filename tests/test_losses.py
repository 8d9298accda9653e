"""SSIM map against scikit-image, the loss against tf.image.ssim, l2 against Eq. 2."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from losses.l2 import l2_loss, l2_map
from losses.ssim import ssim_components, ssim_loss, ssim_loss_fast, ssim_map


def image_pairs():
    rng = np.random.default_rng(0)
    noise_a, noise_b = rng.random((2, 64, 64))
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    stripes = 0.5 + 0.4 * np.sin(2 * np.pi * 6 * xx + 3 * yy)
    distorted = np.clip(gaussian_filter(stripes, 1.5) + 0.05 * rng.standard_normal((64, 64)), 0, 1)
    return {"noise": (noise_a, noise_b), "structured": (stripes, distorted),
            "noise_vs_structure": (noise_a, stripes)}


def as_batch(a):
    return tf.constant(np.asarray(a, np.float32)[None, ..., None])


@pytest.mark.parametrize("name", ["noise", "structured", "noise_vs_structure"])
def test_ssim_map_matches_scikit_image(name):
    a, b = image_pairs()[name]
    _, expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0, full=True)
    got = ssim_map(as_batch(a), as_batch(b)).numpy()[0, ..., 0]
    assert got.shape == a.shape
    np.testing.assert_allclose(got[5:-5, 5:-5], expected[5:-5, 5:-5], atol=1e-4)
    np.testing.assert_allclose(got, expected, atol=1e-4)  # symmetric padding == scipy 'reflect'


@pytest.mark.parametrize("name", ["noise", "structured"])
def test_ssim_map_mean_and_loss_match_tf_image_ssim(name):
    a, b = image_pairs()[name]
    stock = float(tf.image.ssim(as_batch(a), as_batch(b), max_val=1.0, filter_size=11,
                                filter_sigma=1.5, k1=0.01, k2=0.03)[0])
    inner = ssim_map(as_batch(a), as_batch(b)).numpy()[0, 5:-5, 5:-5, 0].mean()
    assert inner == pytest.approx(stock, abs=1e-4)
    assert 1 - float(ssim_loss_fast(as_batch(a), as_batch(b))[0]) == pytest.approx(stock, abs=1e-5)
    assert 1 - float(ssim_loss(as_batch(a), as_batch(b))[0]) == pytest.approx(stock, abs=1e-6)


def test_fast_ssim_loss_equals_the_stock_loss_and_its_gradient():
    a, b = image_pairs()["structured"]
    x, y = tf.constant(np.stack([a, b])[..., None]), tf.Variable(np.stack([b, a])[..., None])
    grads = []
    for loss in (ssim_loss, ssim_loss_fast):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(loss(x, y))
        grads.append(tape.gradient(value, y).numpy())
    np.testing.assert_allclose(ssim_loss_fast(x, y).numpy(), ssim_loss(x, y).numpy(), atol=1e-5)
    assert np.abs(grads[0]).max() > 0
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-3 * np.abs(grads[0]).max())


def test_components_multiply_to_ssim():
    a, b = image_pairs()["structured"]
    l, c, s = ssim_components(as_batch(a), as_batch(b))
    np.testing.assert_allclose((l * c * s).numpy(), ssim_map(as_batch(a), as_batch(b)).numpy(), atol=1e-4)


@pytest.mark.parametrize("loss_fn", [ssim_loss, ssim_loss_fast])
def test_ssim_loss_zero_for_identical_and_finite_gradient_on_flat(loss_fn):
    a, _ = image_pairs()["structured"]
    assert float(loss_fn(as_batch(a), as_batch(a))[0]) == pytest.approx(0.0, abs=1e-6)
    flat = tf.fill((2, 32, 32, 1), 0.5)
    pred = tf.Variable(tf.fill((2, 32, 32, 1), 0.5))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(loss_fn(flat, pred))
    grad = tape.gradient(loss, pred)
    assert np.isfinite(grad.numpy()).all()
    with tf.GradientTape() as tape:
        comps = ssim_components(flat, pred)
        total = sum(tf.reduce_mean(c) for c in comps)
    assert np.isfinite(tape.gradient(total, pred).numpy()).all()


def test_l2_is_eq2_on_hand_example():
    x = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)[None, ..., None]
    y = np.array([[0.5, 1.0], [0.0, 0.75]], np.float32)[None, ..., None]
    # (0 - .5)^2 + 0 + (.5 - 0)^2 + (.25 - .75)^2 = .25 + .25 + .25
    assert float(l2_loss(x, y)[0]) == pytest.approx(0.75)
    np.testing.assert_allclose(l2_map(x, y).numpy()[0, ..., 0], [[0.25, 0.0], [0.25, 0.25]])
