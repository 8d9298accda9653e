"""Sliding-window inference geometry: cut images into patches, fold patch maps back.

The autoencoders see 128x128 patches, but test images are larger. As in the MVTec AD
paper (Bergmann et al., CVPR 2019) for these autoencoders, an image is cut into patches at
a stride of 30 px, each patch gets its own anomaly map, and every pixel's value is the
*average* over all patches that cover it. The last window of each row and column is moved
to the border (start ``length - patch``) so every pixel is covered even when the stride
does not divide ``length - patch``.

Folding is a linear map, and because the windows form a grid (every row start with every
column start) it is separable. Write the patch maps of one image as a block matrix ``B``
of ``nr x nc`` blocks, block ``(r, c)`` being the patch at row start ``r`` and column
start ``c``. With ``R`` (``nr*patch x H``) the 0/1 matrix that places patch row ``i`` of
window ``r`` on image row ``rows[r] + i`` (and ``C`` likewise for columns), the summed
overlaps are ``R.T @ B @ C`` and the number of patches covering a pixel is the outer
product of the row and column cover counts. Both placement matrices are sparse, tiny, and
cached per geometry, so a 512x512 image at stride 30 folds with two sparse products.
Sums are taken in float64, so folding the patches of an image gives the image back
exactly (``k`` equal float32 values sum exactly in float64, and divide back exactly).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import sparse

from errors import InputError

__all__ = ["Grid", "window_starts", "extract_patches", "fold", "patch_values_to_maps"]


class Grid(NamedTuple):
    """Where the patches of :func:`extract_patches` came from; :func:`fold` reads it."""

    n_images: int
    height: int
    width: int
    patch: int
    stride: int
    rows: np.ndarray  # row starts, shared by all images
    cols: np.ndarray  # column starts
    batched: bool  # True if the input was (N, H, W): fold then returns (N, H, W)

    @property
    def patches_per_image(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def n_patches(self) -> int:
        return self.n_images * self.patches_per_image


def window_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Window starts 0, s, 2s, ... plus ``length - patch`` if the steps miss the border.

    >>> window_starts(200, 128, 30)
    array([ 0, 30, 60, 72])
    """
    length, patch, stride = int(length), int(patch), int(stride)
    if patch < 1 or stride < 1:
        raise InputError(f"patch size {patch} and stride {stride} must both be >= 1")
    if length < patch:
        raise InputError(
            f"image side {length} px is smaller than the patch size {patch} px: "
            f"use images of at least {patch}x{patch} px or a smaller patch size")
    starts = np.arange(0, length - patch + 1, stride)
    if starts[-1] != length - patch:
        starts = np.append(starts, length - patch)
    return starts


def extract_patches(images: np.ndarray, patch: int, stride: int) -> tuple[np.ndarray, Grid]:
    """Cut an image (H, W) or a batch (N, H, W) into patches (P, patch, patch).

    Patches are ordered row-major within an image (all column starts of the first row
    start, then the next row start), images one after the other. The returned ``Grid``
    is what :func:`fold` needs to put per-patch maps back together.
    """
    images = np.asarray(images)
    batched = images.ndim == 3
    if images.ndim not in (2, 3):
        raise InputError(f"expected an image (H, W) or a batch (N, H, W), got shape "
                         f"{images.shape}: pass grayscale images without a channel axis")
    stack = images if batched else images[None]
    n, height, width = stack.shape
    rows = window_starts(height, patch, stride)
    cols = window_starts(width, patch, stride)
    # A view of every window position (no copy), then pick the grid's windows (one copy).
    windows = np.lib.stride_tricks.sliding_window_view(stack, (patch, patch), axis=(1, 2))
    patches = windows[:, rows[:, None], cols[None, :]]  # (N, nr, nc, patch, patch)
    grid = Grid(n, height, width, int(patch), int(stride), rows, cols, batched)
    return patches.reshape(-1, patch, patch), grid


@lru_cache(maxsize=32)
def _placement(length: int, patch: int, stride: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """For one axis: ``P.T`` with P the 0/1 (n*patch, length) placement matrix
    (entry ``(r*patch + i, starts[r] + i)``), and how many windows cover each position."""
    starts = window_starts(length, patch, stride)
    target = (starts[:, None] + np.arange(patch)).ravel()
    source = np.arange(target.size)
    place_t = sparse.csr_matrix((np.ones(target.size), (target, source)),
                                shape=(length, target.size))
    counts = np.bincount(target, minlength=length).astype(np.float64)
    counts.flags.writeable = False  # cached: shared by every caller
    return place_t, counts


def _check_grid_input(array: np.ndarray, grid: Grid, per_patch_shape: tuple, what: str):
    expected = (grid.n_patches, *per_patch_shape)
    if array.shape != expected:
        raise InputError(f"{what} have shape {array.shape} but the grid expects {expected}: "
                         f"pass the model outputs for exactly the patches of extract_patches")


def fold(patch_maps: np.ndarray, grid: Grid) -> np.ndarray:
    """Average overlapping patch maps (P, patch, patch) into maps (N, H, W) or (H, W).

    A trailing channel axis of size 1 (Keras ``channels_last`` output) is dropped.
    Returns float32 for float32 (or narrower) input, else float64. The Python loop is
    over images, never over patches or pixels: each image is two sparse products.
    """
    patch_maps = np.asarray(patch_maps)
    if patch_maps.ndim == 4 and patch_maps.shape[-1] == 1:
        patch_maps = patch_maps[..., 0]
    _check_grid_input(patch_maps, grid, (grid.patch, grid.patch), "patch maps")
    p = grid.patch
    nr, nc = len(grid.rows), len(grid.cols)
    rows_t, row_counts = _placement(grid.height, p, grid.stride)
    cols_t, col_counts = _placement(grid.width, p, grid.stride)
    inverse_counts = 1.0 / np.outer(row_counts, col_counts)
    dtype = np.result_type(patch_maps.dtype, np.float32)
    out = np.empty((grid.n_images, grid.height, grid.width), dtype=dtype)
    per_image = patch_maps.reshape(grid.n_images, nr, nc, p, p)
    for n in range(grid.n_images):
        blocks = per_image[n].transpose(0, 2, 1, 3).reshape(nr * p, nc * p)
        blocks = blocks.astype(np.float64)
        summed_rows = rows_t @ blocks  # (H, nc*p): overlap-add along rows
        summed = (cols_t @ summed_rows.T).T  # (H, W): then along columns
        out[n] = summed * inverse_counts
    return out if grid.batched else out[0]


def patch_values_to_maps(values: np.ndarray, grid: Grid) -> np.ndarray:
    """Spread one scalar per patch (e.g. the VAE's KL divergence) over the patch's pixels
    and average overlaps: the same result as folding constant patches, computed on the
    window grid directly (a pixel's value is the mean over the windows covering it)."""
    values = np.asarray(values)
    _check_grid_input(values, grid, (), "per-patch values")
    nr, nc = len(grid.rows), len(grid.cols)
    row_cover = _cover(grid.height, grid.patch, grid.stride)  # (nr, H) 0/1
    col_cover = _cover(grid.width, grid.patch, grid.stride)  # (nc, W) 0/1
    counts = np.outer(row_cover.sum(axis=0), col_cover.sum(axis=0))
    per_image = values.reshape(grid.n_images, nr, nc).astype(np.float64)
    summed = np.einsum("rh,nrc,cw->nhw", row_cover, per_image, col_cover, optimize=True)
    out = (summed / counts).astype(np.result_type(values.dtype, np.float32))
    return out if grid.batched else out[0]


@lru_cache(maxsize=32)
def _cover(length: int, patch: int, stride: int) -> np.ndarray:
    """(n_windows, length) float64: 1 where window r covers position h."""
    starts = window_starts(length, patch, stride)
    h = np.arange(length)
    cover = ((starts[:, None] <= h) & (h < starts[:, None] + patch)).astype(np.float64)
    cover.flags.writeable = False  # cached: shared by every caller
    return cover
