"""The variational autoencoder of Section 3.1.2, on the Table-1 backbone.

The encoder yields the mean and log-variance of a Gaussian posterior Q(z|x) with d
dimensions; z is sampled by the reparameterisation trick, z = mu + exp(log_var / 2) * eps;
the decoder yields, per pixel, the mean and log-variance of a Gaussian p(x|z), so that the
reconstruction probability scores a pixel against the spread the model expects there and
is more than an l2 residual in disguise. Training minimises the negative ELBO:

    loss = sum over the patch of -log p(x | z)  +  KL(Q(z|x) || N(0, I))

The paper compares two anomaly measures of this model, both here as functions:
- ``kl_divergence(vae, patches)``: KL(Q(z|x) || P(z)), one value per patch (Soukup and
  Pinetz, 2018); a segmentation needs one forward pass per position.
- ``reconstruction_probability(vae, patches, samples=L)``: per-pixel -log p(x | z),
  averaged over L samples z ~ Q(z|x) (An and Cho, 2015). Per pixel, like l2: the paper
  shows it shares l2's failure on structural defects.
``anomaly_maps`` gives either by its name in methods.py (``vae_kl``, ``vae_rp``).

Warm-up, against posterior collapse: training raises ``warmup`` from 0 to 1 over its first
epochs (``KLWarmUp``). It weights the KL term (KL annealing: Bowman et al., 2016; Sonderby
et al., 2016) and blends the decoder's learned log-variance with a fixed one, log 0.01,
so that early training is a scaled l2 fit of the decoder's mean, which must use z, before
the decoder may explain the patch by a wide variance instead. The model is scored by the
full ELBO (warm-up 1) whatever its value. The posterior's log-variance starts near -5.4
(raw -6 through the bound below: standard deviation about 0.07, against an encoder mean
that varies by about 0.3 across patches at initialisation), so that z carries the patch
from the first step. Without the warm-up and the narrow start, the posterior collapsed on
fabric1 in a development run (no latent unit active): the noise of a unit-variance
posterior drowns the encoder's signal, the KL term pushes the encoder to the prior before
the decoder has learned to use z, and the decoder explains every patch by a mean and
variance alone. With them, and the gradient clipping below, the VAE trains on every
default dataset (results/README.md).

The decoder's log-variance is bounded to (-6, 6) by a scaled tanh (standard deviation at
least 0.05 on a [0, 1] scale): an unbounded variance lets the likelihood grow without
limit on flat regions and makes training unstable. The posterior's log-variance is bounded
to (-10, 10) the same way: unbounded, it overflowed exp() once in a default run (the loss
became NaN in epoch 14 of a fabric1 VAE, just after the warm-up had ended).

Gradient clipping (methods.py: Adam's ``global_clipnorm`` 1e4 for the VAE). Without it the
VAE of the previous default run trained on 8 of 12 models: on fabric1 seed 1 the loss blew
up as the warm-up ended (epoch 8: -8,470 nats, epoch 10: +74,972) and the posterior
collapsed, and none of the three VAEs of nanofibres (now nanofibres_v3) learned (no active unit, R^2 about 0).
The negative ELBO sums -log p(x|z) over 16,384 pixels whose variance the decoder learns,
so a few pixels whose residual is large against a small learned variance can make one
step's gradient orders of magnitude larger than the others'. Measured at the ``cpu``
profile on validation patches only (a development run of this project, seed by seed):
unclipped, fabric1 seed 1 and nanofibres_v3 seed 0 did not train (nll gain -0.045 / -0.009
nats per pixel, no active unit); clipped at 1e4, both trained (0.528 / 0.221, 100 active
units, R^2 0.67 / 0.35), as did nanofibres_v3 seeds 1 and 2 (0.114 / 0.209, R^2 0.25 /
0.34). A learning rate of 3e-4, a 15-epoch or per-step warm-up and a clip at 1e5 each
failed on at least one of them. (A decoder with one variance for all pixels, set to the
batch optimum as in Rybkin et al., 2021, "sigma-VAE", trained all of them too, but it
turns the reconstruction probability into a scaled l2 residual: the per-pixel variance
is what the paper's measure adds.)
"""
import math

import keras
import tensorflow as tf
from keras import layers, ops

from models.autoencoder import decoder_body, encoder_body, latent_layer, output_layer

LOG_VAR_BOUND = 6.0
LATENT_LOG_VAR_BOUND = 10.0
INITIAL_LOG_VAR = -6.0
WARMUP_LOG_VAR = math.log(0.01)


@keras.saving.register_keras_serializable(package="ssim_ae")
class BoundedLogVar(layers.Layer):
    """log_var = b tanh(raw / b): a log-variance kept in (-b, b) (b = 6 by default)."""

    def __init__(self, bound=LOG_VAR_BOUND, **kwargs):
        super().__init__(**kwargs)
        self.bound = float(bound)

    def call(self, raw):
        return self.bound * ops.tanh(raw / self.bound)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


@keras.saving.register_keras_serializable(package="ssim_ae")
class Sampling(layers.Layer):
    """z = mu + sigma * eps, eps ~ N(0, I): the reparameterisation trick."""

    def call(self, z_mean, z_log_var, seed=None):
        eps = keras.random.normal(ops.shape(z_mean), seed=seed)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def gaussian_nll(x, mean, log_var):
    """Per-pixel -log N(x; mean, exp(log_var)), the Gaussian log-density formula."""
    return 0.5 * (math.log(2 * math.pi) + log_var + ops.square(x - mean) / ops.exp(log_var))


def kl_to_standard_normal(z_mean, z_log_var):
    """Closed-form KL(N(mu, diag(exp(log_var))) || N(0, I)), summed over the latent axes."""
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return ops.sum(ops.reshape(kl, (ops.shape(kl)[0], -1)), axis=1)


@keras.saving.register_keras_serializable(package="ssim_ae")
class VAE(keras.Model):
    """Encoder -> (z_mean, z_log_var) -> z -> decoder -> (x_mean, x_log_var)."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.sampling = Sampling(dtype="float32")  # z in float32 also under mixed precision
        self.seed = keras.random.SeedGenerator(1337)
        self.warmup = keras.Variable(1.0, trainable=False, name="warmup")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nll_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.loss_tracker, self.nll_tracker, self.kl_tracker]

    def call(self, x):
        """The decoder's mean for a sampled z: the VAE's reconstruction of x."""
        z_mean, z_log_var = self.encoder(x)
        x_mean, _ = self.decoder(self.sampling(z_mean, z_log_var, seed=self.seed))
        return x_mean

    def negative_elbo(self, x, warmup=1.0):
        """Mean -log p(x|z) and KL over the batch; ``warmup`` < 1 blends the decoder's
        log-variance with WARMUP_LOG_VAR (training only)."""
        z_mean, z_log_var = self.encoder(x)
        x_mean, x_log_var = self.decoder(self.sampling(z_mean, z_log_var, seed=self.seed))
        x_log_var = warmup * x_log_var + (1.0 - warmup) * WARMUP_LOG_VAR
        nll = ops.sum(gaussian_nll(ops.cast(x, "float32"), x_mean, x_log_var), axis=(1, 2, 3))
        kl = kl_to_standard_normal(z_mean, z_log_var)
        return ops.mean(nll), ops.mean(kl)

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            nll, kl = self.negative_elbo(x, self.warmup)
            loss = nll + kl
            # under tf.distribute each replica sees its share of the global batch and the
            # replicas' gradients are summed: divide by their number, as Keras' compiled
            # losses do, so that the step equals one device's on the whole batch
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            objective = (nll + self.warmup * kl) / replicas
            scaled = self.optimizer.scale_loss(objective)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._report(loss, nll, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        nll, kl = self.negative_elbo(x)
        return self._report(nll + kl, nll, kl)

    def _report(self, loss, nll, kl):
        self.loss_tracker.update_state(loss)
        self.nll_tracker.update_state(nll)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {"encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                **super().get_config()}

    @classmethod
    def from_config(cls, config):
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)


class KLWarmUp(keras.callbacks.Callback):
    """Raise the VAE's ``warmup`` linearly from 0 to 1 over the first ``epochs`` epochs."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.model.warmup.assign(min(1.0, epoch / self.epochs) if self.epochs else 1.0)


def build_vae(latent_dim=100, patch_size=128):
    """The Table-1 backbone with Gaussian heads on both sides of the latent space."""
    inputs, h = encoder_body(patch_size)
    z_mean = latent_layer(latent_dim, name="conv9_mean")(h)
    # the posterior starts narrow (sigma about 0.07): z carries the patch from the first step
    raw = layers.Conv2D(latent_dim, 8, name="conv9_log_var", dtype="float32",
                        kernel_initializer="zeros",
                        bias_initializer=keras.initializers.Constant(INITIAL_LOG_VAR))(h)
    z_log_var = BoundedLogVar(LATENT_LOG_VAR_BOUND, name="bounded_z_log_var", dtype="float32")(raw)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="vae_encoder")

    z, h = decoder_body(latent_dim, patch_size)
    x_mean = output_layer("convT5_mean")(h)
    raw = output_layer("convT5_log_var", activation=None)(h)
    x_log_var = BoundedLogVar(name="bounded_log_var", dtype="float32")(raw)
    decoder = keras.Model(z, [x_mean, x_log_var], name="vae_decoder")
    vae = VAE(encoder, decoder, name=f"vae_d{latent_dim}")
    vae(ops.zeros((1, patch_size, patch_size, 1)))  # build the weights now
    return vae


def kl_divergence(vae, patches):
    """KL(Q(z|x) || N(0, I)) of every patch (N, p, p, 1) -> (N,): one forward pass each."""
    z_mean, z_log_var = vae.encoder(patches, training=False)
    return kl_to_standard_normal(z_mean, z_log_var)


def reconstruction_probability(vae, patches, samples=10, seed=0):
    """Per-pixel -log p(x|z) averaged over `samples` draws z ~ Q(z|x): (N, p, p, 1).
    Draw i is z = mu + exp(log_var / 2) * eps_i, with the same standard normal eps_i
    (seed + i) for every patch.

    Returned as a negative log-likelihood, so that larger means more anomalous, like
    every other map here. Also returns the mean reconstruction (the decoder's mean
    averaged over the same draws) for the figures.
    """
    x = ops.cast(patches, "float32")
    z_mean, z_log_var = vae.encoder(x, training=False)
    nll, recon = 0.0, 0.0
    for i in range(samples):
        # one draw per sample, shared by every patch: a patch's map does not depend on
        # where it sits in its batch
        eps = keras.random.normal((1, *z_mean.shape[1:]), seed=seed + i)
        x_mean, x_log_var = vae.decoder(z_mean + ops.exp(0.5 * z_log_var) * eps,
                                        training=False)
        nll = nll + gaussian_nll(x, x_mean, x_log_var)
        recon = recon + x_mean
    return nll / samples, recon / samples


def anomaly_maps(vae, x, names, samples=10):
    """The maps among ``names`` of patches x (N, p, p, 1), the signature every method's
    map function shares (methods.py): ``vae_kl`` the KL of each patch (N,); ``vae_rp`` the
    reconstruction probability and ``recon`` the mean reconstruction (N, p, p, 1), both
    from the same ``samples`` draws."""
    out = {}
    if "vae_kl" in names:
        out["vae_kl"] = kl_divergence(vae, x)
    if "vae_rp" in names or "recon" in names:
        out["vae_rp"], out["recon"] = reconstruction_probability(vae, x, samples=samples)
    return {name: out[name] for name in names}
