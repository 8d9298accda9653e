"""The convolutional autoencoder of the paper (Section 3.1, Table 1).

An encoder E of strided convolutions maps a 128 x 128 grayscale patch to a latent vector
z of size d (1 x 1 x d); a decoder D of transposed convolutions maps z back to a patch,
x_hat = D(E(x)) (Eq. 1). Both the l2-autoencoder and the SSIM-autoencoder use exactly
this network; only the training loss differs (losses/).

Table 1, layer by layer (kernel, stride, output channels; output size in the comments).
LeakyReLU with slope 0.2 follows every layer except the latent convolution (linear) and
the output layer (sigmoid: the images are in [0, 1]). The 4 x 4 and 3 x 3 layers pad by 1
("same" in Keras), the 8 x 8 ones do not ("valid"). For 256 x 256 patches one more
stride-2 layer is added on each side (first in the encoder, last before the output).

Initialisation, a choice the paper leaves open. Every kernel is drawn from N(0, gain /
fan_in) with zero biases, so that the spread of the activations stays the same from layer
to layer (He et al., 2015): gain 2 / (1 + 0.2^2) before a LeakyReLU of slope 0.2, 1 before
the linear latent layer and the output. fan_in counts the inputs that really reach one
output value. For a convolution that is k * k * c_in. For a transposed convolution of
stride s it is c_in * (k / s)^2, and for convT1, which reads a 1 x 1 latent, just c_in = d.
Keras' own initialisers take a transposed kernel's fan-in from its output channels, and
with its default Glorot-uniform kernels the signal halves at each of the 16 LeakyReLU
layers: the output then varies across input patches by about 1e-7, the gradients are as
small, and the models stay on a flat output (tests/test_models.py measures both).

The anomaly maps of both autoencoders come from one reconstruction (``residual_maps``):
the l2 residual (Section 3.1.1) and 1 - SSIM (Section 3.2), per pixel; either model is
scored with either map (the cross rows of the metrics).
"""
import math

import keras
import tensorflow as tf
from keras import layers

from losses.l2 import l2_map
from losses.ssim import ssim_map

LEAKY_SLOPE = 0.2
LEAKY_GAIN = 2.0 / (1.0 + LEAKY_SLOPE ** 2)

#            name      kernel stride filters             output at 128 px
ENCODER = [("conv1", 4, 2, 32),                          # 64 x 64 x 32
           ("conv2", 4, 2, 32),                          # 32 x 32 x 32
           ("conv3", 3, 1, 32),                          # 32 x 32 x 32
           ("conv4", 4, 2, 64),                          # 16 x 16 x 64
           ("conv5", 3, 1, 64),                          # 16 x 16 x 64
           ("conv6", 4, 2, 128),                         #  8 x  8 x 128
           ("conv7", 3, 1, 64),                          #  8 x  8 x 64
           ("conv8", 3, 1, 32)]                          #  8 x  8 x 32
#          conv9 (latent): 8 x 8 kernel, valid, linear  ->  1 x 1 x d
#          convT1:         8 x 8 kernel, valid          ->  8 x 8 x 32
DECODER = [("conv10", 3, 1, 64),                         #  8 x  8 x 64
           ("conv11", 3, 1, 128),                        #  8 x  8 x 128
           ("convT2", 4, 2, 64),                         # 16 x 16 x 64
           ("conv12", 3, 1, 64),                         # 16 x 16 x 64
           ("convT3", 4, 2, 32),                         # 32 x 32 x 32
           ("conv13", 3, 1, 32),                         # 32 x 32 x 32
           ("convT4", 4, 2, 32)]                         # 64 x 64 x 32
#          convT5 (output): 4 x 4, stride 2, sigmoid    -> 128 x 128 x 1
EXTRA_256 = {"encoder": ("conv0", 4, 2, 32), "decoder": ("convT4b", 4, 2, 32)}


def init(fan_in, gain=LEAKY_GAIN):
    """Kernels from N(0, gain / fan_in): the activations keep their variance."""
    return keras.initializers.RandomNormal(stddev=math.sqrt(gain / fan_in))


def _layer(name, kernel, stride, filters, c_in):
    """One Table-1 layer: a stride-2 layer in the decoder is a transposed convolution."""
    transposed = name.startswith("convT")
    fan_in = c_in * (kernel // stride) ** 2 if transposed else c_in * kernel * kernel
    conv = layers.Conv2DTranspose if transposed else layers.Conv2D
    return conv(filters, kernel, strides=stride, padding="same", name=name,
                kernel_initializer=init(fan_in))


def _stack(x, specs, c_in):
    """Each layer of specs followed by its LeakyReLU."""
    for spec in specs:
        x = layers.LeakyReLU(LEAKY_SLOPE, name=f"{spec[0]}_lrelu")(_layer(*spec, c_in)(x))
        c_in = spec[3]
    return x


def encoder_body(patch_size=128, name="encoder"):
    """Input patch -> the 8 x 8 x 32 feature map that the latent convolution reads."""
    if patch_size not in (128, 256):
        raise ValueError(f"patch_size must be 128 or 256, not {patch_size}")
    inputs = keras.Input((patch_size, patch_size, 1), name="patch")
    specs = ([EXTRA_256["encoder"]] if patch_size == 256 else []) + ENCODER
    return inputs, _stack(inputs, specs, c_in=1)


def latent_layer(latent_dim, name="conv9_latent"):
    """The linear 8 x 8 'valid' convolution from the 8 x 8 x 32 map to 1 x 1 x d."""
    return layers.Conv2D(latent_dim, 8, padding="valid", name=name, dtype="float32",
                         kernel_initializer=init(8 * 8 * ENCODER[-1][3], gain=1.0))


def decoder_body(latent_dim=100, patch_size=128):
    """Latent 1 x 1 x d -> the last hidden feature map before the output layer."""
    z = keras.Input((1, 1, latent_dim), name="z")
    x = layers.Conv2DTranspose(32, 8, padding="valid", name="convT1",
                               kernel_initializer=init(latent_dim))(z)  # 1 x 1 input
    x = layers.LeakyReLU(LEAKY_SLOPE, name="convT1_lrelu")(x)
    specs = DECODER + ([EXTRA_256["decoder"]] if patch_size == 256 else [])
    return z, _stack(x, specs, c_in=32)


def output_layer(name="convT5", activation="sigmoid"):
    """The last transposed convolution back to one channel, computed in float32."""
    return layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation=activation,
                                  name=name, dtype="float32",
                                  kernel_initializer=init(32 * (4 // 2) ** 2, gain=1.0))


def build_autoencoder(latent_dim=100, patch_size=128):
    """The Table-1 autoencoder; ``model.encoder`` and ``model.decoder`` are its halves."""
    inputs, h = encoder_body(patch_size)
    z = latent_layer(latent_dim)(h)
    encoder = keras.Model(inputs, z, name="encoder")

    z_in, h = decoder_body(latent_dim, patch_size)
    decoder = keras.Model(z_in, output_layer()(h), name="decoder")

    x = keras.Input((patch_size, patch_size, 1), name="patch")
    model = keras.Model(x, decoder(encoder(x)), name=f"autoencoder_d{latent_dim}")
    model.encoder, model.decoder = encoder, decoder
    return model


def residual_maps(model, x, names, samples=None):
    """The per-pixel maps among ``names`` of patches x (N, p, p, 1), from one
    reconstruction: ``l2`` (x - x_hat)^2, ``ssim`` 1 - SSIM(x, x_hat) (11 x 11 window),
    ``recon`` x_hat itself; each (N, p, p, 1) float32. ``samples``: unused (nothing is
    sampled), for the signature every method's map function shares (methods.py)."""
    x_hat = tf.cast(model(x, training=False), tf.float32)
    maps = {"l2": lambda: l2_map(x, x_hat), "ssim": lambda: 1.0 - ssim_map(x, x_hat),
            "recon": lambda: x_hat}
    return {name: maps[name]() for name in names}
