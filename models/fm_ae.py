"""The feature-matching autoencoder of Section 3.1.3: the Table-1 network trained with Eq. 3.

    L_FM(x, x_hat) = L2(x, x_hat) + lambda * ||F(x) - F(x_hat)||_2^2              (Eq. 3)

The network is the autoencoder of Table 1 (models/autoencoder.py), unchanged; F is a
frozen comparator, the first convolutional blocks of VGG19 (losses/feature_matching.py).
The hope the paper states is that "sharper, more realistic reconstructions will lead to
better residual maps compared to a standard l2-autoencoder"; its anomaly map is the same
per-pixel l2 residual, (x - x_hat)^2 (Section 3.1.3): ``residual_maps`` names it ``fm_l2``,
so that tables tell it from the l2-AE's ``l2``, and gives the SSIM residual of the same
reconstruction too (a cross row, as for the other two autoencoders).

The loss needs F, so it lives in the model: ``FeatureMatchingAE.train_step`` computes
Eq. 3, as the VAE's computes its ELBO (models/vae.py), and logs both terms: ``l2`` and
``features`` (||F(x) - F(x_hat)||^2, before lambda), ``loss`` being Eq. 3.

lambda. The paper gives no value, and the two terms have unrelated scales (the feature
term sums 32 times as many numbers as the l2 term, on VGG's 0..255 scale). Here lambda is
set on the first training batch so that both terms are equal there, for the untrained
network: lambda = L2 / ||F(x) - F(x_hat)||^2 on that batch, kept from then on. It is a
weight of the model (``feature_weight``), saved with it and restored on resumption.

The comparator is saved inside the model: a trained FM-AE loads and scores without VGG's
weights. Building one needs them (``build_fm_ae``; losses/comparator_weights.py finds them),
or a comparator given as a .keras file.
"""
import keras
import numpy as np
import tensorflow as tf
from keras import ops

from errors import InputError
from losses.comparator_weights import missing_reason, weights_file
from losses.feature_matching import comparator, feature_distance, feature_matching_loss
from losses.l2 import l2_loss
from models import autoencoder

BALANCE = -1.0  # feature_weight before the first batch: lambda not chosen yet


@keras.saving.register_keras_serializable(package="ssim_ae")
class FeatureMatchingAE(keras.Model):
    """The Table-1 autoencoder and a frozen comparator F; trains on Eq. 3."""

    def __init__(self, network, features, feature_weight=BALANCE, **kwargs):
        super().__init__(**kwargs)
        self.autoencoder, self.comparator = network, features  # x -> x_hat; F
        self.comparator.trainable = False
        self.feature_weight = keras.Variable(float(feature_weight), trainable=False, autocast=False,
                                             aggregation="mean", name="feature_weight")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.l2_tracker = keras.metrics.Mean(name="l2")
        self.features_tracker = keras.metrics.Mean(name="features")

    @property
    def metrics(self):
        return [self.loss_tracker, self.l2_tracker, self.features_tracker]

    def call(self, x, training=False):
        return self.autoencoder(x, training=training)

    def terms(self, x, training=False):
        """The batch means of Eq. 3's two terms: L2(x, x_hat) and ||F(x) - F(x_hat)||^2."""
        x = ops.cast(x, "float32")
        x_hat = ops.cast(self(x, training=training), "float32")
        return ops.mean(l2_loss(x, x_hat)), ops.mean(feature_distance(self.comparator, x, x_hat))

    def lambda_for(self, l2, features):
        """lambda: ``feature_weight``, or, while it is still BALANCE (the first batch),
        the weight that makes both terms equal; kept in ``feature_weight`` for the rest."""
        weight = tf.where(self.feature_weight < 0.0, l2 / ops.maximum(features, 1e-12),
                          self.feature_weight)
        weight = tf.stop_gradient(weight)
        self.feature_weight.assign(weight)
        return weight

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            l2, features = self.terms(x, training=True)
            loss = l2 + self.lambda_for(l2, features) * features
            # replicas' gradients are summed: divide as Keras' compiled losses do (models/vae.py)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._report(loss, l2, features)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        l2, features = self.terms(x)
        return self._report(l2 + ops.maximum(self.feature_weight, 0.0) * features, l2, features)

    def patch_loss(self, x, x_hat, batch=32):
        """Eq. 3 of each patch with this model's lambda, (N,) numpy, ``batch`` patches at
        a time (F's features of 256 patches would fill 0.5 GB): the training loss that
        evaluation/trainedness.py compares with the best constant patch's."""
        weight = max(float(self.feature_weight), 0.0)
        parts = [feature_matching_loss(self.comparator, x[i:i + batch], x_hat[i:i + batch], weight)
                 for i in range(0, len(x), batch)]
        return np.concatenate([np.asarray(part) for part in parts])

    def _report(self, loss, l2, features):
        for tracker, value in zip(self.metrics, (loss, l2, features)):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {"autoencoder": keras.saving.serialize_keras_object(self.autoencoder),
                "comparator": keras.saving.serialize_keras_object(self.comparator),
                **super().get_config()}

    @classmethod
    def from_config(cls, config):
        network = keras.saving.deserialize_keras_object(config.pop("autoencoder"))
        features = keras.saving.deserialize_keras_object(config.pop("comparator"))
        return cls(network, features, **config)


def build_fm_ae(latent_dim=100, patch_size=128):
    """The Table-1 autoencoder with the comparator that ``weights_file`` finds;
    InputError (one line) where there is none."""
    reason = missing_reason()
    if reason:
        raise InputError(f"fm_ae cannot run here: {reason}")
    model = FeatureMatchingAE(autoencoder.build_autoencoder(latent_dim, patch_size),
                              comparator(patch_size, weights_file()), name=f"fm_ae_d{latent_dim}")
    model(ops.zeros((1, patch_size, patch_size, 1)))  # build the weights now
    return model


def residual_maps(model, x, names, samples=None):
    """The maps among ``names`` of patches x (N, p, p, 1), the signature every method's map
    function shares (methods.py): ``fm_l2``, the FM-AE's own map, is the per-pixel l2
    residual (x - x_hat)^2 (Section 3.1.3); ``ssim`` and ``recon`` as for the Table-1
    autoencoders (models/autoencoder.py), from the same reconstruction."""
    same = {"fm_l2": "l2"}
    maps = autoencoder.residual_maps(model, x, [same.get(name, name) for name in names])
    return {name: maps[same.get(name, name)] for name in names}
