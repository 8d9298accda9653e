"""On-disk cache of generated datasets, so each built-in dataset is made once per seed.

Files are ``<spec>-seed<seed>-<full|small>-v<VERSION>-<source>.npz`` under
``$SSIM_AE_CACHE`` or ``<repo>/.cache/datasets/``, where ``<source>`` hashes the code of
this package: any edit of a generator makes every old file a miss, whether or not its
``VERSION`` was bumped (an unbumped edit once served stale defects). Written to a temporary name and then
renamed, so an interrupted run never leaves a half file that looks complete.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Callable

import numpy as np

from files import atomic_write_bytes

from .dataset import TextureDataset

_ARRAYS = ("train", "val", "test", "masks", "has_mask", "labels", "groups")
_LISTS = ("defect_types", "test_names", "structural_types")


def cache_dir() -> Path:
    env = os.environ.get("SSIM_AE_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / ".cache" / "datasets"


def source_hash() -> str:
    """Hash of every module of this package, the generators' code."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def cached(spec: str, seed: int, small: bool, version: int,
           make: Callable[[], TextureDataset]) -> TextureDataset:
    """Return the dataset from the cache, or make it, store it and return it."""
    path = cache_dir() / f"{spec}-seed{seed}-{'small' if small else 'full'}-v{version}-{source_hash()}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return TextureDataset(
                    spec=spec, source=str(z["source"]),
                    **{k: z[k] for k in _ARRAYS},
                    **{k: [str(s) for s in z[k]] for k in _LISTS},
                    boxes={k[4:]: z[k] for k in z.files if k.startswith("box_")})
        except Exception:  # unreadable cache file (e.g. disk full once): make it again
            pass
    ds = make()
    buffer = io.BytesIO()
    np.savez(buffer, source=np.array(ds.source), **{k: getattr(ds, k) for k in _ARRAYS},
             **{k: np.array(getattr(ds, k), dtype=str) for k in _LISTS},
             **{f"box_{k}": v for k, v in ds.boxes.items()})
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:  # a read-only checkout still works, only slower
        pass
    return ds
