"""The VAE's KL warm-up (models/vae.py): the weight its ``train_step`` gives the KL term,
and the schedule its warm-up callback follows.

The contract, not the numbers of the current maths: at weight 0 the KL term contributes
no gradient (the step is the reconstruction term's gradient at warm-up 0); at weight 1 the
step is the gradient of the full negative ELBO. The gradients ``train_step`` hands to the
optimiser are caught there (nothing is applied) and compared with those of
``negative_elbo`` taken here by a GradientTape, with the same draw of z (the model's seed
generator is reset in between). A small VAE (d = 4), untrained: no fit, about a second.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from methods import METHODS, function
from models.vae import build_vae

# float32 rounding of a sum taken before or after the gradient: measured 3e-6 of a
# variable's largest gradient entry at most
TOL = 1e-5


def _caught_step(vae, x, weight):
    """The gradients train_step applies at warm-up ``weight`` (not applied)."""
    caught = []
    vae.optimizer.apply = lambda grads, variables=None: caught.append([np.asarray(g) for g in grads])
    vae.warmup.assign(weight)
    state = np.asarray(vae.seed.state).copy()
    vae.train_step(x)
    vae.seed.state.assign(state)
    (grads,) = caught
    return grads


def _terms(vae, x, weight):
    """Gradients of the reconstruction term and of the KL term of negative_elbo(x, weight),
    with the draw of z train_step made (the seed generator reset after each pass)."""
    state = np.asarray(vae.seed.state).copy()
    out = []
    for term in (0, 1):
        with tf.GradientTape() as tape:
            value = vae.negative_elbo(x, weight)[term]
        vae.seed.state.assign(state)
        out.append(_gradients(tape, value, vae))
    return out


def _gradients(tape, value, vae):
    grads = tape.gradient(value, vae.trainable_weights)  # None: not reached (KL: the decoder)
    return [np.zeros(w.shape) if g is None else np.asarray(g) for g, w in zip(grads, vae.trainable_weights)]


def _assert_same(got, expected, vae, what):
    assert len(got) == len(expected) == len(vae.trainable_weights)
    for g, e, w in zip(got, expected, vae.trainable_weights):
        scale = max(np.abs(e).max(), 1e-12)
        np.testing.assert_allclose(g, e, rtol=0, atol=TOL * scale, err_msg=f"{what}: {w.path}")


@pytest.fixture(scope="module")
def vae():
    keras.utils.set_random_seed(0)
    model = build_vae(latent_dim=4)
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    return model


def test_the_kl_weight_of_train_step(vae):
    x = tf.constant(np.random.default_rng(0).random((2, 128, 128, 1), dtype=np.float32))
    nll0, kl0 = _terms(vae, x, 0.0)
    # the KL term's gradient is far above the tolerance (at initialisation it reaches
    # 0.2 % of the reconstruction term's, on the posterior's log-variance): dropping or
    # keeping it shows
    assert max(np.abs(k).max() / max(np.abs(n).max(), 1e-12) for n, k in zip(nll0, kl0)) > 30 * TOL
    _assert_same(_caught_step(vae, x, 0.0), nll0, vae, "weight 0: the reconstruction term alone")

    nll1, kl1 = _terms(vae, x, 1.0)
    full = [n + k for n, k in zip(nll1, kl1)]
    _assert_same(_caught_step(vae, x, 1.0), full, vae, "weight 1: the full negative ELBO")
    with tf.GradientTape() as tape:  # the ELBO the model is scored by (default warm-up)
        state = np.asarray(vae.seed.state).copy()
        total = tf.add_n(list(vae.negative_elbo(x)))
    vae.seed.state.assign(state)
    _assert_same(full, _gradients(tape, total, vae), vae, "weight 1 against negative_elbo(x)")


def test_the_warm_up_rises_from_0_to_1_over_its_epochs():
    """The method's warm-up callback (methods.py ``warm_up``) on a tiny model with a
    ``warmup`` variable, read before every training step of 4 epochs x 2 steps."""
    warm_up = function(METHODS["vae"].warm_up)
    for epochs in (0, 2):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.warmup = keras.Variable(0.5, trainable=False, name="warmup")
        model.compile(optimizer="sgd", loss="mse")
        seen = []
        probe = keras.callbacks.LambdaCallback(
            on_train_batch_begin=lambda batch, logs: seen.append(float(model.warmup.numpy())))
        model.fit(np.zeros((4, 1)), np.zeros((4, 1)), batch_size=2, epochs=4, verbose=0,
                  callbacks=[warm_up(epochs), probe])
        assert len(seen) == 8 and np.all(np.diff(seen) >= 0), seen
        if epochs == 0:
            assert seen == [1.0] * 8  # no warm-up: the full ELBO from the first step
        else:
            assert seen[0] == 0.0 and seen[4:] == [1.0] * 4, seen  # 1 from epoch `epochs` on
            assert any(0 < w < 1 for w in seen[:4]), seen  # and rising in between
