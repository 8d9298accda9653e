"""The l2 loss of the l2-autoencoder (Section 3.1.1, Eq. 2) and its residual map.

    L2(x, x_hat) = sum_{r,c} (x(r, c) - x_hat(r, c))^2              (Eq. 2)

Training minimises Eq. 2 per patch (averaged over the batch); at test time the residual
map R_l2(x, x_hat) is the same per-pixel squared difference, before the sum. That every
pixel is scored on its own, independently of its neighbours, is what the paper argues
against.
"""
import tensorflow as tf


def l2_map(x, x_hat):
    """Per-pixel squared residual, same shape as the inputs (N, H, W, 1)."""
    x = tf.cast(x, tf.float32)
    x_hat = tf.cast(x_hat, tf.float32)
    return tf.square(x - x_hat)


def l2_loss(y_true, y_pred):
    """Eq. 2: the squared residual summed over each patch, one value per patch."""
    return tf.reduce_sum(l2_map(y_true, y_pred), axis=[1, 2, 3])
