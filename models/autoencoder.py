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
"""
import keras
from keras import layers

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


def _layer(name, kernel, stride, filters):
    """One Table-1 layer: a stride-2 layer in the decoder is a transposed convolution."""
    conv = layers.Conv2DTranspose if name.startswith("convT") else layers.Conv2D
    return conv(filters, kernel, strides=stride, padding="same", name=name)


def encoder_body(patch_size=128, name="encoder"):
    """Input patch -> the 8 x 8 x 32 feature map that the latent convolution reads."""
    if patch_size not in (128, 256):
        raise ValueError(f"patch_size must be 128 or 256, not {patch_size}")
    inputs = keras.Input((patch_size, patch_size, 1), name="patch")
    specs = ([EXTRA_256["encoder"]] if patch_size == 256 else []) + ENCODER
    x = inputs
    for spec in specs:
        x = layers.LeakyReLU(0.2, name=f"{spec[0]}_lrelu")(_layer(*spec)(x))
    return inputs, x


def decoder_body(latent_dim=100, patch_size=128):
    """Latent 1 x 1 x d -> the last hidden feature map before the output layer."""
    z = keras.Input((1, 1, latent_dim), name="z")
    x = layers.Conv2DTranspose(32, 8, padding="valid", name="convT1")(z)
    x = layers.LeakyReLU(0.2, name="convT1_lrelu")(x)
    specs = DECODER + ([EXTRA_256["decoder"]] if patch_size == 256 else [])
    for spec in specs:
        x = layers.LeakyReLU(0.2, name=f"{spec[0]}_lrelu")(_layer(*spec)(x))
    return z, x


def output_layer(name="convT5", activation="sigmoid"):
    """The last transposed convolution back to one channel, computed in float32."""
    return layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation=activation,
                                  name=name, dtype="float32")


def build_autoencoder(latent_dim=100, patch_size=128):
    """The Table-1 autoencoder; ``model.encoder`` and ``model.decoder`` are its halves."""
    inputs, h = encoder_body(patch_size)
    z = layers.Conv2D(latent_dim, 8, padding="valid", name="conv9_latent", dtype="float32")(h)
    encoder = keras.Model(inputs, z, name="encoder")

    z_in, h = decoder_body(latent_dim, patch_size)
    decoder = keras.Model(z_in, output_layer()(h), name="decoder")

    x = keras.Input((patch_size, patch_size, 1), name="patch")
    model = keras.Model(x, decoder(encoder(x)), name=f"autoencoder_d{latent_dim}")
    model.encoder, model.decoder = encoder, decoder
    return model
