"""The feature-matching autoencoder (Section 3.1.3) with a small random comparator.

VGG19's weights are not on this machine and nothing is downloaded: a tiny random
convolutional net stands in for F. It reaches the model the way the weights would, as the
file that $SSIM_AE_FM_WEIGHTS names (what ``--fm-weights PATH`` sets), saved whole as
.keras. What is tested is the wiring and the arithmetic of Eq. 3, not VGG's features:
the loss against its definition recomputed in numpy, lambda = 0 giving the l2 loss, the
choice of lambda on the first batch, a loss that falls on a tiny set, the anomaly map
against (x - x_hat)^2 folded by hand, trainedness by Eq. 3, a save and load, the
comparator file in the model cache key, and the one-line messages where the weights are
missing (the method named: status 2; by default: left out).
"""
import os

import keras
import numpy as np
import pytest

from errors import InputError
from losses import comparator_weights
from losses import feature_matching as fm
from losses.l2 import l2_loss
from models.fm_ae import BALANCE, FeatureMatchingAE, build_fm_ae

D, P = 8, 128


def _patches(n, seed=0):
    """Smooth random patches in [0, 1] (a sum of a few stripes): something to learn."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:P, 0:P] / P
    waves = [np.sin(2 * np.pi * (rng.integers(1, 4) * r + rng.integers(1, 4) * c)
                    + rng.random() * 6) for _ in range(n)]
    return (0.5 + 0.4 * np.stack(waves)[..., None]).astype(np.float32)


@pytest.fixture(scope="module")
def comparator_file(tmp_path_factory):
    """A tiny random F saved whole, grey patch in, features out (64 x 64 x 4)."""
    keras.utils.set_random_seed(7)
    net = keras.Sequential([keras.Input((P, P, 1)),
                            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                            keras.layers.Conv2D(4, 3, strides=2, padding="same")], name="tiny_f")
    path = tmp_path_factory.mktemp("comparator") / "tiny_f.keras"
    net.save(path)
    return path


@pytest.fixture
def weights(comparator_file, monkeypatch):
    monkeypatch.setenv(comparator_weights.WEIGHTS_ENV, str(comparator_file))
    return comparator_file


@pytest.fixture
def model(weights):
    keras.utils.set_random_seed(0)
    return build_fm_ae(latent_dim=D, patch_size=P)


def test_build_shapes_and_frozen_comparator(model):
    x = _patches(2)
    assert model(x).shape == (2, P, P, 1)
    assert model.comparator(x).shape == (2, P // 2, P // 2, 4)
    assert not model.comparator.trainable
    trained = {id(w) for w in model.trainable_weights}
    assert trained == {id(w) for w in model.autoencoder.trainable_weights}
    assert float(model.feature_weight) == BALANCE


def test_loss_is_eq3_recomputed_by_hand(model):
    x, x_hat = _patches(3, seed=1), _patches(3, seed=2)
    f = lambda a: np.asarray(model.comparator(a), np.float64)
    weight = 0.37
    by_hand = (((x.astype(np.float64) - x_hat) ** 2).sum(axis=(1, 2, 3))
               + weight * ((f(x) - f(x_hat)) ** 2).sum(axis=(1, 2, 3)))
    got = np.asarray(fm.feature_matching_loss(model.comparator, x, x_hat, weight))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, by_hand, rtol=1e-5)


def test_lambda_zero_is_the_l2_loss(model):
    x, x_hat = _patches(2, seed=3), _patches(2, seed=4)
    eq3 = fm.feature_matching_loss(model.comparator, x, x_hat, 0.0)
    np.testing.assert_allclose(np.asarray(eq3), np.asarray(l2_loss(x, x_hat)), rtol=1e-6)


def _fit(model, x, steps, eager=True):
    """``steps`` updates on the whole of ``x``. Eagerly, except where the graph is under
    test: tracing Keras' train function costs about 8 s here."""
    model.compile(optimizer=keras.optimizers.Adam(2e-3), run_eagerly=eager, jit_compile=False)
    return model.fit(x, batch_size=len(x), epochs=steps, shuffle=False, verbose=0).history


@pytest.fixture(scope="module")
def first_step(comparator_file):
    """One training step in graph mode, as a real fit runs: the model, its two terms on
    the batch before the step, and the step's log."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(comparator_weights.WEIGHTS_ENV, str(comparator_file))
        keras.utils.set_random_seed(0)
        model = build_fm_ae(latent_dim=D, patch_size=P)
    x = _patches(4, seed=5)
    l2, features = (float(t) for t in model.terms(x))
    return model, x, l2, features, _fit(model, x, steps=1, eager=False)


def test_lambda_balances_the_terms_on_the_first_batch(first_step):
    model, _, l2, features, history = first_step
    assert float(model.feature_weight) == pytest.approx(l2 / features, rel=1e-4)
    assert history["loss"][0] == pytest.approx(2 * l2, rel=1e-4)  # the two terms equal
    assert history["l2"][0] == pytest.approx(l2, rel=1e-4)
    assert history["features"][0] == pytest.approx(features, rel=1e-4)


def test_save_and_load_keep_the_model_and_lambda(first_step, tmp_path):
    model, x = first_step[:2]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert isinstance(loaded, FeatureMatchingAE)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert float(loaded.feature_weight) == pytest.approx(float(model.feature_weight))


def test_loss_falls_on_a_tiny_set(model):
    history = _fit(model, _patches(8, seed=6), steps=8)
    lam = float(model.feature_weight)
    assert lam > 0  # chosen on the first step and kept
    eq3 = np.add(history["l2"], np.multiply(lam, history["features"]))
    np.testing.assert_allclose(history["loss"], eq3, rtol=1e-4)
    assert history["loss"][-1] < 0.9 * history["loss"][0]  # here 2965 -> 2451
    assert history["l2"][-1] < history["l2"][0] and history["features"][-1] < history["features"][0]


def test_missing_weights_say_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv(comparator_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    reason = comparator_weights.missing_reason()
    assert reason.startswith("no VGG19 weights") and "\n" not in reason
    assert "--fm-weights" in reason and comparator_weights.VGG19_NOTOP in reason
    with pytest.raises(InputError, match="^fm_ae cannot run here: no VGG19 weights"):
        build_fm_ae(latent_dim=D, patch_size=P)
    nothing = tmp_path / "nothing.h5"
    monkeypatch.setenv(comparator_weights.WEIGHTS_ENV, str(nothing))
    assert comparator_weights.missing_reason() == (
        f"its comparator {nothing} (${comparator_weights.WEIGHTS_ENV}) is not a file")


def test_keras_cache_is_found_without_the_option(tmp_path, monkeypatch):
    monkeypatch.delenv(comparator_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cached = tmp_path / "models" / comparator_weights.VGG19_NOTOP
    cached.parent.mkdir()
    cached.write_bytes(b"")  # only its presence is read here
    assert comparator_weights.weights_file() == cached
    assert comparator_weights.missing_reason() is None


def test_vgg_input_is_caffe_preprocessing_of_the_grey_patch():
    x = _patches(1, seed=9)
    rgb = np.repeat(255.0 * x, 3, axis=-1)
    expected = keras.applications.vgg19.preprocess_input(rgb.copy())  # RGB -> BGR, less the means
    np.testing.assert_allclose(np.asarray(fm.VGGInput()(x)), expected, rtol=1e-5, atol=1e-3)


def test_maps_are_the_l2_residual_folded(model):
    """anomaly_maps' fm_l2 and ssim for one 160 x 150 image: (x - x_hat)^2 and 1 - SSIM of
    every window at stride 30, averaged over the windows covering each pixel by a loop."""
    from evaluation.maps import anomaly_maps
    from evaluation.windows import window_starts
    from losses.ssim import ssim_map
    h, w, stride = 160, 150, 30
    image = _patches(1, seed=10)[0, :, :, 0]
    image = np.pad(image, ((0, h - P), (0, w - P)), mode="reflect")
    maps = anomaly_maps(model, "fm_ae", image[None], patch=P, stride=stride, batch=64)
    assert set(maps) == {"fm_l2", "ssim", "recon"}
    starts = [(r, c) for r in window_starts(h, P, stride) for c in window_starts(w, P, stride)]
    x = np.stack([image[r:r + P, c:c + P] for r, c in starts])[..., None]
    x_hat = np.asarray(model(x), np.float64)
    per_window = {"fm_l2": (x - x_hat) ** 2,
                  "ssim": 1.0 - np.asarray(ssim_map(x, x_hat.astype(np.float32)))}
    for name, values in per_window.items():
        total, count = np.zeros((h, w)), np.zeros((h, w))
        for (r, c), value in zip(starts, values[..., 0]):
            total[r:r + P, c:c + P] += value
            count[r:r + P, c:c + P] += 1
        np.testing.assert_allclose(maps[name][0], total / count, rtol=1e-4, atol=1e-6, err_msg=name)


def test_trainedness_compares_eq3_with_the_constant_patch(first_step):
    """evaluation/trainedness.py scores the FM-AE by its own loss, Eq. 3 with its lambda,
    against the best constant patch's."""
    from evaluation.trainedness import trainedness
    model, x = first_step[:2]
    row = trainedness(model, "fm_ae", x)
    lam = float(model.feature_weight)
    m = np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape)
    eq3 = lambda y: np.mean(np.asarray(fm.feature_matching_loss(model.comparator, x, y, lam)))
    assert row["loss"] == pytest.approx(eq3(np.asarray(model(x))), rel=1e-4)
    assert row["constant_loss"] == pytest.approx(eq3(m), rel=1e-4)
    assert row["loss_ratio"] == pytest.approx(row["loss"] / row["constant_loss"])


def test_methods_table_keeps_fm_ae_out_of_the_default_run(tmp_path, monkeypatch):
    from methods import MAPS, METHODS, default_methods, is_own, left_out
    assert "fm_ae" in METHODS and "fm_ae" not in default_methods()
    assert is_own("fm_ae", "fm_l2") and not is_own("fm_ae", "ssim")  # its own map, a cross row
    assert list(MAPS)[-1] == "fm_l2"  # last: the other maps keep their bootstrap draws
    monkeypatch.delenv(comparator_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert left_out(["l2_ae", "fm_ae"]) == {"fm_ae": comparator_weights.missing_reason()}


def test_fm_weights_option(tmp_path, monkeypatch, capsys, comparator_file):
    """``--fm-weights``: a missing file is bad input (one line, status 2, nothing set); a
    file is handed on by the variable losses/comparator_weights.py reads. Without it and
    without Keras' cache, naming fm_ae is bad input too, before anything is loaded."""
    from argparse import Namespace

    from reproduce.__main__ import _apply_fm_weights, main
    monkeypatch.setenv(comparator_weights.WEIGHTS_ENV, "unchanged")
    train = ["train", "--dataset", "fabric1", "--method", "fm_ae", "--out", str(tmp_path / "out")]
    missing = tmp_path / "none.h5"
    assert main(train + ["--fm-weights", str(missing)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --fm-weights {missing}: no such file; "
        "give VGG19's notop weights (.h5) or a comparator saved as .keras"]
    assert os.environ[comparator_weights.WEIGHTS_ENV] == "unchanged"
    _apply_fm_weights(Namespace(fm_weights=str(comparator_file)))
    assert comparator_weights.weights_file() == comparator_file.resolve()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cache either
    monkeypatch.delenv(comparator_weights.WEIGHTS_ENV)
    assert main(train) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: fm_ae cannot run here: {comparator_weights.missing_reason()}"]
    assert not (tmp_path / "out").exists()


def test_runs_leave_out_in_one_line_what_cannot_run(tmp_path, monkeypatch):
    """By default (no --methods) a method that cannot run here is left out with one line;
    the others run."""
    from methods import runnable
    monkeypatch.delenv(comparator_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    lines = []
    assert runnable(["l2_ae", "fm_ae", "vae"], log=lines.append) == ["l2_ae", "vae"]
    assert lines == [f"fm_ae left out: {comparator_weights.missing_reason()}"]
    with pytest.raises(InputError, match="^fm_ae cannot run here: no VGG19 weights"):
        runnable(["l2_ae", "fm_ae"], named=True)


def test_the_comparator_file_is_in_the_model_cache_key(tmp_path, monkeypatch, comparator_file):
    """Another comparator, another FM-AE: its file's content is part of the key."""
    from reproduce import profiles
    from reproduce.cache import model_key
    profile = dict(profiles.get("smoke"), precision="float32")
    monkeypatch.setenv(comparator_weights.WEIGHTS_ENV, str(comparator_file))
    key, l2_key = (model_key("fabric1", 0, m, profile) for m in ("fm_ae", "l2_ae"))
    other = tmp_path / "other.keras"
    other.write_bytes(comparator_file.read_bytes() + b"\0")
    monkeypatch.setenv(comparator_weights.WEIGHTS_ENV, str(other))
    assert model_key("fabric1", 0, "fm_ae", profile) != key
    assert model_key("fabric1", 0, "l2_ae", profile) == l2_key  # no comparator in its key
    monkeypatch.setenv(comparator_weights.WEIGHTS_ENV, str(comparator_file))
    assert model_key("fabric1", 0, "fm_ae", profile) == key


def test_vgg19_comparator_from_a_weights_file(tmp_path):
    """The production F: VGG19 (random weights here, saved to a file as the real ones are
    read) up to block2_conv2, on the grey patch replicated and preprocessed as VGG expects;
    frozen and in float32 under bf16 too."""
    keras.utils.set_random_seed(4)
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(P, P, 3))
    path = tmp_path / "vgg19_random.weights.h5"
    vgg.save_weights(path)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        features = fm.comparator(P, path)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = _patches(2, seed=12)
    rgb = keras.applications.vgg19.preprocess_input(np.repeat(255.0 * x, 3, axis=-1))
    first = keras.Model(vgg.input, vgg.get_layer(fm.FEATURE_LAYER).output)
    got = np.asarray(features(x))
    assert got.shape == (2, P // 2, P // 2, 128) and got.dtype == np.float32
    np.testing.assert_allclose(got, np.asarray(first(rgb)), rtol=1e-4, atol=1e-3)
    assert not features.trainable and not features.trainable_weights
