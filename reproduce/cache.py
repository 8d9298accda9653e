"""The model cache: where a trained model lives, and the key that says it is still valid.

A trained model lives in ``<cache>/models/<method>-<dataset>-<key>/`` (``model_dir``),
the cache being ``$SSIM_AE_CACHE`` or ``.cache/`` in the repository (``cache_root``).
``key`` hashes everything that determines the model and its training log: the dataset
spec and seed, the method (the MODEL_FIELDS of its entry in methods.py, by value), the
profile's training values (TRAINING_KEYS of reproduce/profiles.py) and the source of the
code that trains it (``code_version``, MODEL_CODE below). reproduce/train.py fills a
folder and says when it is complete.

No TensorFlow here: fig_training finds logs in the cache, and the tests compute keys,
without loading it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from methods import METHODS, MODEL_FIELDS, function
from reproduce.context import folder_name
from reproduce.profiles import TRAINING_KEYS
from reproduce.provenance import REPO

# The source that determines a trained model, whole files (an edit anywhere in one of them
# retrains): the networks with the anomaly-map functions their modules export (models/),
# the losses (losses/), the data generators, loaders and the patch sampler (textures/, but
# not NOT_MODEL_CODE), the training core (training.py: optimiser, compile, fit loop,
# warm-up, resumption, the validation patches) and the windows those patches are cut by
# (evaluation/windows.py). Every file of a folder counts, at any depth. The method's
# builder, loss and warm-up enter the key by name (methods.py MODEL_FIELDS). Figures,
# tables, scoring and trainedness do not change a trained model and are not hashed.
MODEL_CODE = ("models", "losses", "textures", "training.py", "evaluation/windows.py")
NOT_MODEL_CODE = ("textures/montage.py",)  # draws a dataset; trains nothing


def cache_root() -> Path:
    return Path(os.environ.get("SSIM_AE_CACHE", REPO / ".cache"))


def model_files(root: Path = REPO) -> list[Path]:
    """The files of MODEL_CODE under ``root``, in the order they are hashed."""
    files = []
    for entry in MODEL_CODE:
        path = root / entry
        found = [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
        files += [f for f in found if f.relative_to(root).as_posix() not in NOT_MODEL_CODE]
    return files


def code_version(root: Path = REPO) -> str:
    """Hash of the source that determines a trained model (MODEL_CODE under ``root``)."""
    digest = hashlib.sha256()
    for file in model_files(root):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def model_key(spec: str, seed: int, method: str, profile: dict, data_seed: int | None = None) -> str:
    """``seed`` seeds the training; the data are made with the same seed unless
    ``data_seed`` says otherwise (then it is part of the key too). The profile's
    precision must be decided (training.resolve_precision): ``auto`` names no model."""
    if profile["precision"] == "auto":
        raise ValueError("precision 'auto' is not resolved: call training.resolve_precision first")
    entry = METHODS[method]
    settings = {"dataset": spec, "seed": seed, "method": method, "code": code_version(),
                **{k: getattr(entry, k) for k in MODEL_FIELDS},
                **{k: profile[k] for k in TRAINING_KEYS},
                **(function(entry.key_inputs)() if entry.key_inputs else {})}
    if data_seed is not None and data_seed != seed:
        settings["data_seed"] = data_seed
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def model_dir(spec: str, seed: int, method: str, profile: dict, data_seed: int | None = None) -> Path:
    safe = folder_name(spec).strip("_")[-40:]
    key = model_key(spec, seed, method, profile, data_seed)
    return cache_root() / "models" / f"{method}-{safe}-{key}"
