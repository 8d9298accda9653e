"""Synthetic analogs of the paper's datasets, generated from a seed in seconds.

The paper (Section 4) evaluates on two woven fabric textures and on NanoTWICE, SEM images of
nanofibrous material; neither can be downloaded here. These generators draw images of the
same kind, with pixel-accurate defect masks:

* ``fabric1`` -- plain weave (each thread passes over one crossing thread, then under one);
* ``fabric2`` -- 2/2 twill (over two, under two, shifted by one each row: diagonal ribs);
* ``nanofibres_v3`` -- a tangle of thin bright curved fibres on a dark background, in three
  depth layers (deeper fibres dimmer and more blurred), as a scanning electron microscope
  shows them.

Every image differs (random phase, yarn jitter, waviness, illumination, sensor noise), as
real photographs of one material do. Most defects are *structural*: their grey values have
the mean and spread of the surroundings and only the pattern changes, the case where the
paper finds per-pixel (l2) residuals fail and SSIM succeeds. One type per dataset changes
*intensity* only (``stain``, ``dust``), the case both should detect.

Full scale: 512x512 images, 40 train, 8 validation (defect-free, held out for thresholds),
test = 8 defect-free + 4 per defect type. ``small=True``: 256x256, 6 train, 2 validation,
2 defect-free + 1 per type, for tests and smoke runs.
"""
from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from . import defects as D
from .cache import cached
from .dataset import TextureDataset

VERSION = 3  # bump whenever a generator changes: old cache files then miss
SPECS = ("fabric1", "fabric2", "nanofibres_v3")  # nanofibres_v3: the old ``nanofibres``,
# kept so that results trained on it stay reproducible (the new one: textures/nanofibres.py)
FABRIC_TYPES = ("missing_thread", "shifted_weave", "foreign_weave", "knot", "rotated_weave",
                "stain")
FIBRE_TYPES = ("compressed", "reoriented", "dust")
INTENSITY_TYPES = ("stain", "dust")


def load(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    """The dataset ``spec`` (one of SPECS) for ``seed``, from the cache when present."""
    return cached(spec, seed, small, VERSION, lambda: generate(spec, seed, small))


def generate(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    """Draw the whole dataset: every image has its own random stream, derived from the seed."""
    if spec not in SPECS:
        raise ValueError(spec)
    size, n_train, n_val, n_good, per_type = (256, 6, 2, 2, 1) if small else (512, 40, 8, 8, 4)
    kinds = FIBRE_TYPES if spec == "nanofibres_v3" else FABRIC_TYPES
    plan = ["good"] * (n_train + n_val + n_good) + [k for k in kinds for _ in range(per_type)]
    stream = "nanofibres" if spec == "nanofibres_v3" else spec  # v3 keeps its old streams
    streams = np.random.SeedSequence([seed, zlib.crc32(stream.encode()), int(small)])
    shape = (size, size)
    make = _fibres if spec == "nanofibres_v3" else _fabric
    images, masks = [], []
    for kind, ss in zip(plan, streams.spawn(len(plan))):
        img, mask = make(spec, np.random.default_rng(ss), shape, kind)
        images.append(img)
        masks.append(mask)
    images, masks = np.stack(images), np.stack(masks)
    test_types = plan[n_train + n_val:]
    counts: dict[str, int] = {}
    names = []
    for t in test_types:
        names.append(f"{t}_{counts.get(t, 0):03d}")
        counts[t] = counts.get(t, 0) + 1
    k = n_train + n_val
    return TextureDataset(
        spec=spec, train=images[:n_train], val=images[n_train:k], test=images[k:],
        masks=masks[k:], has_mask=np.ones(len(test_types), bool),
        labels=np.array([t != "good" for t in test_types], dtype=np.int64),
        defect_types=test_types, test_names=names,
        structural_types=[t for t in kinds if t not in INTENSITY_TYPES],
        source=f"synthetic generator textures/synthetic.py v{VERSION}, seed {seed}")


def _log_size(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _finish(img, rng, noise):
    """Camera: slight optical blur, an illumination gradient, sensor noise; clip to [0, 1]."""
    h, w = img.shape
    img = ndi.gaussian_filter(img, 0.6)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    a = rng.uniform(0, 2 * np.pi)
    img = img * (1 + rng.uniform(0.05, 0.12) * (np.cos(a) * xx + np.sin(a) * yy))
    img = img + rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- fabrics
PERIOD = {"fabric1": 12.0, "fabric2": 10.0}  # thread spacing in px
WEAVE = {"fabric1": "plain", "fabric2": "twill"}
_N = 64  # yarn property tables, indexed by thread number mod _N


def _yarns(rng):
    """Per-thread yarn properties: width (share of the period), brightness, slubs, waviness."""
    def along():  # slow brightness variation along each thread (slubs)
        return ndi.gaussian_filter1d(rng.normal(0, 1, (_N, 1024)), 25, axis=1, mode="wrap") * 3
    return dict(
        warp_w=np.clip(rng.normal(0.80, 0.06, _N), 0.6, 0.95),
        weft_w=np.clip(rng.normal(0.80, 0.06, _N), 0.6, 0.95),
        warp_b=np.clip(rng.normal(0.70, 0.05, _N), 0.5, 0.9),
        weft_b=np.clip(rng.normal(0.66, 0.05, _N), 0.5, 0.9),
        warp_n=0.06 * along(), weft_n=0.06 * along(),
        warp_ph=rng.uniform(0, 2 * np.pi, _N), weft_ph=rng.uniform(0, 2 * np.pi, _N),
        wav_a=rng.uniform(0.6, 1.2), wav_l=rng.uniform(120, 260),
        ox=rng.uniform(0, 1000), oy=rng.uniform(0, 1000), tilt=np.deg2rad(rng.uniform(-1.5, 1.5)))


def _weave(p, X, Y, period, weave, no_warp=None, no_weft=None, index=False):
    """Render the weave at coordinates (X, Y); ``no_warp`` marks pixels whose warp is missing.

    With ``index=True`` it returns the thread numbers (i, j) of each pixel instead.
    The warp runs vertically (thread number i along x), the weft horizontally (j along y).
    At each crossing one of the two is on top: plain weave when i + j is even, 2/2 twill when
    (i + j) mod 4 < 2. A thread's cross-section is shaded like a cylinder and dips where it
    goes under the crossing thread; gaps between threads show the lower thread, darker.
    """
    c, s = np.cos(p["tilt"]), np.sin(p["tilt"])
    X, Y = c * X - s * Y + p["ox"], s * X + c * Y + p["oy"]
    i = np.floor(X / period).astype(np.int64)
    j = np.floor(Y / period).astype(np.int64)
    if index:
        return i, j
    iw, jw = i % _N, j % _N
    # waviness: each thread meanders by about a pixel along its length
    X = X + p["wav_a"] * np.sin(2 * np.pi * Y / p["wav_l"] + p["warp_ph"][iw])
    Y = Y + p["wav_a"] * np.sin(2 * np.pi * X / p["wav_l"] + p["weft_ph"][jw])
    fu, fv = X / period - i, Y / period - j

    def cyl(f, width):  # cylinder shading across a thread, 0 in the gaps
        return np.sqrt(np.clip(1 - ((f - 0.5) / (width / 2)) ** 2, 0, 1))

    warp = cyl(fu, p["warp_w"][iw]) * (p["warp_b"][iw] + p["warp_n"][iw, Y.astype(np.int64) % 1024])
    weft = cyl(fv, p["weft_w"][jw]) * (p["weft_b"][jw] + p["weft_n"][jw, X.astype(np.int64) % 1024])
    if weave == "plain":
        up = (i + j) % 2 == 0
    else:
        up = (i + j) % 4 < 2
    if no_warp is not None:  # the weft floats over where the warp is missing
        up = up & ~no_warp
        warp = np.where(no_warp, 0.0, warp)
    if no_weft is not None:
        up = up | no_weft
        weft = np.where(no_weft, 0.0, weft)
    dip_w = 0.7 + 0.3 * np.sin(np.pi * np.clip(fv, 0, 1)) ** 0.5
    dip_f = 0.7 + 0.3 * np.sin(np.pi * np.clip(fu, 0, 1)) ** 0.5
    if no_warp is not None:  # a float over a missing thread stays up: no dip
        dip_f = np.where(no_warp, 1.0, dip_f)
    if no_weft is not None:
        dip_w = np.where(no_weft, 1.0, dip_w)
    top = np.where(up, warp * dip_w, weft * dip_f)
    under = np.where(up, weft, warp)
    return np.maximum(top, 0.45 * under) + 0.05


class _Cloth(NamedTuple):
    """One drawn piece of fabric: its yarns, pixel grid, weave and clean rendering."""
    p: dict  # yarn properties (_yarns)
    X: np.ndarray  # pixel coordinates, x across and y down
    Y: np.ndarray
    P: float  # thread spacing in px (PERIOD)
    weave: str  # "plain" or "twill" (WEAVE)
    clean: np.ndarray  # the defect-free rendering
    big: float  # defect scale in px: sizes are drawn up to it, stretches and strips longer

    def render(self, X, Y, weave=None, **missing):
        """The cloth's weave (or ``weave``) at coordinates (X, Y); ``missing``: _weave's."""
        return _weave(self.p, X, Y, self.P, weave or self.weave, **missing)


def _fabric(spec, rng, shape, kind):
    """One fabric image of ``spec`` and its defect mask: defect-free for ``kind`` "good",
    else with one defect of ``kind`` planted (redrawn while too faint to mask)."""
    h, w = shape
    P, weave = PERIOD[spec], WEAVE[spec]
    p = _yarns(rng)
    Y, X = np.mgrid[0:h, 0:w].astype(np.float64)
    clean = _weave(p, X, Y, P, weave)
    if kind == "good":
        return _finish(clean, rng, 0.02), np.zeros(shape, bool)
    cloth = _Cloth(p, X, Y, P, weave, clean, big=min(100, 0.3 * h))

    def attempt(rng):  # drawn again while the change is too faint to mask (defects.py)
        size = _log_size(rng, 12 if kind == "stain" else 2.5 * P, cloth.big)
        region = D.blob(rng, shape, size)
        if kind not in _FABRIC_DEFECTS:
            raise ValueError(kind)
        defective, region, close = _FABRIC_DEFECTS[kind](cloth, rng, size, region)
        return defective, D.change_mask(clean, defective, region, close=close)

    defective, mask = D.plant_with_retries(attempt, rng, kind)
    return _finish(defective, rng, 0.02), mask


# Each planter below takes the cloth, the stream, the drawn defect size and a random blob
# ``region`` of that size (drawn for every kind; missing_thread, shifted_weave and stain
# place their own, knot takes its centre), and returns (defective image, region near
# which the change is masked, closing of the mask in px): threads that coincide with the
# clean weave inside a replaced patch, or the gap a missing thread leaves, are closed over
# a period.

def _missing_thread(c, rng, size, region):
    """One or two threads absent over a stretch."""
    h = c.clean.shape[0]
    warp = rng.random() < 0.5  # a warp (vertical) or a weft (horizontal) thread
    length = rng.uniform(30, 1.5 * c.big)
    along = c.Y if warp else c.X
    c_al = rng.uniform(length / 2 + 4, h - length / 2 - 4)
    c_ac = rng.uniform(3 * c.P, h - 3 * c.P)
    idx = c.render(c.X, c.Y, index=True)[0 if warp else 1]
    k = idx[int(c_al), int(c_ac)] if warp else idx[int(c_ac), int(c_al)]
    seg = np.abs(along - c_al) < length / 2
    gone = seg & (idx >= k) & (idx < k + rng.integers(1, 3))
    defective = c.render(c.X, c.Y, **{"no_warp" if warp else "no_weft": gone})
    return defective, ndi.binary_dilation(gone, iterations=int(c.P // 2)), int(c.P)


def _shifted_weave(c, rng, size, region):
    """A strip woven half a period out of step."""
    h, w = c.clean.shape
    length, width = rng.uniform(40, 2 * c.big), rng.uniform(1.5, 4) * c.P
    cy, cx = rng.uniform(width + 8, h - width - 8), rng.uniform(length / 2, w - length / 2)
    region = (np.abs(c.Y - cy) < width / 2) & (np.abs(c.X - cx) < length / 2)
    shifted = c.render(c.X + c.P / 2, c.Y + c.P / 2)
    return np.where(region, shifted, c.clean), region, 5


def _foreign_weave(c, rng, size, region):
    """A patch of the other weave."""
    other = "twill" if c.weave == "plain" else "plain"
    return np.where(region, c.render(c.X, c.Y, other), c.clean), region, int(c.P)


def _rotated_weave(c, rng, size, region):
    """A patch woven at an angle."""
    cy, cx = np.argwhere(region).mean(0)
    a = np.deg2rad(rng.choice([-1, 1]) * rng.uniform(15, 45))
    Xr = cx + np.cos(a) * (c.X - cx) - np.sin(a) * (c.Y - cy)
    Yr = cy + np.sin(a) * (c.X - cx) + np.cos(a) * (c.Y - cy)
    return np.where(region, c.render(Xr, Yr), c.clean), region, int(c.P)


def _knot(c, rng, size, region):
    """Threads twisted together: a smooth swirl of the weave."""
    cy, cx = np.argwhere(region).mean(0)
    R = size / 2
    r2 = ((c.X - cx) ** 2 + (c.Y - cy) ** 2) / R ** 2
    a = rng.choice([-1, 1]) * rng.uniform(2.0, 3.5) * np.exp(-r2)
    pinch = 1 - 0.35 * np.exp(-r2)  # pulled towards the centre
    Xr = cx + pinch * (np.cos(a) * (c.X - cx) - np.sin(a) * (c.Y - cy))
    Yr = cy + pinch * (np.sin(a) * (c.X - cx) + np.cos(a) * (c.Y - cy))
    return c.render(Xr, Yr), r2 < 2.0, 5


def _stain(c, rng, size, region):
    """An intensity defect (defects.stain): its own blob, the texture kept."""
    defective, region = D.stain(c.clean, rng, size)
    return defective, region, 5


_FABRIC_DEFECTS = {"missing_thread": _missing_thread, "shifted_weave": _shifted_weave,
                   "foreign_weave": _foreign_weave, "rotated_weave": _rotated_weave,
                   "knot": _knot, "stain": _stain}


# ----------------------------------------------------------------------------- fibres
_LAYERS = ((0.40, 2.0, 0.45), (0.35, 1.4, 0.7), (0.25, 1.0, 1.0))  # share, blur, brightness


def _fibre_layer(rng, shape, n, sigma, bright, orient=None, curl=0.012):
    """Splat ``n`` smooth random curves (anti-aliased, bilinear) and blur them to width."""
    h, w = shape
    step, steps = 0.7, 900
    lengths = rng.uniform(120, 600, n)
    if orient is None:
        theta0 = rng.uniform(0, 2 * np.pi, n)
    else:
        theta0 = orient + rng.normal(0, 0.08, n)
        curl = curl / 4
    turn = ndi.gaussian_filter1d(rng.normal(0, curl * 6, (n, steps)), 12, axis=1)
    theta = theta0[:, None] + np.cumsum(turn, axis=1)
    x = np.cumsum(np.cos(theta), axis=1) * step
    y = np.cumsum(np.sin(theta), axis=1) * step
    mid = steps // 2
    x = x - x[:, mid:mid + 1] + rng.uniform(-0.1 * w, 1.1 * w, n)[:, None]
    y = y - y[:, mid:mid + 1] + rng.uniform(-0.1 * h, 1.1 * h, n)[:, None]
    keep = np.abs(np.arange(steps) - mid)[None, :] * step < lengths[:, None] / 2
    wgt = (bright * rng.uniform(0.7, 1.0, n))[:, None] * np.ones_like(x)
    x, y, wgt = x[keep], y[keep], wgt[keep]
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    dens = np.zeros(h * w)
    for dx, dy, ww in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                       (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        dens += np.bincount(yi[ok] * w + xi[ok], weights=(wgt * ww)[ok], minlength=h * w)
    # a line of unit weight per step blurred by sigma peaks at 1 / (step sqrt(2 pi) sigma)
    return ndi.gaussian_filter(dens.reshape(h, w), sigma) * step * np.sqrt(2 * np.pi) * sigma


def _fibre_image(rng, shape, orient=None):
    h, w = shape
    n_total = int(260 * (h * w) / 512 ** 2 * (1.2 if h < 512 else 1.0))
    dens = sum(_fibre_layer(rng, shape, max(3, int(share * n_total)), sig, b, orient)
               for share, sig, b in _LAYERS)
    bg = 0.07 + 0.03 * ndi.gaussian_filter(rng.normal(0, 1, shape), 30) * 30
    return bg + (0.95 - bg) * (1 - np.exp(-1.6 * dens))


def _fibres(spec, rng, shape, kind):
    clean = _fibre_image(rng, shape)
    if kind == "good":
        return _finish(clean, rng, 0.03), np.zeros(shape, bool)
    h = shape[0]
    big = min(100, 0.3 * h)

    def attempt(rng):
        size = _log_size(rng, 10 if kind == "dust" else 24, big)
        region = D.blob(rng, shape, size)
        a = D.soft(region, 1.5)
        if kind == "compressed":  # the mat pressed together: fibres crowded, same grey values
            # (v2 had "flattened": a blurred film stretched to the same mean and spread; a
            # patch kNN detector scored it *below* normal texture, pixel AUROC 0.16)
            squeezed = D.compress(clean, rng, np.argwhere(region).mean(0))
            defective = clean * (1 - a) + D.match_stats(squeezed, clean, region) * a
        elif kind == "reoriented":  # a patch of straight fibres all in one direction
            patch = _fibre_image(rng, shape, orient=rng.uniform(0, np.pi))
            patch = D.match_stats(patch, clean, region)
            defective = clean * (1 - a) + patch * a
        elif kind == "dust":  # bright or dark specks lying on the fibres
            defective = clean.copy()
            region = np.zeros(shape, bool)
            for _ in range(rng.integers(1, 4)):
                r = D.blob(rng, shape, _log_size(rng, 6, max(8, size / 2)))
                region |= r
                val = rng.uniform(0.9, 1.0) if rng.random() < 0.6 else rng.uniform(0.0, 0.03)
                s = D.soft(r, 1.0)
                defective = defective * (1 - s) + val * s
        else:
            raise ValueError(kind)
        return defective, D.change_mask(clean, defective, region)

    defective, mask = D.plant_with_retries(attempt, rng, kind)
    return _finish(defective, rng, 0.03), mask
