"""Two reference detectors that learn nothing by gradient descent: a yardstick for the AEs.

An autoencoder's pixel AUROC on a dataset means little alone: a dataset can be easy for
any method, or impossible for all. Two simple detectors bracket what is achievable:

* **kNN on patches** (the upper reference, :func:`knn_map`): the textbook non-parametric
  detector (nearest-neighbour novelty detection on local descriptors). Every 16 x 16
  window of a test image, taken at stride 4, is compared with a bank of 40,000 windows cut
  at random from the defect-free training images; its score is the Euclidean distance to
  the nearest one (or the mean over the ``k`` nearest). The descriptor is the window's
  raw grey values, so structure, contrast and brightness all count, as they do for a model
  of the texture (subtracting each window's mean instead makes it blind to stains; it
  scored within 0.003 pooled pixel AUROC on the fabrics and 0.004-0.09 lower on the other
  four built-in datasets). Descriptors are projected onto the
  bank's first 32 principal components: distances in 32 instead of 256 dimensions,
  several times faster; the 32 keep 96-99% of the windows' variance on the fabrics,
  nanofibres and brick, 88% on gravel, 73% on grass (``dims=None`` skips the projection).
  Each window's score is spread over its 16 x 16 pixels and overlaps are averaged
  (evaluation/windows.py, as the autoencoders' maps are). Where this detector separates a
  dataset's defects from its normal texture, the dataset tests something a model of the
  texture can learn; where it cannot, see the limit below.
* **Intensity z-score** (the lower reference, :func:`intensity_map`): the grey value
  smoothed over a 7 x 7 window, and its distance from the training images' mean, in units
  of the training images' spread of the same smoothed value: ``|m(x) - mu| / sigma``. It
  sees brightness only, never structure: on the paper's *structural* defects (which keep
  the mean and spread of their surroundings, textures/defects.py) it should stay near
  chance, while on stains and dust it should not.

A limit worth knowing: on a fine, irregular texture (grass, gravel) no training window is
close to any test window, and the nearest-neighbour distance then tracks how much fine
detail a window has rather than how novel it is. A region with less fine detail than the
grain (blurred, magnified, darkened) then scores *below* normal, and even a whole crop of
another of these photos, brought to the same mean and spread, scores barely above normal
(pixel AUROC 0.56-0.67). Read a low kNN AUROC there as "this detector cannot model the
texture", not only as "the defects are invisible".

Both are pure numpy/scipy, deterministic given ``seed``, and fast on a CPU (a 256 x 256
image in a fraction of a second with the distances as float32 matrix products
``|a|^2 + |b|^2 - 2 a.b``, in chunks). :func:`reference_maps` computes both for a test set.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from evaluation.windows import extract_patches, patch_values_to_maps

__all__ = ["descriptors", "sample_bank", "nn_distances", "knn_map", "intensity_map",
           "reference_maps"]

PATCH, STRIDE, BANK, DIMS, SMOOTH = 16, 4, 40_000, 32, 7


def descriptors(patches: np.ndarray) -> np.ndarray:
    """(P, p, p) windows -> (P, p*p) float32 rows: the raw grey values, row by row."""
    return np.asarray(patches, np.float32).reshape(len(patches), -1)


def sample_bank(train_images: np.ndarray, n: int = BANK, patch: int = PATCH,
                seed: int = 0) -> np.ndarray:
    """``n`` descriptors of windows at random images and offsets (fewer if fewer exist)."""
    train = np.asarray(train_images, np.float32)
    k, h, w = train.shape
    n = min(n, k * (h - patch + 1) * (w - patch + 1))
    rng = np.random.default_rng(seed)
    i = rng.integers(0, k, n)
    y = rng.integers(0, h - patch + 1, n)
    x = rng.integers(0, w - patch + 1, n)
    windows = np.lib.stride_tricks.sliding_window_view(train, (patch, patch), axis=(1, 2))
    return descriptors(windows[i, y, x])


def nn_distances(queries: np.ndarray, bank: np.ndarray, k: int = 1,
                 chunk: int = 1024) -> np.ndarray:
    """Mean Euclidean distance of each query row to its ``k`` nearest bank rows.

    Squared distances are ``|q|^2 + |b|^2 - 2 q.b``. The last two terms come from one
    float32 matrix product, ``[q, 1] @ [-2 b, |b|^2].T``, per chunk of queries (memory
    stays ``chunk x len(bank)``); ``|q|^2`` is the same for every bank row, so it is added
    after the nearest are picked; rounding below 0 is clipped."""
    q = np.asarray(queries, np.float32)
    b = np.asarray(bank, np.float32)
    k = min(int(k), len(b))
    b_sq = np.einsum("ij,ij->i", b, b)[:, None]
    rhs = np.ascontiguousarray(np.concatenate([-2 * b, b_sq], axis=1).T)
    out = np.empty(len(q), np.float32)
    for s in range(0, len(q), chunk):
        qc = q[s:s + chunk]
        d2 = np.concatenate([qc, np.ones((len(qc), 1), np.float32)], 1) @ rhs
        if k == 1:
            best = d2.min(axis=1, keepdims=True)
        else:
            best = np.partition(d2, k - 1, axis=1)[:, :k]
        best += np.einsum("ij,ij->i", qc, qc)[:, None]
        out[s:s + chunk] = np.sqrt(np.maximum(best, 0)).mean(axis=1)
    return out


def knn_map(train_images: np.ndarray, images: np.ndarray, seed: int = 0, k: int = 1,
            patch: int = PATCH, stride: int = STRIDE, bank_size: int = BANK,
            dims: int | None = DIMS) -> np.ndarray:
    """(K, H, W) float32: per pixel, the mean over the windows covering it of the window's
    distance to its nearest training window (``dims=None``: no projection)."""
    bank = sample_bank(train_images, bank_size, patch, seed)
    center = np.zeros(bank.shape[1], np.float32)
    basis = None
    if dims is not None and dims < bank.shape[1]:
        center = bank.mean(axis=0)
        # principal axes of the bank: eigenvectors of its covariance, largest first
        _, vecs = np.linalg.eigh(np.cov(bank - center, rowvar=False).astype(np.float64))
        basis = vecs[:, ::-1][:, :dims].astype(np.float32)
        bank = (bank - center) @ basis
    images = np.asarray(images, np.float32)
    maps = np.empty(images.shape, np.float32)
    for n, img in enumerate(images):  # one image at a time keeps memory small
        windows, grid = extract_patches(img, patch, stride)
        q = descriptors(windows)
        if basis is not None:
            q = (q - center) @ basis
        maps[n] = patch_values_to_maps(nn_distances(q, bank, k), grid)
    return maps


def intensity_map(train_images: np.ndarray, images: np.ndarray,
                  size: int = SMOOTH) -> np.ndarray:
    """(K, H, W) float32: |local mean - training mean| / training spread of local means,
    the local mean taken over a ``size`` x ``size`` window (borders reflected)."""
    def local_mean(a):
        return ndi.uniform_filter(np.asarray(a, np.float32), size=(1, size, size),
                                  mode="reflect")
    ref = local_mean(train_images)
    mu, sigma = float(ref.mean()), max(float(ref.std()), 1e-6)
    return (np.abs(local_mean(images) - mu) / sigma).astype(np.float32)


def reference_maps(train_images: np.ndarray, images: np.ndarray, seed: int = 0) -> dict:
    """Both reference detectors' maps for ``images`` (K, H, W), learnt from the defect-free
    ``train_images`` (N, H, W), grey values in [0, 1]: {"knn": ..., "intensity": ...}."""
    return {"knn": knn_map(train_images, images, seed=seed),
            "intensity": intensity_map(train_images, images)}
