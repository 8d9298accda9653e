"""The training patches: random crops, turned and flipped (paper, Section 4).

The autoencoders are trained on 128x128 patches cut at random from the defect-free images,
augmented by rotation and flips. By default a patch gets one of the eight symmetries of the
square (a quarter turn times a flip): these are exact, pixel for pixel, and keep the
texture's orientation statistics those of the test images up to the same symmetries.

Rotation by an arbitrary angle (``any_angle=True``) is available but not used: bilinear
interpolation blurs fine weaves, and a woven fabric seen at every angle is a much harder
texture than the one the test images show. Measured on fabric2 (SSIM-AE, batch 32, Adam
1e-3): with quarter turns the loss leaves its flat-output plateau after about 150 steps
(0.94 -> 0.45 at step 224); at any angle it is still on the plateau (0.933) after 672.
An any-angle patch is read from a larger window, of side ceil(p * sqrt(2)) + 2, so that
rotating it about its centre leaves no empty corner.

One step of the pipeline makes a whole batch with vectorised ops: ``batch_size`` windows
are gathered at once from the images (held in the graph once, as a constant); for the
eight symmetries the turn and flip are folded into the gather's indices, so the patch is
copied once and never interpolated. Randomness is stateless and keyed on (seed, batch
number), so a seed gives the same infinite stream of batches on every run, in parallel.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from errors import InputError


def patch_dataset(images: np.ndarray, patch_size: int = 128, batch_size: int = 128,
                  seed: int = 0, augment: bool = True, start: int = 0,
                  any_angle: bool = False) -> tf.data.Dataset:
    """Infinite ``tf.data.Dataset`` of float32 batches (batch_size, p, p, 1) in [0, 1].

    ``start`` skips the first batches for free (the stream is keyed on the batch number),
    so a resumed training run continues the same stream where it stopped.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise InputError(f"patch_dataset needs images of shape (N, H, W), got {images.shape}")
    n, h, w = images.shape
    p = int(patch_size)
    if h < p or w < p:
        raise InputError(f"images of {h}x{w} are smaller than the {p}x{p} patch size; "
                         "use larger images or a smaller patch size")
    win = math.ceil(p * math.sqrt(2)) + 2
    any_angle = any_angle and augment and h >= win and w >= win
    if not any_angle:
        win = p
    flat = tf.constant(images.reshape(-1))
    ar = tf.range(win, dtype=tf.int64)

    def make_batch(step):
        u = tf.random.stateless_uniform([batch_size, 6], seed=tf.stack([tf.cast(seed, tf.int64), step]))
        idx = tf.minimum(tf.cast(u[:, 0] * n, tf.int64), n - 1)
        y0 = tf.minimum(tf.cast(u[:, 1] * (h - win + 1), tf.int64), h - win)
        x0 = tf.minimum(tf.cast(u[:, 2] * (w - win + 1), tf.int64), w - win)
        rows, cols = ar[None, :, None], ar[None, None, :]  # (1, win, 1), (1, 1, win)
        if augment and not any_angle:  # the eight symmetries of the square, as index maps
            flip = lambda k, a: tf.where(u[:, k, None, None] < 0.5, a, win - 1 - a)
            transpose = u[:, 3, None, None] < 0.5
            r, c = flip(4, rows + 0 * cols), flip(5, cols + 0 * rows)
            rows, cols = tf.where(transpose, c, r), tf.where(transpose, r, c)
        flat_idx = ((idx * h + y0)[:, None, None] + rows) * w + x0[:, None, None] + cols
        windows = tf.gather(flat, flat_idx)[..., None]  # (B, win, win, 1)
        if not any_angle:
            return windows
        theta = u[:, 3] * (2 * math.pi)
        cos, sin = tf.cos(theta), tf.sin(theta)
        fx = tf.where(u[:, 4] < 0.5, -1.0, 1.0)
        fy = tf.where(u[:, 5] < 0.5, -1.0, 1.0)
        # input = R(theta) diag(fx, fy) (output - c_out) + c_in  (output -> input map)
        c_in, c_out = (win - 1) / 2.0, (p - 1) / 2.0
        a0, a1 = cos * fx, -sin * fy
        b0, b1 = sin * fx, cos * fy
        a2 = c_in - (a0 + a1) * c_out
        b2 = c_in - (b0 + b1) * c_out
        zero = tf.zeros_like(a0)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=windows, transforms=transforms, output_shape=tf.constant([p, p]),
            fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
        return tf.clip_by_value(out, 0.0, 1.0)

    ds = tf.data.Dataset.counter(start=start, dtype=tf.int64)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
