"""Real texture photographs with planted defects: ``brick``, ``grass``, ``gravel``.

scikit-image ships these three 512x512 grayscale photographs (``skimage.data``), so they are
available offline. Each becomes a dataset of 192x192 crops, with train and test kept apart.
The photo is cut into four 256x256 quadrants, used like the squares of a chessboard:

* train and validation crops come only from the top-left and bottom-right quadrants;
* test crops come only from the top-right and bottom-left quadrants;

each set alternating between its two quadrants. No pixel of a test image was ever seen in
training, yet both sets see the top and the bottom of the photo alike. (Version 1 took train
crops from the top half and test crops from the bottom half; grass and gravel are
photographed in perspective, their grain finer at the top than at the bottom, so train and
test saw different scales of the same texture.) Crops are taken at random offsets and
mirrored left-right at random (a mirrored photo of these textures is still a plausible
photo of them). Defects are planted into test crops, using only pixels of that same crop:

* ``foreign_patch`` (structural): a disc replaced by a rotated, mirrored and magnified piece
  from elsewhere in the crop, shifted and scaled to the mean and spread of what it replaces;
* ``compressed`` (structural): a region squeezed 2.5-3.5 fold along a random direction and
  re-normalised to its original mean and spread: the grain is crowded, the grey values are
  not. (Version 1 had ``smoothed``, a blurred region stretched back to the same spread:
  smooth windows abound in these photos, leaves in grass, stone faces in gravel, and a
  patch kNN detector scored it *below* the normal grain, pixel AUROC 0.16-0.17);
* ``swirl`` (structural): the texture twisted about a point, as by a local deformation;
* ``stain`` (intensity): a soft darker or lighter blob.

Edges are blended over a few pixels; the mask marks where the image changed (defects.py).
Sizes as for the synthetic datasets: 40 train, 8 validation, 8 defect-free + 4 per type
(``small=True``: 6, 2, 2 + 1).
"""
from __future__ import annotations

import zlib

import numpy as np
import skimage.data
from scipy import ndimage as ndi

from . import defects as D
from .cache import cached
from .dataset import TextureDataset

VERSION = 2  # bump whenever the generator changes: old cache files then miss
SPECS = ("brick", "grass", "gravel")
TYPES = ("foreign_patch", "compressed", "swirl", "stain")
STRUCTURAL = ("foreign_patch", "compressed", "swirl")
CROP = 192


def load(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    return cached(spec, seed, small, VERSION, lambda: generate(spec, seed, small))


def generate(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    if spec not in SPECS:
        raise ValueError(spec)
    photo = getattr(skimage.data, spec)().astype(np.float32) / 255.0
    h, w = photo.shape[0] // 2, photo.shape[1] // 2
    quad = {(r, c): photo[r * h:(r + 1) * h, c * w:(c + 1) * w] for r in (0, 1) for c in (0, 1)}
    train_quads = (quad[0, 0], quad[1, 1])  # one diagonal of the 2x2 chessboard ...
    test_quads = (quad[0, 1], quad[1, 0])  # ... and the other: never overlapping
    n_train, n_val, n_good, per_type = (6, 2, 2, 1) if small else (40, 8, 8, 4)
    rng = np.random.default_rng([seed, zlib.crc32(spec.encode()), int(small)])
    train = np.stack([_crop(train_quads[i % 2], rng) for i in range(n_train + n_val)])
    test_types = ["good"] * n_good + [t for t in TYPES for _ in range(per_type)]
    test, masks = [], []
    for i, t in enumerate(test_types):
        img = _crop(test_quads[i % 2], rng)
        mask = np.zeros(img.shape, bool)
        if t != "good":
            img, mask = _plant(img, rng, t)
        test.append(img)
        masks.append(mask)
    counts: dict[str, int] = {}
    names = []
    for t in test_types:
        names.append(f"{t}_{counts.get(t, 0):03d}")
        counts[t] = counts.get(t, 0) + 1
    return TextureDataset(
        spec=spec, train=train[:n_train], val=train[n_train:],
        test=np.stack(test).astype(np.float32), masks=np.stack(masks),
        has_mask=np.ones(len(test_types), bool),
        labels=np.array([t != "good" for t in test_types], dtype=np.int64),
        defect_types=test_types, test_names=names, structural_types=list(STRUCTURAL),
        source=f"skimage.data.{spec}() (train: top-left and bottom-right {h}x{w} quadrants, "
               f"test: top-right and bottom-left), defects planted by textures/real.py "
               f"v{VERSION}, seed {seed}")


def _crop(region, rng):
    h, w = region.shape
    y, x = rng.integers(0, h - CROP + 1), rng.integers(0, w - CROP + 1)
    c = region[y:y + CROP, x:x + CROP]
    return np.ascontiguousarray(c[:, ::-1] if rng.random() < 0.5 else c)


def _plant(clean, rng, kind):
    shape = clean.shape
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    for _ in range(20):
        size = float(np.exp(rng.uniform(np.log(12 if kind == "stain" else 24), np.log(90))))
        region = D.blob(rng, shape, size)
        cy, cx = np.argwhere(region).mean(0)
        a = D.soft(region, 1.5)
        if kind == "foreign_patch":
            z = rng.uniform(0.45, 0.65)  # < 1: the piece is magnified
            r = z * size * 0.75 + 2  # radius the source piece needs
            while True:  # a source centre inside the crop, away from the region
                sy, sx = rng.uniform(r, shape[0] - r, 2)
                if np.hypot(sy - cy, sx - cx) > size * 0.6:
                    break
            th = rng.uniform(0.3, 2 * np.pi - 0.3)
            fl = rng.choice([-1.0, 1.0])
            dy, dx = (yy - cy) * z, fl * (xx - cx) * z
            src = np.stack([sy + np.cos(th) * dy - np.sin(th) * dx,
                            sx + np.sin(th) * dy + np.cos(th) * dx])
            patch = D.match_stats(ndi.map_coordinates(clean, src, order=1, mode="reflect"),
                                  clean, region)
            defective = clean * (1 - a) + patch * a
        elif kind == "compressed":
            squeezed = D.match_stats(D.compress(clean, rng, (cy, cx)), clean, region)
            defective = clean * (1 - a) + squeezed * a
        elif kind == "swirl":
            R = size / 2
            r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / R ** 2
            t = rng.choice([-1, 1]) * rng.uniform(2.0, 3.0) * np.exp(-r2)
            src = np.stack([cy + np.cos(t) * (yy - cy) - np.sin(t) * (xx - cx),
                            cx + np.sin(t) * (yy - cy) + np.cos(t) * (xx - cx)])
            defective = ndi.map_coordinates(clean, src, order=1, mode="reflect")
            region = r2 < 2.0
        elif kind == "stain":
            defective = D.stain(clean, rng, size)
            region = np.abs(defective - clean) > 0.01
        else:
            raise ValueError(kind)
        defective = np.clip(defective, 0, 1).astype(np.float32)
        mask = D.change_mask(clean, defective, region, thr=0.03)
        if mask.sum() >= 30:
            return defective, mask
    raise RuntimeError(f"could not plant {kind}")
