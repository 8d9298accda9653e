"""SSIM as training loss and as residual map: the paper's proposal (Section 3.2).

SSIM (Wang et al., 2004) compares two patches p, q by their local first and second
moments, over a Gaussian window (11 x 11, sigma 1.5) around every pixel:

    l(p, q) = (2 mu_p mu_q + C1) / (mu_p^2 + mu_q^2 + C1)                luminance
    c(p, q) = (2 sigma_p sigma_q + C2) / (sigma_p^2 + sigma_q^2 + C2)    contrast
    s(p, q) = (sigma_pq + C3) / (sigma_p sigma_q + C3)                   structure
    SSIM = l * c * s = (2 mu_p mu_q + C1)(2 sigma_pq + C2)
                       / ((mu_p^2 + mu_q^2 + C1)(sigma_p^2 + sigma_q^2 + C2))

with C1 = (0.01 L)^2, C2 = (0.03 L)^2, C3 = C2 / 2 and L = 1 the data range. Because
it looks at a neighbourhood, SSIM sees a change of structure that a per-pixel l2 misses
(Figure 2), and it forgives the small misalignments at edges that l2 punishes.

- ``ssim_loss``: the SSIM-autoencoder's training loss, 1 - SSIM of each patch, literally
  ``1 - tf.image.ssim`` with the window and constants above (the mean over the windows
  that fit inside the patch).
- ``ssim_loss_fast``: the same value computed with the separable Gaussian filters below
  (tested equal); it trains faster on a CPU (results/benchmark.md). Opt in with the
  profile key ``ssim_loss: fast``.
- ``ssim_map``: per-pixel SSIM in the input's shape, the residual map 1 - ssim_map.
  Border handling: the image is mirrored by 5 px on every side (symmetric padding,
  "d c b a | a b c d", as scipy's 'reflect' mode used by scikit-image), so every output
  pixel has a full window. Away from the border it equals scikit-image's map exactly; at
  the border both mirror the same way.
- ``ssim_components``: the l, c and s maps separately (Figure 2 of the paper).
"""
import numpy as np
import tensorflow as tf

WINDOW, SIGMA, K1, K2, MAX_VAL = 11, 1.5, 0.01, 0.03, 1.0
C1, C2 = (K1 * MAX_VAL) ** 2, (K2 * MAX_VAL) ** 2
C3 = C2 / 2


def ssim_loss(y_true, y_pred):
    """1 - SSIM of each patch (N,) by ``tf.image.ssim``; 0 for identical patches."""
    return 1.0 - tf.image.ssim(tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32),
                               max_val=MAX_VAL, filter_size=WINDOW, filter_sigma=SIGMA, k1=K1, k2=K2)


def ssim_loss_fast(y_true, y_pred):
    """``ssim_loss`` by separable filters (N,); finite gradient on flat patches too."""
    return 1.0 - tf.reduce_mean(ssim_map(y_true, y_pred, border="valid"), axis=[1, 2, 3])


def _gaussian_1d():
    r = np.arange(WINDOW) - WINDOW // 2
    g = np.exp(-(r ** 2) / (2 * SIGMA ** 2))
    return (g / g.sum()).astype(np.float32)


_G = _gaussian_1d()


def _filter_matrix(n, border):
    """(out, n) matrix A such that A @ v is the 1-D Gaussian filter of a length-n signal.

    For border="mirror" the mirrored samples are folded into A (a sample outside the
    signal takes the weight of its mirror image inside), so the output keeps length n;
    for "valid" only the out = n - 10 full windows are kept.
    """
    h = WINDOW // 2
    a = np.zeros((n, n) if border == "mirror" else (n - 2 * h, n), np.float32)
    for out in range(a.shape[0]):
        centre = out if border == "mirror" else out + h
        for k, weight in enumerate(_G):
            i = centre + k - h
            i = -i - 1 if i < 0 else (2 * n - i - 1 if i >= n else i)  # symmetric padding
            a[out, i] += weight
    return a


def _local_mean(x, border="mirror"):
    """Gaussian-weighted mean over the 11 x 11 window of (N, H, W, 1) images.

    The filter is separable, so it is two matrix products, A_H @ x @ A_W^T: on a CPU
    that is several times faster than a convolution with a one-channel 11 x 11 kernel.
    border="mirror" keeps the input's size (mirrored by 5 px); "valid" keeps only the
    windows that fit, shrinking each side by 5 px (as tf.image.ssim does).
    """
    height, width = x.shape[1], x.shape[2]
    rows = tf.constant(_filter_matrix(height, border))
    cols = tf.constant(_filter_matrix(width, border))
    out = tf.matmul(tf.matmul(rows, x[..., 0]), cols, transpose_b=True)
    return out[..., None]


def _moments(x, y, border="mirror"):
    """Local means, variances and covariance of x and y, each (N, H, W, 1)."""
    x = tf.cast(x, tf.float32)
    y = tf.cast(y, tf.float32)
    stats = _local_mean(tf.concat([x, y, x * x, y * y, x * y], axis=0), border)
    mu_x, mu_y, xx, yy, xy = tf.split(stats, 5, axis=0)
    return mu_x, mu_y, xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y


def ssim_map(x, y, border="mirror"):
    """Per-pixel SSIM of batches (N, H, W, 1) in [0, 1], returned as (N, H, W, 1).

    With border="valid" the map covers only the full windows: (N, H - 10, W - 10, 1).
    """
    mu_x, mu_y, var_x, var_y, cov = _moments(x, y, border)
    return ((2 * mu_x * mu_y + C1) * (2 * cov + C2)) / (
        (mu_x ** 2 + mu_y ** 2 + C1) * (var_x + var_y + C2))


def ssim_components(x, y):
    """Luminance, contrast and structure maps (each (N, H, W, 1)); l * c * s = ssim_map.

    The standard deviations are taken of variances clipped at 1e-12 (rounding can make
    them slightly negative), so the maps and their gradients stay finite on flat patches.
    """
    mu_x, mu_y, var_x, var_y, cov = _moments(x, y)
    sd_x = tf.sqrt(tf.maximum(var_x, 1e-12))
    sd_y = tf.sqrt(tf.maximum(var_y, 1e-12))
    luminance = (2 * mu_x * mu_y + C1) / (mu_x ** 2 + mu_y ** 2 + C1)
    contrast = (2 * sd_x * sd_y + C2) / (var_x + var_y + C2)
    structure = (cov + C3) / (sd_x * sd_y + C3)
    return luminance, contrast, structure
