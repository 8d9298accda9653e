"""Train one model through the cache: never retrain what exists, never reuse a stale one.

``train`` is what ``evaluate`` and the ``train`` command call: it finds the model's folder
(reproduce/cache.py: the key hashes everything that determines the model), returns it
where it is complete, and trains it there otherwise (training.py). The folder is complete
when ``run.json`` exists; it is written last, after ``model.keras`` and ``log.csv``
(each put in place by a rename). An interrupted run leaves ``work/``, from which the next
run resumes at the last finished epoch.

Precision is decided here once per run (``resolve_precision``), by the command that
starts the run: ``train`` receives bf16 or float32, never ``auto``.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import tensorflow as tf

import training
from files import atomic_write_text
from methods import check_method
from reproduce.cache import model_dir
from reproduce.profiles import TRAINING_KEYS
from reproduce.provenance import cpu_field, provenance


def native_bf16() -> tuple[bool, str]:
    """Whether this machine computes bfloat16 natively, and how that was read: a GPU of
    compute capability 8.0 or later (Ampere on), else a CPU flag in /proc/cpuinfo
    (AVX512-BF16 or AMX-BF16). Elsewhere bfloat16 is emulated and slower than float32."""
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return True, f"GPU compute capability {capability[0]}.{capability[1]}"
    flags = cpu_field("flags").split()
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return (True, f"CPU flag {found[0]}") if found else (False, "no bf16 in the CPU flags, no GPU")


def resolve_precision(profile: dict) -> dict:
    """The profile with ``precision: auto`` decided for this machine (bf16 where it is
    native, float32 elsewhere); the request and the reason are kept beside it, so that
    run.json says which precision a run used and why. Other values pass unchanged.
    Called once per run, by the command that starts it (reproduce/__main__.py,
    reproduce/runner.py)."""
    if profile["precision"] != "auto":
        return profile
    native, why = native_bf16()
    return {**profile, "precision": "bf16" if native else "float32",
            "precision_requested": "auto", "precision_reason": why}


def train(dataset, method: str, profile: dict, seed: int = 0, data_seed: int | None = None) -> Path:
    """Train (or find in the cache) one model on ``dataset.train``, validated on patches
    of ``dataset.val`` (training.validation_patches); returns its folder. ``dataset``: the
    whole dataset of its spec (not a subset: its validation images are part of what the
    key stands for). ``data_seed``: the seed ``dataset`` was made with, where it is not
    ``seed``."""
    check_method(method)
    folder = model_dir(dataset.spec, seed, method, profile, data_seed)
    if (folder / "run.json").exists():
        return folder
    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    fit = training.train_model(method, dataset.train, dataset.val, profile, seed, work,
                               tag=f"{method} on {dataset.spec}")
    os.replace(work / "model.keras", folder / "model.keras")
    os.replace(work / "history.csv", folder / "log.csv")
    info = {"method": method, "dataset": dataset.spec, "seed": seed,
            "data_seed": seed if data_seed is None else data_seed,
            "profile": {k: profile[k] for k in ("name",) + TRAINING_KEYS}, **fit,
            "train_images": int(len(dataset.train)), "validation_images": int(len(dataset.val)),
            "train_seconds": round(time.time() - started, 1), **provenance()}
    shutil.rmtree(work, ignore_errors=True)
    atomic_write_text(folder / "run.json", json.dumps(info, indent=2))
    return folder

