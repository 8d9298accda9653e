"""Real texture photographs with planted defects: ``brick``, ``grass``, ``gravel``.

scikit-image ships these three 512x512 grayscale photographs (``skimage.data``), so they are
available offline. Each becomes a dataset of 128x128 crops (the models' patch size) cut
from disjoint regions of the photo, so that no validation or test pixel was seen in
training and the test set's independent units are known. The photo is read as a 4x4 grid
of 128 px cells (rows 0-3 from the top, columns 0-3 from the left):

* training: the left half's rows 0-1 (a 256x256 block) and row 3 (a 256x128 band); two of
  every three crops from the block, at random offsets;
* validation: the left half's row 2 (a 256x128 band), at random horizontal offsets;
* test: the right half's eight cells, each test image exactly one cell. A cell carries one
  defect-free image and two defective ones (the d-th defective image in test order lies in
  cell 3d mod 8: every type on three rows and both columns). Images of one cell share
  their pixels and nothing else, so the cell is the test image's ``group``, the unit the
  bootstrap resamples (evaluation/uncertainty.py): 8 independent units.

Every set spans the photo's height: grass, gravel and brick are photographed in
perspective, their grain finer at the top than at the bottom. ``boxes`` records each
crop's cell or offset as (y0, x0, y1, x1); tests/test_real_split.py proves from them that
the sets are disjoint. Why 128 px: a 192 px crop (version 2) leaves room for at most four
disjoint crops in the whole photo, so no split could have more than four independent test
units; 128 px leaves sixteen cells. Version 2 also took validation crops from the training
quadrants and let the test crops of one quadrant overlap. Crops are mirrored left-right at
random (a mirrored photo of these textures is still a plausible photo of them). Defects are
planted into test crops, using only pixels of that same crop:

* ``foreign_patch`` (structural): a disc replaced by a rotated, mirrored and magnified piece
  from elsewhere in the crop, shifted and scaled to the mean and spread of what it replaces;
* ``compressed`` (structural): a region squeezed 2.5-3.5 fold along a random direction and
  re-normalised to its original mean and spread: the grain is crowded, the grey values are
  not. (Version 1 had ``smoothed``, a blurred region stretched back to the same spread:
  smooth windows abound in these photos, leaves in grass, stone faces in gravel, and a
  patch kNN detector scored it *below* the normal grain, pixel AUROC 0.16-0.17);
* ``swirl`` (structural): the texture twisted about a point, as by a local deformation;
* ``stain`` (intensity): a soft darker or lighter blob.

Defects are 24-60 px across (stains from 12 px), log-uniform: version 2's 24-90 px on
192 px crops, scaled to the crop. Edges are blended over a few pixels; the mask marks
where the image changed (defects.py). Sizes: 90 train and 18 validation crops (as many
pixels as version 2's 40 and 8 crops of 192 px), 8 defect-free + 4 per type test crops in
8 groups (``small=True``: 6, 2, 2 + 1 in 2 groups, cells 0 and 4).
"""
from __future__ import annotations

import zlib

import numpy as np
import skimage.data
from scipy import ndimage as ndi

from . import defects as D
from .cache import cached
from .dataset import TextureDataset

VERSION = 3  # bump whenever the generator changes: old cache files then miss
SPECS = ("brick", "grass", "gravel")
TYPES = ("foreign_patch", "compressed", "swirl", "stain")
STRUCTURAL = ("foreign_patch", "compressed", "swirl")
CROP = 128  # = the cell of the 4x4 grid of a 512 px photo
MAX_DEFECT = 60  # px across
# regions of the photo as (y0, x0, y1, x1); the layout of the module docstring
TRAIN_REGIONS = ((0, 0, 256, 256), (384, 0, 512, 256))
VAL_REGION = (256, 0, 384, 256)
TEST_CELLS = tuple((y, x, y + CROP, x + CROP) for y in range(0, 512, CROP) for x in (256, 384))


def load(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    return cached(spec, seed, small, VERSION, lambda: generate(spec, seed, small))


def generate(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    if spec not in SPECS:
        raise ValueError(spec)
    photo = getattr(skimage.data, spec)().astype(np.float32) / 255.0
    if photo.shape != (512, 512):
        raise ValueError(f"skimage.data.{spec}() is {photo.shape}, the split assumes 512x512")
    n_train, n_val, n_good, per_type = (6, 2, 2, 1) if small else (90, 18, 8, 4)
    rng = np.random.default_rng([seed, zlib.crc32(spec.encode()), int(small)])
    boxes = {"train": [_place(TRAIN_REGIONS[i % 3 // 2], rng) for i in range(n_train)],
             "val": [_place(VAL_REGION, rng) for _ in range(n_val)]}
    train, val = ([_cut(photo, b, rng) for b in boxes[k]] for k in ("train", "val"))
    test_types = ["good"] * n_good + [t for t in TYPES for _ in range(per_type)]
    cells = [i * len(TEST_CELLS) // n_good for i in range(n_good)]  # one per good image
    groups = cells + [cells[3 * d % n_good] for d in range(len(test_types) - n_good)]
    boxes["test"] = [TEST_CELLS[g] for g in groups]
    test, masks = [], []
    for t, box in zip(test_types, boxes["test"]):
        img = _cut(photo, box, rng)
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
        spec=spec, train=np.stack(train), val=np.stack(val),
        test=np.stack(test).astype(np.float32), masks=np.stack(masks),
        has_mask=np.ones(len(test_types), bool),
        labels=np.array([t != "good" for t in test_types], dtype=np.int64),
        defect_types=test_types, test_names=names, structural_types=list(STRUCTURAL),
        groups=np.array(groups), boxes={k: np.array(v, np.int64) for k, v in boxes.items()},
        source=f"skimage.data.{spec}() as a 4x4 grid of 128 px cells, cut by "
               f"textures/real.py v{VERSION} into disjoint regions (train: left half, rows "
               f"0, 1 and 3; validation: left half, row 2; test: the right half's 8 cells, "
               f"one group each), defects planted, seed {seed}")


def _place(region, rng):
    """A CROP x CROP box at a random offset inside ``region``, as (y0, x0, y1, x1)."""
    y0, x0, y1, x1 = region
    y, x = rng.integers(y0, y1 - CROP + 1), rng.integers(x0, x1 - CROP + 1)
    return int(y), int(x), int(y) + CROP, int(x) + CROP


def _cut(photo, box, rng):
    """The photo's pixels in ``box``, mirrored left-right at random."""
    y0, x0, y1, x1 = box
    c = photo[y0:y1, x0:x1]
    return np.ascontiguousarray(c[:, ::-1] if rng.random() < 0.5 else c)


def _plant(clean, rng, kind):
    shape = clean.shape
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)

    def attempt(rng):
        low = 12 if kind == "stain" else 24
        size = float(np.exp(rng.uniform(np.log(low), np.log(MAX_DEFECT))))
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
            defective, region = D.stain(clean, rng, size)
        else:
            raise ValueError(kind)
        defective = np.clip(defective, 0, 1).astype(np.float32)
        return defective, D.change_mask(clean, defective, region, thr=0.03)

    return D.plant_with_retries(attempt, rng, kind)
