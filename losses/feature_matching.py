"""The feature-matching loss (Section 3.1.3, Eq. 3) and its comparator network F.

The feature-matching autoencoder (FM-AE) adds to the l2 loss of Eq. 2 a term that asks
the reconstruction to look like the input to a network trained for image classification,
after Dosovitskiy and Brox (2016):

    L_FM(x, x_hat) = L2(x, x_hat) + lambda * ||F(x) - F(x_hat)||_2^2              (Eq. 3)

The paper says only that "F can be parameterized using the first layers of a CNN
pretrained on an image classification task", and gives no value for lambda (Section
3.1.3; docs/PAPER_NOTES.md). Here:

- F, the comparator: Keras' ImageNet VGG19 (Simonyan and Zisserman, 2015) up to
  ``block2_conv2``, its first two convolutional blocks (four 3 x 3 convolutions with
  ReLU and one max-pooling: a 128 x 128 patch gives 64 x 64 x 128 features). VGG reads
  colour images in 0..255 with the ImageNet channel means subtracted ("caffe" mode of
  ``keras.applications.vgg19.preprocess_input``): the grey patch in [0, 1] is scaled to
  0..255 and replicated to the three channels first (``VGGInput``). F stays frozen.
- lambda: chosen by the model (models/fm_ae.py), so that both terms weigh the same on
  the first training batch.

VGG19's weights are not downloaded: losses/comparator_weights.py finds them (``--fm-weights
PATH``, else Keras' cache) or says why the FM-AE cannot run. The file is VGG19's weights
without its classifier, or a whole comparator saved as ``.keras``, grey patch in, features
out: another network, or the small random one the tests use.
"""
from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf
from keras import layers

from losses.l2 import l2_loss

FEATURE_LAYER = "block2_conv2"
VGG_MEAN_BGR = (103.939, 116.779, 123.68)  # ImageNet means, keras.applications.imagenet_utils


@keras.saving.register_keras_serializable(package="ssim_ae")
class VGGInput(layers.Layer):
    """A grey patch in [0, 1] (N, H, W, 1) as VGG reads an image: three equal channels in
    0..255, each less its ImageNet mean (BGR order, as VGG was trained)."""

    def call(self, x):
        grey = 255.0 * tf.cast(x, tf.float32)
        return tf.concat([grey - mean for mean in VGG_MEAN_BGR], axis=-1)


def comparator(patch_size: int, weights: Path) -> keras.Model:
    """F, frozen, in float32 whatever the global precision: grey patch -> features.
    ``weights``: VGG19's notop weights (.h5), or a whole comparator saved as .keras."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # F's features are compared by differences
    try:
        if Path(weights).suffix == ".keras":
            features = keras.saving.load_model(weights, compile=False)
        else:
            vgg = keras.applications.VGG19(include_top=False, weights=str(weights),
                                           input_shape=(patch_size, patch_size, 3))
            patch = keras.Input((patch_size, patch_size, 1), name="grey_patch")
            first = keras.Model(vgg.input, vgg.get_layer(FEATURE_LAYER).output, name="vgg19_first")
            features = keras.Model(patch, first(VGGInput(name="vgg_input")(patch)),
                                   name="comparator")
    finally:
        keras.config.set_dtype_policy(policy)
    features.trainable = False
    return features


def feature_distance(features, x, x_hat):
    """||F(x) - F(x_hat)||^2 of each patch, summed over the feature map: (N,)."""
    difference = features(x, training=False) - features(x_hat, training=False)
    return tf.reduce_sum(tf.square(tf.cast(difference, tf.float32)), axis=[1, 2, 3])


def feature_matching_loss(features, x, x_hat, weight):
    """Eq. 3 of each patch, (N,): the l2 loss plus ``weight`` (lambda) times the
    feature distance."""
    return l2_loss(x, x_hat) + weight * feature_distance(features, x, x_hat)
