"""``nanofibres``: SEM images of an electrospun nanofibre mat with films and dust (NanoTWICE).

The paper's headline dataset is NanoTWICE (Carrera et al., IEEE Trans. Ind. Informatics
2017): grey-scale scanning-electron-microscope (SEM) images of a nanofibrous material, five
defect-free for training and forty with anomalies "in the form of specks of dust or
flattened areas" ([MVTec AD] Section 2.1.2). It cannot be downloaded here, so this module
draws images of the same kind from a seed. The specification, with a source or a stated
reason for every number, is docs/PAPER_NOTES.md, "NanoTWICE and the nanofibres
generator"; no number was chosen from a detector's score. What the generator draws is
measured by ``python -m reproduce datasets stats`` (results/nanofibres_stats.md).

The mat. Long, gently curving fibres (persistence length ``PERSISTENCE``), each of its own
width (``WIDTH``), lie in ``LAYERS`` depth layers over a dark substrate. An SEM shows depth
by brightness, not by blur (its depth of field is large): fibres deeper in the mat send
fewer secondary electrons to the detector and look darker, and an upper fibre hides the
ones below it. A fibre is brightest at its edges, where the surface is tilted (the SEM's
edge effect). The beam spot blurs everything slightly; each scan line has its own small
offset, and shot noise lies over all (``_camera``).

The defects, planted on the clean mat before the camera, so the noise lies over them too:

* ``flattened`` (structural): fibres merged into a smooth film. A flat surface on top of
  the mat, it is darker than the fibres' bright edges and brighter than the pores: it
  takes the mat's mean grey and keeps only a faint trace of the fused fibres, so its local
  standard deviation is a fraction of the fibres'. It is never rescaled to the
  surroundings' spread: the missing contrast *is* the defect (what SSIM's contrast and
  structure terms see and a per-pixel residual hardly does).
* ``dust`` (intensity): compact particles several fibre widths across lying on the mat.
  Each is a dome on its own irregular outline, shaded as SEM shows a solid body: brighter
  than the fibres, brightest on its rim (edge effect), lit from the detector's side.

Masks mark where the image changed (``defects.change_mask``). Counts follow
textures/synthetic.py: 512 x 512 images, 40 train, 8 validation, test = 8 defect-free +
``PER_TYPE`` per kind; ``small=True``: 256 x 256, 6 train, 2 validation, 2 defect-free + 1
per kind. The pixel scale is the same at both sizes. The generator it replaced ("v3":
compressed and reoriented fibres, dark or bright specks) is ``nanofibres_v3`` in
textures/synthetic.py.
"""
from __future__ import annotations

import zlib

import numpy as np
from scipy import ndimage as ndi

from . import defects as D
from .cache import cached
from .dataset import TextureDataset

VERSION = 1  # a new version for any change: results trained on an old one stay reproducible
SPEC = "nanofibres"
KINDS = ("flattened", "dust")
STRUCTURAL = ("flattened",)
PER_TYPE = 8  # defective test images per kind at full size

# the mat (docs/PAPER_NOTES.md gives the reason for each)
WIDTH = (5.0, 0.25, 3.0, 8.0)          # fibre width, px: lognormal median, sd of log, clip
LAYERS = (0.30, 0.40, 0.50, 0.60, 0.71, 0.82)  # fibre grey per depth layer, deepest first
LENGTH_DENSITY = 0.030                 # fibre centreline per layer, px per px^2
PERSISTENCE = 1000.0                   # px: a fibre turns by ~0.5 rad across a 128 patch
SUBSTRATE = 0.10                       # grey of the deepest pores
NOISE = 0.025                          # shot noise, sd; scan lines: NOISE / 4
# the defects, in median fibre widths (WIDTH[0]) and counts per defective image
FILM_SIZE, FILMS = (8.0, 32.0), (1, 2)
DUST_SIZE, SPECKS = (3.0, 12.0), (1, 3)


def load(spec: str = SPEC, seed: int = 0, small: bool = False) -> TextureDataset:
    """The dataset for ``seed``, from the cache when present."""
    return cached(SPEC, seed, small, VERSION, lambda: generate(spec, seed, small))


def generate(spec: str = SPEC, seed: int = 0, small: bool = False) -> TextureDataset:
    """Draw the whole dataset; every image has its own random stream, derived from the seed."""
    if spec != SPEC:
        raise ValueError(spec)
    size, n_train, n_val, n_good, per_type = ((256, 6, 2, 2, 1) if small
                                               else (512, 40, 8, 8, PER_TYPE))
    plan = ["good"] * (n_train + n_val + n_good) + [k for k in KINDS for _ in range(per_type)]
    streams = np.random.SeedSequence([seed, zlib.crc32(SPEC.encode()), int(small)])
    images, masks = zip(*(draw(np.random.default_rng(ss), (size, size), kind)
                          for kind, ss in zip(plan, streams.spawn(len(plan)))))
    images, masks = np.stack(images), np.stack(masks)
    k = n_train + n_val
    test_types = plan[k:]
    names = [f"{t}_{test_types[:i].count(t):03d}" for i, t in enumerate(test_types)]
    return TextureDataset(
        spec=SPEC, train=images[:n_train], val=images[n_train:k], test=images[k:],
        masks=masks[k:], has_mask=np.ones(len(test_types), bool),
        labels=np.array([t != "good" for t in test_types], dtype=np.int64),
        defect_types=test_types, test_names=names, structural_types=list(STRUCTURAL),
        source=f"synthetic generator textures/nanofibres.py v{VERSION}, seed {seed}")


def draw(rng: np.random.Generator, shape: tuple[int, int], kind: str):
    """One image of ``kind`` ("good" or one of KINDS) and its defect mask."""
    clean = mat(rng, shape)
    if kind == "good":
        return _camera(clean, rng), np.zeros(shape, bool)
    if kind not in KINDS:
        raise ValueError(kind)
    plant = _film if kind == "flattened" else _dust

    def attempt(rng):  # drawn again if nothing fits (defects.plant_with_retries)
        defective, region = plant(rng, clean)
        return defective, D.change_mask(clean, defective, region, close=int(WIDTH[0]))

    defective, mask = D.plant_with_retries(attempt, rng, kind)
    return _camera(defective, rng), mask


# ----------------------------------------------------------------------------- the mat
def mat(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """The clean fibre mat (before the camera): layers composited deepest first."""
    pad = 2 * int(WIDTH[3])  # fibres whose centre line lies just outside still show
    h, w = shape[0] + 2 * pad, shape[1] + 2 * pad
    smooth = ndi.gaussian_filter(rng.normal(0, 1, (h, w)), 40)
    img = SUBSTRATE * (1 + 0.3 * smooth / max(smooth.std(), 1e-9))
    for grey in LAYERS:
        alpha, value = _layer(rng, (h, w), grey)
        img = img * (1 - alpha) + value * alpha
    return img[pad:-pad, pad:-pad]


def _layer(rng, shape, grey):
    """Coverage (0..1) and grey value of one layer of fibres, rendered from the distance to
    the nearest centre line: a fibre of width w covers the pixels within w / 2 of it."""
    h, w = shape
    line = np.zeros(shape, bool)
    width, bright = np.zeros(shape), np.zeros(shape)
    drawn = 0.0
    while drawn < LENGTH_DENSITY * h * w:
        ys, xs = _fibre(rng, shape)
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        ys, xs = ys[ok], xs[ok]
        line[ys, xs] = True
        width[ys, xs] = np.clip(WIDTH[0] * np.exp(rng.normal(0, WIDTH[1])), *WIDTH[2:])
        bright[ys, xs] = grey * rng.uniform(0.9, 1.0)
        drawn += ok.sum() * _STEP
    dist, (iy, ix) = ndi.distance_transform_edt(~line, return_indices=True)
    r = width[iy, ix] / 2
    alpha = np.clip(r + 0.5 - dist, 0, 1)  # anti-aliased over one pixel at the edge
    edge = np.clip(dist / np.maximum(r, 1e-6), 0, 1) ** 2
    return alpha, bright[iy, ix] * (0.85 + 0.3 * edge)


_STEP = 0.5  # px between centre-line samples


def _fibre(rng, shape):
    """Pixels of one fibre's centre line: a worm-like curve through a random point, at
    least 1.5 image sides long, bending with persistence length PERSISTENCE."""
    h, w = shape
    n = int(1.5 * max(h, w) / _STEP)
    turns = rng.normal(0, np.sqrt(2 * _STEP / PERSISTENCE), n)  # 2D worm-like chain
    theta = rng.uniform(0, 2 * np.pi) + np.cumsum(turns)
    x, y = np.cumsum(np.cos(theta)) * _STEP, np.cumsum(np.sin(theta)) * _STEP
    x, y = x - x[n // 2] + rng.uniform(0, w), y - y[n // 2] + rng.uniform(0, h)
    return np.round(y).astype(np.int64), np.round(x).astype(np.int64)


def _camera(img, rng):
    """SEM: beam-spot blur, a slight brightness gradient, scan-line offsets, shot noise."""
    h, w = img.shape
    img = ndi.gaussian_filter(img, 0.7)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    a = rng.uniform(0, 2 * np.pi)
    img = img * (1 + rng.uniform(0.03, 0.08) * (np.cos(a) * xx + np.sin(a) * yy))
    img = img + rng.normal(0, NOISE / 4, (h, 1)) + rng.normal(0, NOISE, (h, w))
    return np.clip(img, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- defects
def _sizes(rng, shape, lo_hi, count):
    """``count`` drawn diameters (px), log-uniform in ``lo_hi`` fibre widths, at most 35 %
    of the image side (the small test scale)."""
    lo, hi = (WIDTH[0] * s for s in lo_hi)
    hi = min(hi, 0.35 * min(shape))
    n = rng.integers(count[0], count[1] + 1)
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _place(rng, shape, sizes):
    """Irregular blobs of the given diameters, at least three fibre widths apart (so that
    their masks stay apart); an empty list when they do not fit."""
    taken = np.zeros(shape, bool)
    blobs = []
    for size in sizes:
        for _ in range(50):
            region = D.blob(rng, shape, size)
            if not (region & taken).any():
                blobs.append(region)
                taken |= ndi.binary_dilation(region, iterations=3 * int(WIDTH[0]))
                break
        else:
            return []
    return blobs


def _film(rng, clean):
    """Fibres merged into smooth films: the mat's mean grey (a flat surface on top of the
    mat, darker than the fibres' bright edges, brighter than the pores), a faint trace of
    the fused fibres and a gentle shading; the edge blends over about a fibre width."""
    shape = clean.shape
    out, region = clean.copy(), np.zeros(shape, bool)
    for blob in _place(rng, shape, _sizes(rng, shape, FILM_SIZE, FILMS)):
        level = clean.mean() + rng.uniform(-0.04, 0.04)
        trace = 0.05 * (ndi.gaussian_filter(clean, 1.5) - ndi.gaussian_filter(clean, 6))
        shade = ndi.gaussian_filter(rng.normal(0, 1, shape), 12)
        film = level + trace + 0.015 * shade / max(shade.std(), 1e-9)
        a = D.soft(blob, WIDTH[0] / 2)
        out = out * (1 - a) + film * a
        region |= blob
    return out, region


def _dust(rng, clean):
    """Dust particles lying on the mat, each a dome on its own outline. Secondary-electron
    yield grows with the surface's tilt (about 1 / cos), so rims are brightest; the side
    facing the detector is lighter than the far side."""
    shape = clean.shape
    out, region = clean.copy(), np.zeros(shape, bool)
    toward = rng.uniform(0, 2 * np.pi)  # direction of the detector, fixed per image
    for blob in _place(rng, shape, _sizes(rng, shape, DUST_SIZE, SPECKS)):
        inside = ndi.distance_transform_edt(blob)
        radius = inside.max()
        height = radius * np.sqrt(1 - np.clip(1 - inside / radius, 0, 1) ** 2)
        gy, gx = np.gradient(ndi.gaussian_filter(height, 1.0))
        tilt = np.sqrt(1 + gx ** 2 + gy ** 2)  # 1 / cos of the surface's tilt
        facing = -(gx * np.cos(toward) + gy * np.sin(toward)) / tilt
        rough = ndi.gaussian_filter(rng.normal(0, 1, shape), 1.5)
        grey = rng.uniform(0.55, 0.7) * tilt + 0.12 * facing + 0.02 * rough / max(rough.std(), 1e-9)
        a = D.soft(blob, 0.8)
        out = out * (1 - a) + np.clip(grey, 0, 1) * a
        region |= blob
    return out, region
