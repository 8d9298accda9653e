"""The training patches: random crops, rotated at any angle and flipped (paper, Section 4).

The autoencoders are trained on 128x128 patches cut at random from the defect-free images.
As in the paper, each patch is rotated by a random angle and flipped at random, so the
model learns the texture in every orientation. A patch rotated by an arbitrary angle must
not show empty corners, so it is read from a larger window, of side ceil(p * sqrt(2)) + 2:
rotating that window about its centre and keeping its central p x p leaves no corner
outside the window. If the images are smaller than this window, only quarter turns (and
flips) are used, which need no margin.

One step of the pipeline makes a whole batch with vectorised ops: ``batch_size`` windows
are gathered at once from the images (held in the graph once, as a constant), and one
projective transform per patch does the rotation, the flip and the central crop together
(bilinear interpolation). Randomness is stateless and keyed on (seed, batch number), so a
seed gives the same infinite stream of batches on every run, in parallel.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .errors import InputError


def patch_dataset(images: np.ndarray, patch_size: int = 128, batch_size: int = 128,
                  seed: int = 0, augment: bool = True, start: int = 0) -> tf.data.Dataset:
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
    any_angle = augment and h >= win and w >= win
    if not any_angle:
        win = p  # quarter turns only (or no rotation at all without augment)
    flat = tf.constant(images.reshape(-1))
    ar = tf.range(win, dtype=tf.int64)
    c_in, c_out = (win - 1) / 2.0, (p - 1) / 2.0

    def make_batch(step):
        u = tf.random.stateless_uniform([batch_size, 6], seed=tf.stack([tf.cast(seed, tf.int64), step]))
        idx = tf.minimum(tf.cast(u[:, 0] * n, tf.int64), n - 1)
        y0 = tf.minimum(tf.cast(u[:, 1] * (h - win + 1), tf.int64), h - win)
        x0 = tf.minimum(tf.cast(u[:, 2] * (w - win + 1), tf.int64), w - win)
        rows = (idx * h + y0)[:, None] + ar[None, :]  # (B, win) row numbers in the stack
        flat_idx = rows[:, :, None] * w + (x0[:, None] + ar[None, :])[:, None, :]
        windows = tf.gather(flat, flat_idx)[..., None]  # (B, win, win, 1)
        if not augment:
            return windows
        if any_angle:
            theta = u[:, 3] * (2 * math.pi)
            cos, sin = tf.cos(theta), tf.sin(theta)
        else:
            quarter = tf.floor(u[:, 3] * 4)
            cos = tf.round(tf.cos(quarter * (math.pi / 2)))
            sin = tf.round(tf.sin(quarter * (math.pi / 2)))
        fx = tf.where(u[:, 4] < 0.5, -1.0, 1.0)
        fy = tf.where(u[:, 5] < 0.5, -1.0, 1.0)
        # input = R(theta) diag(fx, fy) (output - c_out) + c_in  (output -> input map)
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
