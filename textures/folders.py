"""Datasets on disk: the MVTec AD layout and the paper's own releases; and ``export``.

Layouts read (``PATH`` is the folder given in the spec; textures/layouts.py finds the files):

* ``folder:PATH`` / ``mvtec:PATH`` -- MVTec AD: ``train/good/*``, ``test/<type>/*``,
  ``ground_truth/<type>/<stem>_mask.png``. ``test/good`` holds defect-free test images; a
  defect type without a ``ground_truth/<type>`` folder counts for image-level metrics only
  (``has_mask`` False).
* ``nanotwice:PATH`` -- NanoTWICE (paper, Section 4): ``Normal/*`` defect-free images,
  ``Anomalous/images/*`` defective ones with masks in ``Anomalous/gt/*``.
* ``visapp:PATH`` -- the paper's woven-fabric release: ``train/`` (or ``train/good``),
  ``test/`` (files, or one folder per type), masks in ``ground_truth/defective/``.

Image size. ``mvtec:PATH`` follows the protocol of [MVTec AD] (Bergmann et al., CVPR 2019;
docs/PAPER_NOTES.md, "MVTec AD at the published protocol"): every image is zoomed to
``MVTEC_IMAGE_SIZE`` (512) x 512 before anything else, as that paper did for its texture
categories. ``folder:``, ``nanotwice:`` and ``visapp:`` keep the files' own size. A size
suffix ``@N`` on the spec (``mvtec:PATH@256``; what ``--image-size N`` writes) makes it N x N
for any of them. Images shrink by area averaging (PIL's BOX filter: 1024 -> 512 is the
mean of each 2 x 2 block) and grow bilinearly; masks are resized nearest-neighbour, so
they stay binary, after they are checked against their image at the files' size. Every
later step (training patches, maps, metrics) sees only the resized images and masks.

Masks are matched to images by stem: ``<stem>_mask``, ``<stem>``, ``<stem>_gt`` or
``<stem>_label`` (the first found). Images are read as grayscale float32 in [0, 1] (8-bit
/ 255, 16-bit / 65535); colour, palette, alpha and 16-bit input is converted with a
one-line note on stderr, once per kind. A constant image is an error (nothing to learn or
test). Part of the defect-free training images (10 %, at least one) is held out as the
validation split, chosen by the seed, unless a ``split.json`` beside ``train/`` names it
(``export`` writes one, so that an exported dataset reads back exactly as it was). Every
bad input raises ``InputError`` naming the file.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from errors import InputError

from .dataset import TextureDataset
from .layouts import EXTS, READERS, TestImage, image_files

MIN_SIZE = 128  # the paper's patch size: smaller images cannot be processed
# [MVTec AD] 4.1.1 and 4.1.3 zoom the texture images to 512 x 512 (docs/PAPER_NOTES.md)
MVTEC_IMAGE_SIZE = 512
DEFAULT_SIZE = {"mvtec": MVTEC_IMAGE_SIZE}  # other layouts: the files' own size
SMALL_CAP = 4  # small=True: first few files of each split / test type

_noted: set[str] = set()


def _note(kind: str, msg: str) -> None:
    """One line ``note: ...`` on stderr, said once per kind of conversion per process."""
    if kind not in _noted:
        _noted.add(kind)
        print(f"note: {msg}", file=sys.stderr)


def read_image(path: Path, mask: bool = False) -> np.ndarray:
    """One image file as float32 (H, W) in [0, 1]; ``mask=True`` returns bool instead.

    Converted, with one note per kind: colour (to luminance, ITU-R 601 as PIL's "L"),
    palette (through its palette), alpha (dropped), 16-bit (scaled by 1/65535).
    """
    path = Path(path)
    a, mode = _decode(path)
    scale = _full_scale(a, path)  # from the decoded type, before the grey conversion
    img = np.asarray(_grey(a, mode, path), np.float32) / np.float32(scale)
    if not np.isfinite(img).all():
        raise InputError(f"{path}: image contains NaN or infinite values; replace or remove it")
    if mask:
        vals = np.unique(img)
        if len(vals) > 2 or (len(vals) == 2 and vals[0] != 0):
            raise InputError(f"{path}: mask is not binary (found {len(vals)} grey levels, "
                             f"expected 0 and one other value); save it as 0/255")
        return img > 0
    if img.min() < 0 or img.max() > 1:
        raise InputError(f"{path}: values {img.min():.4g}..{img.max():.4g} are outside [0, 1] "
                         "(float images must be in [0, 1], integer ones at most 16-bit); "
                         "rescale it")
    if img.shape[0] < MIN_SIZE or img.shape[1] < MIN_SIZE:
        raise InputError(f"{path}: image is {img.shape[0]}x{img.shape[1]}, smaller than the "
                         f"{MIN_SIZE}x{MIN_SIZE} patch size; use larger images")
    if img.max() - img.min() < 1e-6:
        raise InputError(f"{path}: image is constant (every pixel {img.flat[0]:.4g}), so it has "
                         "no texture to learn or test; replace or remove it")
    return img


def _decode(path: Path) -> tuple[np.ndarray, str]:
    """The file's pixels as PIL decodes them, and the file's own mode: palette images come
    through their palette (as RGB, or RGBA where they have transparency), CMYK, YCbCr, LAB
    and HSV as RGB; every other mode as it is."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes); replace or remove it")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode == "P" or mode == "PA":
                _note("palette", f"palette images (e.g. {path}) are converted through their "
                                 "palette to grayscale")
                im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            return np.asarray(im), mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as e:
        raise InputError(f"{path}: not a readable image ({e}); replace or remove it") from None


def _full_scale(a: np.ndarray, path: Path) -> float:
    """The value that stands for white in ``a``'s type, by which it is divided."""
    if a.dtype == bool:  # bilevel ("1")
        return 1.0
    if a.dtype == np.uint8:
        return 255.0
    if a.dtype.kind in "ui":  # PIL reads 16-bit PNG/TIFF as I;16 (uint16) or I (int32)
        _note("16bit", f"16-bit images (e.g. {path}) are scaled to [0, 1] by 1/65535")
        return 65535.0
    return 1.0  # float images (TIFF "F") must already be in [0, 1]


def _grey(a: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """One channel of the decoded pixels ``a`` (``mode``: the file's own): colour becomes
    its luminance, grey with alpha its grey channel; an alpha channel is dropped."""
    if a.ndim != 3:
        return a
    if a.shape[2] in (2, 4):
        _note("alpha", f"images with an alpha channel (e.g. {path}): transparency is ignored")
    if a.shape[2] < 3:  # LA: the grey channel
        return a[..., 0]
    # colour: luminance (ITU-R 601, as PIL's "L", unrounded)
    if mode not in ("P", "PA"):
        _note("colour", f"colour images (e.g. {path}) are converted to grayscale")
    return a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """A float32 (H, W) image in [0, 1] as ``size`` x ``size``: area averaging (BOX) where
    it shrinks, bilinear where it grows; unchanged where it already has that size."""
    if img.shape == (size, size):
        return img
    shrink = size <= min(img.shape)
    out = Image.fromarray(np.ascontiguousarray(img, np.float32)).resize(
        (size, size), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, np.float32), 0.0, 1.0)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A boolean (H, W) mask as ``size`` x ``size``, nearest-neighbour (it stays binary)."""
    if mask.shape == (size, size):
        return mask
    out = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size),
                                                              Image.Resampling.NEAREST)
    return np.asarray(out) > 0


def load(kind: str, path: str, seed: int = 0, small: bool = False,
         size: int | None = None) -> TextureDataset:
    """Read the dataset at ``path`` in the layout ``kind`` (mvtec, folder, nanotwice, visapp),
    every image resized to ``size`` x ``size`` (default: the layout's, ``DEFAULT_SIZE``)."""
    if size is None:
        size = DEFAULT_SIZE.get(kind)
    if size is not None and int(size) < MIN_SIZE:
        raise InputError(f"image size {size} is smaller than the {MIN_SIZE} x {MIN_SIZE} patch "
                         f"size; choose at least {MIN_SIZE}")
    root = Path(path).expanduser()
    if not root.exists():
        raise InputError(f"{root}: no such folder; give an existing dataset folder")
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; give the dataset's root folder")
    if kind not in READERS:
        raise InputError(f"unknown folder layout {kind!r}: use mvtec, folder, nanotwice, visapp")
    train_dir, tests = READERS[kind](root, SMALL_CAP if small else None)
    train_files = image_files(train_dir)
    if not train_files:
        raise InputError(f"{train_dir}: no images ({', '.join(EXTS)}); add defect-free images")
    if not tests:
        raise InputError(f"{root}: no test images found for layout {kind!r}")
    split = _read_split(root)
    train_files, val_files = _hold_out(root, train_dir, train_files, split, seed)
    if small:
        train_files, val_files = train_files[:2 * SMALL_CAP], val_files[:SMALL_CAP]
    if split.get("test"):  # the order export wrote (type/file), then anything else
        order = {k: i for i, k in enumerate(split["test"])}
        tests.sort(key=lambda e: order.get(f"{e.image.parent.name}/{e.image.name}", len(order)))
    first: list = []  # (shape, file) of the first image read: all must have its shape
    train, val = _read_stack(train_files, size, first), _read_stack(val_files, size, first)
    test = _read_stack([e.image for e in tests], size, first)
    masks = _read_masks(tests, first[0][0], size, test.shape)
    types = [e.type for e in tests]
    # the spec names the size where it is not the layout's default, so that the same
    # folder at two sizes is two datasets (two model-cache keys, reproduce/cache.py)
    sized = "" if size == DEFAULT_SIZE.get(kind) else f"@{size}"
    return TextureDataset(
        spec=f"{kind}:{path}{sized}", train=train, val=val, test=test, masks=masks,
        has_mask=np.array([e.has_mask for e in tests], bool),
        labels=np.array([t != "good" for t in types], np.int64), defect_types=types,
        test_names=[e.image.stem for e in tests],
        structural_types=list(split.get("structural_types", [])), source=str(root.resolve()))


def _hold_out(root: Path, train_dir: Path, train_files: list[Path], split: dict,
              seed: int) -> tuple[list[Path], list[Path]]:
    """(training, validation) files: the validation ones ``split.json`` names, else 10 %
    of ``train_files`` (at least one) drawn with ``seed``."""
    if split.get("val"):
        names = {p.name for p in train_files}
        missing = [v for v in split["val"] if v not in names]
        if missing:
            raise InputError(f"{root / 'split.json'}: names {missing[0]}, not in {train_dir}")
        val_files = [train_dir / v for v in split["val"]]
        return [p for p in train_files if p.name not in set(split["val"])], val_files
    if len(train_files) < 2:
        raise InputError(f"{train_dir}: only one image; at least 2 are needed (one is "
                         "held out for validation)")
    n_val = max(1, round(0.1 * len(train_files)))
    pick = set(np.random.default_rng(seed).choice(len(train_files), n_val, replace=False))
    return ([p for i, p in enumerate(train_files) if i not in pick],
            [p for i, p in enumerate(train_files) if i in pick])


def _read_stack(files: list[Path], size: int | None, first: list) -> np.ndarray:
    """``files`` read, resized to ``size`` (None: kept) and stacked. ``first``: (shape, file)
    of the first image one ``load`` read (filled here if empty), the shape all must have."""
    out = []
    for f in files:
        img = read_image(f)
        if not first:
            first.append((img.shape, f))
        elif img.shape != first[0][0]:
            raise InputError(f"{f}: image is {img.shape[0]}x{img.shape[1]} but "
                             f"{first[0][1]} is {first[0][0][0]}x{first[0][0][1]}; all "
                             "images of a dataset must have one size")
        out.append(img if size is None else resize_image(img, size))
    return (np.stack(out) if out else
            np.zeros((0, *((size, size) if size else first[0][0])), np.float32))


def _read_masks(tests: list[TestImage], native: tuple[int, int], size: int | None,
                shape: tuple[int, ...]) -> np.ndarray:
    """The masks of ``tests`` (False where none) in one bool array of ``shape``; each is
    checked against its image's size in the files (``native``), then resized."""
    masks = np.zeros(shape, bool)
    for k, e in enumerate(tests):
        if e.mask is not None:
            mk = read_image(e.mask, mask=True)
            if mk.shape != native:
                raise InputError(f"{e.mask}: mask is {mk.shape[0]}x{mk.shape[1]} but its image "
                                 f"{e.image} is {native[0]}x{native[1]}")
            masks[k] = mk if size is None else resize_mask(mk, size)
    return masks


def _read_split(root: Path) -> dict:
    f = root / "split.json"
    if not f.exists():
        return {}
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{f}: not valid JSON ({e}); fix or delete it") from None


def _png16(img: np.ndarray, path: Path) -> None:
    Image.fromarray(np.round(np.clip(img, 0, 1) * 65535).astype(np.uint16)).save(path)


def export(dataset: TextureDataset, out_dir: str | os.PathLike) -> Path:
    """Write ``dataset`` in the MVTec AD layout (16-bit PNGs: lossless to 1/65535).

    Validation images go to ``train/good`` as ``val_*.png``; ``split.json`` records which
    they are, the test order and the structural types, so ``folder:out_dir`` reads back the
    same dataset. Written to a temporary folder beside ``out_dir``, then renamed.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: already exists; remove it or choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        good = tmp / "train" / "good"
        good.mkdir(parents=True)
        for i, img in enumerate(dataset.train):
            _png16(img, good / f"train_{i:04d}.png")
        val = [f"val_{i:04d}.png" for i in range(len(dataset.val))]
        for name, img in zip(val, dataset.val):
            _png16(img, good / name)
        order = []
        mask_types = {t for t, h in zip(dataset.defect_types, dataset.has_mask) if h and t != "good"}
        used: set[str] = set()
        for k, t in enumerate(dataset.defect_types):
            stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset.test_names[k])
            stem = stem or f"{k:04d}"
            while f"{t}/{stem}" in used:
                stem += "_"
            used.add(f"{t}/{stem}")
            (tmp / "test" / t).mkdir(parents=True, exist_ok=True)
            _png16(dataset.test[k], tmp / "test" / t / f"{stem}.png")
            order.append(f"{t}/{stem}.png")
            if t in mask_types:
                (tmp / "ground_truth" / t).mkdir(parents=True, exist_ok=True)
                Image.fromarray(dataset.masks[k].astype(np.uint8) * 255).save(
                    tmp / "ground_truth" / t / f"{stem}_mask.png")
        (tmp / "split.json").write_text(json.dumps(
            {"val": val, "test": order, "structural_types": list(dataset.structural_types),
             "spec": dataset.spec, "source": dataset.source}, indent=1))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
