"""Planting defects: region shapes, soft blending, intensity matching and exact masks.

The paper's point (Section 1) is that per-pixel residuals miss defects that change the
*structure* of a texture but not its intensity. To test that claim, the structural defects
planted here keep the mean and spread of the grey values inside the defect close to those of
the surroundings (``match_stats``), so that only the arrangement of the pixels changes; the
one *intensity* defect per dataset (``stain``) is the case a per-pixel residual does see.

A mask marks the pixels where the image actually changed (``change_mask``): differences
below a small threshold are not defects, and the mask is closed and hole-filled so that it
outlines the defect as a person would.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def blob(rng: np.random.Generator, shape: tuple[int, int], size: float,
         center: tuple[float, float] | None = None, margin: int = 8) -> np.ndarray:
    """A random irregular blob of about ``size`` px across (bool mask of ``shape``)."""
    h, w = shape
    r = size / 2
    if center is None:
        center = (rng.uniform(margin + r, h - margin - r), rng.uniform(margin + r, w - margin - r))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    ecc = rng.uniform(0.6, 1.0)
    dy, dx = yy - center[0], xx - center[1]
    u = dx * np.cos(ang) + dy * np.sin(ang)
    v = (-dx * np.sin(ang) + dy * np.cos(ang)) / ecc
    rad = np.hypot(u, v)
    # wobbly outline: radius modulated by a few random harmonics of the polar angle
    theta = np.arctan2(v, u)
    wob = 1 + sum(rng.uniform(-0.15, 0.15) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
                  for k in (2, 3, 5))
    return rad < r * wob


def soft(region: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Blending weight in [0, 1]: the region with its edge blurred over ~2 sigma px."""
    return np.clip(ndi.gaussian_filter(region.astype(np.float32), sigma) * 1.0, 0, 1)


def match_stats(src: np.ndarray, ref: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``src`` shifted and scaled so that inside ``region`` its mean and std equal ``ref``'s."""
    s, r = src[region], ref[region]
    return (src - s.mean()) / max(s.std(), 1e-6) * r.std() + r.mean()


def compress(img: np.ndarray, rng: np.random.Generator, center: tuple[float, float],
             factor: tuple[float, float] = (2.5, 3.5)) -> np.ndarray:
    """``img`` squeezed about ``center`` along a random direction by a random factor in
    ``factor`` (a region pressed together: its grain crowded into a fraction of its width).

    Every pixel's value is read ``factor`` times farther from ``center`` along the
    direction (bilinear, borders reflected), so the texture's own pixels reappear in the
    same proportions, only packed closer: a structural change, not an intensity one."""
    h, w = img.shape
    cy, cx = center
    th = rng.uniform(0, np.pi)
    f = rng.uniform(*factor)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    c, s = np.cos(th), np.sin(th)
    u = ((xx - cx) * c + (yy - cy) * s) * f  # stretched coordinate along the direction
    v = -(xx - cx) * s + (yy - cy) * c
    return ndi.map_coordinates(img, [cy + u * s + v * c, cx + u * c - v * s], order=1,
                               mode="reflect")


def change_mask(clean: np.ndarray, defective: np.ndarray, near: np.ndarray,
                thr: float = 0.03, close: int = 5) -> np.ndarray:
    """Pixels whose local (3x3-ish) change exceeds ``thr``, near the planted region,
    closed over ``close`` px and hole-filled."""
    d = ndi.gaussian_filter(np.abs(defective - clean), 1.0)
    m = (d > thr) & ndi.binary_dilation(near, iterations=3)
    m = np.pad(m, close)  # closing near the border must not eat the mask
    m = ndi.binary_closing(m, structure=np.ones((close, close)))[close:-close, close:-close]
    return ndi.binary_fill_holes(m)


def stain(img: np.ndarray, rng: np.random.Generator,
          size: float) -> tuple[np.ndarray, np.ndarray]:
    """An intensity defect: a soft darker or lighter blob (texture kept, grey values moved).
    Returns the stained image and its region, the pixels moved by more than 0.01."""
    region = blob(rng, img.shape, size)
    a = soft(region, sigma=max(2.0, size / 12))
    if rng.random() < 0.6:  # darker stain, e.g. oil
        stained = img * (1 - rng.uniform(0.35, 0.5) * a)
    else:  # lighter stain, e.g. bleach
        stained = img + (1 - img) * rng.uniform(0.35, 0.5) * a
    return stained, np.abs(stained - img) > 0.01


def plant_with_retries(attempt, rng: np.random.Generator, kind: str = "defect",
                       tries: int = 20, min_pixels: int = 30):
    """``attempt(rng) -> (defective, mask)``, called until the mask has ``min_pixels``
    pixels: a planted change can be too faint to mask (a darkening stain scales dark
    pixels, and changes them little), and is then drawn again, from the same stream.
    After ``tries`` attempts it gives up with a RuntimeError."""
    for _ in range(tries):
        defective, mask = attempt(rng)
        if mask.sum() >= min_pixels:
            return defective, mask
    raise RuntimeError(f"could not plant {kind}: every one of {tries} attempts changed "
                       f"fewer than {min_pixels} pixels")
