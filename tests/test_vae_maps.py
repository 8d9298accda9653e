"""The VAE's two anomaly measures against independent numpy computations.

A small VAE (d = 8), randomly initialised and untrained: the formulas are what is tested,
not a trained model. The encoder and decoder are run as black boxes (their outputs read
back as numpy); everything the measures compute from those outputs is redone here in
float64 numpy: the reparameterisation z = mu + exp(log_var / 2) * eps, the Gaussian
negative log-likelihood, the closed-form KL divergence, the average over L samples and the
folding of per-window values into maps by an explicit loop over windows.
"""
import math

import keras
import numpy as np
import pytest

from evaluation.maps import anomaly_maps
from evaluation.windows import window_starts
from models.vae import build_vae, kl_divergence, reconstruction_probability

D, P = 8, 128


@pytest.fixture(scope="module")
def vae():
    keras.utils.set_random_seed(3)
    return build_vae(latent_dim=D, patch_size=P)


def _patches(n, seed=0):
    return np.random.default_rng(seed).random((n, P, P, 1), dtype=np.float32)


def _encode(vae, x):
    mu, log_var = vae.encoder(x, training=False)
    return np.asarray(mu, np.float64), np.asarray(log_var, np.float64)


def _nll(x, mean, log_var):
    """-log N(x; mean, exp(log_var)) per pixel, float64."""
    x, mean, log_var = (np.asarray(a, np.float64) for a in (x, mean, log_var))
    return 0.5 * (math.log(2 * math.pi) + log_var + (x - mean) ** 2 / np.exp(log_var))


def _kl(mu, log_var):
    """KL(N(mu, exp(log_var)) || N(0, I)) per patch, summed over the latent entries."""
    per_entry = 0.5 * (mu ** 2 + np.exp(log_var) - 1.0 - log_var)
    return per_entry.reshape(len(mu), -1).sum(axis=1)


def _rp_by_hand(vae, x, samples, seed):
    """reconstruction_probability of ONE patch x (1, P, P, 1), in numpy: eps of draw i is
    keras.random.normal with the integer seed ``seed + i`` (the code's seeds)."""
    assert len(x) == 1
    mu, log_var = _encode(vae, x)
    nll, recon = 0.0, 0.0
    for i in range(samples):
        eps = np.asarray(keras.random.normal(mu.shape, seed=seed + i), np.float64)
        z = mu + np.exp(log_var / 2.0) * eps
        x_mean, x_log_var = vae.decoder(z.astype(np.float32), training=False)
        nll = nll + _nll(x, x_mean, x_log_var)
        recon = recon + np.asarray(x_mean, np.float64)
    return nll / samples, recon / samples


@pytest.mark.parametrize("samples, seed", [(1, 0), (3, 7)])
def test_reconstruction_probability_of_one_patch_by_hand(vae, samples, seed):
    x = _patches(1, seed=samples)
    nll, recon = reconstruction_probability(vae, x, samples=samples, seed=seed)
    expected_nll, expected_recon = _rp_by_hand(vae, x, samples, seed)
    assert nll.shape == recon.shape == (1, P, P, 1)
    np.testing.assert_allclose(np.asarray(nll), expected_nll, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(recon), expected_recon, rtol=1e-5, atol=1e-6)
    # the samples differ: averaging L of them is not one sample L times
    if samples > 1:
        one, _ = _rp_by_hand(vae, x, 1, seed)
        assert np.abs(one - expected_nll).max() > 1e-3


def test_reconstruction_probability_of_a_patch_does_not_depend_on_its_batch(vae):
    """A patch's per-pixel score is its own: the same whether it is scored alone or as the
    third patch of a batch (its draws of z must not follow its place in the batch)."""
    x = _patches(4, seed=11)
    nll, recon = reconstruction_probability(vae, x, samples=2, seed=0)
    for k in range(len(x)):
        alone, recon_alone = reconstruction_probability(vae, x[k:k + 1], samples=2, seed=0)
        np.testing.assert_allclose(np.asarray(nll)[k], np.asarray(alone)[0], rtol=1e-5, atol=1e-5,
                                   err_msg=f"patch {k}")
        np.testing.assert_allclose(np.asarray(recon)[k], np.asarray(recon_alone)[0], rtol=1e-5,
                                   atol=1e-6, err_msg=f"patch {k}")


def test_negative_elbo_is_gaussian_nll_plus_kl(vae):
    """negative_elbo draws z from the model's SeedGenerator; its state is saved before and
    restored after, so that the same eps can be drawn again here."""
    x = _patches(3, seed=5)
    state = np.asarray(vae.seed.state).copy()
    nll, kl = vae.negative_elbo(x)
    assert not np.array_equal(np.asarray(vae.seed.state), state)  # it did draw from the generator
    vae.seed.state.assign(state)
    mu, log_var = _encode(vae, x)
    eps = np.asarray(keras.random.normal(mu.shape, seed=vae.seed), np.float64)
    z = mu + np.exp(log_var / 2.0) * eps
    x_mean, x_log_var = vae.decoder(z.astype(np.float32), training=False)
    expected_nll = _nll(x, x_mean, x_log_var).sum(axis=(1, 2, 3)).mean()
    expected_kl = _kl(mu, log_var).mean()
    assert float(nll) == pytest.approx(expected_nll, rel=1e-5)
    assert float(kl) == pytest.approx(expected_kl, rel=1e-5)
    np.testing.assert_allclose(np.asarray(kl_divergence(vae, x)), _kl(mu, log_var), rtol=1e-5)


def _fold_by_loop(values, height, width, patch, stride):
    """Mean over the windows covering each pixel; values[k] is the (patch, patch) map or
    the scalar of window k, windows row-major (as extract_patches orders them)."""
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    k = 0
    for r in window_starts(height, patch, stride):
        for c in window_starts(width, patch, stride):
            total[r:r + patch, c:c + patch] += values[k]
            count[r:r + patch, c:c + patch] += 1
            k += 1
    assert k == len(values) and count.min() >= 1
    return total / count


def test_vae_maps_are_per_window_measures_folded(vae):
    """anomaly_maps' vae_kl and vae_rp for one 160 x 150 image: kl_divergence of every
    window at kl_stride, reconstruction_probability of every window at stride, spread or
    folded by an explicit loop. All windows of the image are scored in one batch here and
    there (batch >= number of windows), so the draws of z are the same in both."""
    h, w, stride, kl_stride, samples = 160, 150, 30, 20, 2
    image = np.random.default_rng(8).random((h, w), dtype=np.float32)
    maps = anomaly_maps(vae, "vae", image[None], patch=P, stride=stride, batch=256,
                        kl_stride=kl_stride, rp_samples=samples)

    def windows(step):
        return np.stack([image[r:r + P, c:c + P] for r in window_starts(h, P, step)
                         for c in window_starts(w, P, step)])[..., None]

    kl_windows = windows(kl_stride)
    kl = _kl(*_encode(vae, kl_windows))
    np.testing.assert_allclose(maps["vae_kl"][0], _fold_by_loop(kl, h, w, P, kl_stride), rtol=1e-5)

    rp_windows = windows(stride)
    nll, recon = reconstruction_probability(vae, rp_windows, samples=samples, seed=0)
    np.testing.assert_allclose(maps["vae_rp"][0],
                               _fold_by_loop(np.asarray(nll)[..., 0], h, w, P, stride),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["recon"][0],
                               _fold_by_loop(np.asarray(recon)[..., 0], h, w, P, stride),
                               rtol=1e-5, atol=1e-6)
    # not flat: the windows' values differ, so a wrong window order or weight would show
    assert np.ptp(kl) > 1e-3 * np.abs(kl).mean()
