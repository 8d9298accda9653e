"""Table 1 shape by shape, the initialisation layer by layer, the VAE's two anomaly measures
against their formulas, and a brief training on a real texture that must learn more than a
constant output."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.autoencoder import build_autoencoder
from models.vae import build_vae, gaussian_nll, kl_divergence, reconstruction_probability

# docs/PAPER_NOTES.md, Table 1: (layer, output shape, kernel, stride) at 128 px
TABLE1_ENCODER = [("conv1", (64, 64, 32), 4, 2), ("conv2", (32, 32, 32), 4, 2),
                  ("conv3", (32, 32, 32), 3, 1), ("conv4", (16, 16, 64), 4, 2),
                  ("conv5", (16, 16, 64), 3, 1), ("conv6", (8, 8, 128), 4, 2),
                  ("conv7", (8, 8, 64), 3, 1), ("conv8", (8, 8, 32), 3, 1),
                  ("conv9_latent", (1, 1, 100), 8, 1)]
TABLE1_DECODER = [("convT1", (8, 8, 32), 8, 1), ("conv10", (8, 8, 64), 3, 1),
                  ("conv11", (8, 8, 128), 3, 1), ("convT2", (16, 16, 64), 4, 2),
                  ("conv12", (16, 16, 64), 3, 1), ("convT3", (32, 32, 32), 4, 2),
                  ("conv13", (32, 32, 32), 3, 1), ("convT4", (64, 64, 32), 4, 2),
                  ("convT5", (128, 128, 1), 4, 2)]


def conv_layers(model):
    return [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def check_table(model, table):
    convs = conv_layers(model)
    assert [l.name for l in convs] == [row[0] for row in table]
    for layer, (name, shape, kernel, stride) in zip(convs, table):
        assert tuple(layer.output.shape[1:]) == shape, name
        assert layer.kernel_size == (kernel, kernel), name
        assert layer.strides == (stride, stride), name
        assert layer.padding == ("valid" if kernel == 8 else "same"), name


def test_autoencoder_matches_table1():
    model = build_autoencoder(latent_dim=100, patch_size=128)
    check_table(model.encoder, TABLE1_ENCODER)
    check_table(model.decoder, TABLE1_DECODER)
    acts = {l.name: l for l in model.encoder.layers + model.decoder.layers}
    assert all(f"{n}_lrelu" in acts for n, *_ in TABLE1_ENCODER[:-1] + TABLE1_DECODER[:-1])
    assert "conv9_latent_lrelu" not in acts and acts["conv9_latent"].activation.__name__ == "linear"
    assert acts["convT5"].activation.__name__ == "sigmoid"
    assert acts["conv1_lrelu"].negative_slope == pytest.approx(0.2)


def test_autoencoder_256_adds_one_stride2_layer_each_side():
    model = build_autoencoder(latent_dim=500, patch_size=256)
    enc = [("conv0", (128, 128, 32), 4, 2)] + TABLE1_ENCODER[:-1] + [("conv9_latent", (1, 1, 500), 8, 1)]
    dec = ([("convT1", (8, 8, 32), 8, 1)] + TABLE1_DECODER[1:-1]
           + [("convT4b", (128, 128, 32), 4, 2), ("convT5", (256, 256, 1), 4, 2)])
    check_table(model.encoder, enc)
    check_table(model.decoder, dec)
    assert model.output_shape == (None, 256, 256, 1)


def test_vae_heads_and_shapes():
    vae = build_vae(latent_dim=16)
    x = np.random.default_rng(0).random((3, 128, 128, 1), dtype=np.float32)
    z_mean, z_log_var = vae.encoder(x)
    assert z_mean.shape == z_log_var.shape == (3, 1, 1, 16)
    x_mean, x_log_var = vae.decoder(z_mean)
    assert x_mean.shape == x_log_var.shape == (3, 128, 128, 1)
    # both log-variances are bounded as models/vae.py documents: a head driven far out
    # (kernel 0, bias +-1000) gives exactly the bound, of the posterior and of the decoder
    import models.vae
    from models.vae import LATENT_LOG_VAR_BOUND, LOG_VAR_BOUND
    doc = " ".join(models.vae.__doc__.split())
    assert f"log-variance is bounded to (-{LOG_VAR_BOUND:g}, {LOG_VAR_BOUND:g})" in doc
    assert f"bounded to (-{LATENT_LOG_VAR_BOUND:g}, {LATENT_LOG_VAR_BOUND:g})" in doc
    for sign in (1, -1):
        for half, name in ((vae.encoder, "conv9_log_var"), (vae.decoder, "convT5_log_var")):
            layer = half.get_layer(name)
            kernel, bias = layer.get_weights()
            layer.set_weights([np.zeros_like(kernel), np.full_like(bias, sign * 1000.0)])
        _, z_log_var = vae.encoder(x)
        _, x_log_var = vae.decoder(z_mean)
        np.testing.assert_allclose(z_log_var, sign * LATENT_LOG_VAR_BOUND, rtol=1e-6)
        np.testing.assert_allclose(x_log_var, sign * LOG_VAR_BOUND, rtol=1e-6)


def test_kl_equals_closed_form_for_hand_set_posterior():
    vae = build_vae(latent_dim=4)
    mu = np.array([0.5, -1.0, 0.0, 2.0], np.float32)
    log_var = np.array([0.0, math.log(2.0), -1.0, 0.5], np.float32)
    expected = sum(0.5 * (math.exp(lv) + m * m - 1 - lv) for m, lv in zip(mu, log_var))
    vae.encoder = lambda x, training=False: (tf.reshape(mu, (1, 1, 1, 4)), tf.reshape(log_var, (1, 1, 1, 4)))
    got = kl_divergence(vae, np.zeros((1, 128, 128, 1), np.float32))
    assert float(got[0]) == pytest.approx(expected, rel=1e-6)


def test_reconstruction_probability_is_gaussian_log_density():
    vae = build_vae(latent_dim=4)
    mean, log_var = 0.3, -2.0
    vae.decoder = lambda z, training=False: (tf.fill((1, 128, 128, 1), mean), tf.fill((1, 128, 128, 1), log_var))
    x = np.full((1, 128, 128, 1), 0.5, np.float32)
    x[0, 0, 0, 0] = 0.9
    nll, recon = reconstruction_probability(vae, x, samples=3)
    var = math.exp(log_var)
    density = lambda v: math.exp(-(v - mean) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
    assert float(nll[0, 0, 0, 0]) == pytest.approx(-math.log(density(0.9)), rel=1e-5)
    assert float(nll[0, 5, 5, 0]) == pytest.approx(-math.log(density(0.5)), rel=1e-5)
    assert np.allclose(recon, mean)
    assert float(gaussian_nll(0.5, mean, log_var)) == pytest.approx(-math.log(density(0.5)), rel=1e-6)


@pytest.fixture(scope="module")
def texture_patches():
    """Real photographed texture (scikit-image's brick), 32 random 128-px patches."""
    from skimage.data import brick
    img = brick().astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 512 - 128, 32), rng.integers(0, 512 - 128, 32)
    return np.stack([img[y:y + 128, x:x + 128] for y, x in zip(ys, xs)])[..., None]


def _activations(model, patches):
    """RMS of every layer's output, in order through the encoder and then the decoder."""
    rms, x = [], patches
    for half in (model.encoder, model.decoder):
        layers = [l for l in half.layers if not isinstance(l, keras.layers.InputLayer)]
        probe = keras.Model(half.input, [l.output for l in layers])
        outs = probe(x)
        rms += [(l.name, float(np.sqrt(np.mean(np.square(o))))) for l, o in zip(layers, outs)]
        x = outs[-1]
    return rms


def test_initialisation_keeps_the_signal_through_every_layer(texture_patches):
    """At initialisation the activations keep their size through all layers, and the
    output differs from patch to patch (with Keras' default kernels the RMS halved at each
    LeakyReLU and the output's spread across patches was about 1e-7)."""
    keras.utils.set_random_seed(0)
    model = build_autoencoder()
    rms = _activations(model, texture_patches)
    first = rms[0][1]
    for name, value in rms[:-1]:  # the last is the sigmoid output, around 0.5
        assert first / 4 < value < first * 4, (name, value, first)
    out = model(texture_patches).numpy()
    assert out.std(axis=0).mean() > 1e-3
    vae = build_vae()
    z_mean, _ = vae.encoder(texture_patches)
    assert np.asarray(z_mean).std(axis=0).mean() > 0.05  # the posterior means differ too
    x_mean, _ = vae.decoder(z_mean)
    assert np.asarray(x_mean).std(axis=0).mean() > 1e-3


@pytest.fixture(scope="module")
def brick_split():
    """Real photographed texture (scikit-image's brick): 64 random 128-px crops to train on
    and 32 other crops to test on. Like the datasets' validation images, the held-back crops
    come from the same photo and may overlap training crops in part."""
    from skimage.data import brick
    img = brick().astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 512 - 128, 96), rng.integers(0, 512 - 128, 96)
    crops = np.stack([img[y:y + 128, x:x + 128] for y, x in zip(ys, xs)])[..., None]
    return crops[:64], crops[64:]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["l2_ae", "ssim_ae", "vae"])
def test_brief_training_learns_more_than_a_constant(kind, brick_split):
    """320 steps on a real texture, then on held-back crops: the loss is well below the
    best constant patch's, the reconstructions are not flat and follow the input. (A model
    that collapses to a flat output passes a test that only asks for a falling loss.)"""
    from evaluation.trainedness import trainedness
    from models.vae import KLWarmUp
    from training import compile_for
    train, held = brick_split
    keras.utils.set_random_seed(0)
    model = build_vae(latent_dim=32) if kind == "vae" else build_autoencoder(latent_dim=32)
    compile_for(model, kind, {"learning_rate": 1e-3, "weight_decay": 1e-5, "ssim_loss": "tf"})
    ds = tf.data.Dataset.from_tensor_slices(train).shuffle(64, seed=0).batch(16).repeat()
    if kind != "vae":
        ds = ds.map(lambda x: (x, x))
    model.fit(ds, epochs=4, steps_per_epoch=80, verbose=0, shuffle=False,
              callbacks=[KLWarmUp(2)] if kind == "vae" else [])
    fit = trainedness(model, kind, held)
    if kind == "vae":
        assert fit["nll_gain"] > 0.05 and fit["active_units"] > 0, fit
    else:
        assert fit["loss_ratio"] < 0.7, fit
    assert fit["spread_ratio"] > 0.3 and fit["correlation"] > 0.3, fit
    assert fit["trained"], fit
