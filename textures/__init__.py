"""Textures: the images the paper trains on and tests with, and the patch sampler.

``load(spec)`` turns a dataset spec into a ``TextureDataset`` (textures/dataset.py):

=================  =====================================================================
``fabric1``        synthetic plain weave (analog of the paper's woven fabric texture 1)
``fabric2``        synthetic twill (analog of woven fabric texture 2)
``nanofibres``     synthetic SEM-like nanofibre tangle (analog of NanoTWICE)
``brick``          real photo from scikit-image, defects planted (real.py)
``grass``          real photo from scikit-image, defects planted
``gravel``         real photo from scikit-image, defects planted
``mvtec:PATH``     an MVTec AD category folder (folders.py)
``folder:PATH``    any folder in the MVTec AD layout
``nanotwice:PATH`` the NanoTWICE release (Normal/, Anomalous/images, Anomalous/gt)
``visapp:PATH``    the paper's woven-fabric release (train/, test/, ground_truth/defective/)
=================  =====================================================================

``patches.patch_dataset`` samples the paper's training patches (random 128x128 crops,
rotated and flipped) as a ``tf.data`` pipeline; ``montage.show`` draws a dataset.
"""
from __future__ import annotations

from .dataset import TextureDataset
from .errors import InputError

BUILTIN = ("fabric1", "fabric2", "nanofibres", "brick", "grass", "gravel")
# what the reproduction evaluates by default: grass and gravel are left out because a
# nearest-training-window detector does not find their planted defects (README, Datasets)
DEFAULT_RUN = ("fabric1", "fabric2", "nanofibres", "brick")
FOLDER_KINDS = ("mvtec", "folder", "nanotwice", "visapp")

__all__ = ["BUILTIN", "DEFAULT_RUN", "FOLDER_KINDS", "InputError", "TextureDataset", "load"]


def load(spec: str, seed: int = 0, small: bool = False) -> TextureDataset:
    """The dataset named by ``spec``. ``seed`` draws the synthetic images, the real crops
    and the validation split of folders; ``small=True`` is the smoke/test scale (few,
    smaller images; folders capped to their first few files)."""
    spec = str(spec).strip()
    if spec in ("fabric1", "fabric2", "nanofibres"):
        from . import synthetic
        return synthetic.load(spec, seed, small)
    if spec in ("brick", "grass", "gravel"):
        from . import real
        return real.load(spec, seed, small)
    kind, sep, path = spec.partition(":")
    if sep and kind in FOLDER_KINDS:
        if not path:
            raise InputError(f"dataset spec {spec!r} names no folder: write {kind}:PATH")
        from . import folders
        return folders.load(kind, path, seed, small)
    raise InputError(
        f"unknown dataset {spec!r}: use one of {', '.join(BUILTIN)}, "
        + ", ".join(f"{k}:PATH" for k in FOLDER_KINDS))
