"""Where each folder layout keeps its images: the training folder and the test list.

The layouts (``mvtec``/``folder``, ``nanotwice``, ``visapp``) and how a dataset is read from
them are described in textures/folders.py; this module only finds the files. A reader
returns the folder of defect-free training images and one ``TestImage`` per test file, in
folder order, at most ``cap`` per folder (``small=True``). Masks are matched to images by
stem: ``<stem>_mask``, ``<stem>``, ``<stem>_gt`` or ``<stem>_label``, in that order.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from errors import InputError

EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
GOOD_NAMES = ("good", "ok", "defect_free", "defect-free", "normal")


class TestImage(NamedTuple):
    """One test image as a layout lists it."""
    type: str  # defect type, "good" for defect-free
    image: Path
    mask: Path | None  # None for defect-free images and for types without masks
    has_mask: bool  # False where a defective image's type ships no masks


def image_files(folder: Path) -> list[Path]:
    """The image files (``EXTS``, not hidden) directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTS
                  and not p.name.startswith("."))


def _find_mask(folder: Path, stem: str) -> Path | None:
    if not folder.is_dir():
        return None
    for suffix in ("_mask", "", "_gt", "_label"):
        for p in image_files(folder):
            if p.stem == stem + suffix:
                return p
    return None


def _check_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise InputError(f"{path}: no such folder ({what} expected there)")


def mvtec(root: Path, cap: int | None) -> tuple[Path, list[TestImage]]:
    """MVTec AD: ``train/good``; ``test/<type>/``, masks in ``ground_truth/<type>/``. A
    type without a ``ground_truth`` folder has no masks; one with it needs every mask."""
    train_dir = root / "train" / "good"
    _check_dir(train_dir, "defect-free training images")
    _check_dir(root / "test", "test images, one folder per type")
    tests = []
    for tdir in sorted(p for p in (root / "test").iterdir() if p.is_dir()):
        gt = root / "ground_truth" / tdir.name
        for img in image_files(tdir)[:cap]:
            if tdir.name == "good" or not gt.is_dir():
                tests.append(TestImage(tdir.name, img, None, tdir.name == "good"))
            else:
                m = _find_mask(gt, img.stem)
                if m is None:
                    raise InputError(f"{img}: no mask {gt / (img.stem + '_mask.png')}; add "
                                     f"it or remove the image")
                tests.append(TestImage(tdir.name, img, m, True))
    return train_dir, tests


def nanotwice(root: Path, cap: int | None) -> tuple[Path, list[TestImage]]:
    """NanoTWICE: ``Normal/``; ``Anomalous/images/``, each with its mask in ``Anomalous/gt/``,
    all of type "defect"."""
    train_dir = root / "Normal"
    _check_dir(train_dir, "defect-free images")
    _check_dir(root / "Anomalous" / "images", "defective images")
    tests = []
    for img in image_files(root / "Anomalous" / "images")[:cap]:
        m = _find_mask(root / "Anomalous" / "gt", img.stem)
        if m is None:
            raise InputError(f"{img}: no mask in {root / 'Anomalous' / 'gt'}")
        tests.append(TestImage("defect", img, m, True))
    return train_dir, tests


def visapp(root: Path, cap: int | None) -> tuple[Path, list[TestImage]]:
    """The paper's woven-fabric release: ``train/good`` or ``train/``; test files directly in
    ``test/`` (first; defective where a mask is found, else defect-free) and in type folders
    (defect-free where named in ``GOOD_NAMES``). Masks: ``ground_truth/<type>``, then
    ``ground_truth/defective``; a defective image without one has no mask."""
    train_dir = root / "train" / "good" if (root / "train" / "good").is_dir() else root / "train"
    _check_dir(train_dir, "defect-free training images")
    _check_dir(root / "test", "test images")
    groups = [(p.name, p) for p in sorted((root / "test").iterdir()) if p.is_dir()]
    if image_files(root / "test"):
        groups.insert(0, ("", root / "test"))
    tests = []
    for name, tdir in groups:
        for img in image_files(tdir)[:cap]:
            m = _find_mask(root / "ground_truth" / (name or "defective"), img.stem) \
                or _find_mask(root / "ground_truth" / "defective", img.stem)
            good = name.lower() in GOOD_NAMES or (name == "" and m is None)
            t = "good" if good else (name or "defective")
            tests.append(TestImage(t, img, None if good else m, good or m is not None))
    return train_dir, tests


# layout name -> its reader; ``folder`` and ``mvtec`` differ only in image size (folders.py)
READERS = {"mvtec": mvtec, "folder": mvtec, "nanotwice": nanotwice, "visapp": visapp}
