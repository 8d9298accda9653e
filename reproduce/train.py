"""Train one model through the cache: never retrain what exists, never reuse a stale one.

A trained model lives in ``<cache>/models/<method>-<dataset>-<key>/`` where ``key`` hashes
everything that determines it: dataset spec and seed, method (with its builder and loss,
the MODEL_FIELDS of its entry in methods.py), the profile's training values, and the
source of models/, losses/, textures/ and this module. The folder is complete when
``run.json`` exists; it is written last, after ``model.keras`` (itself written to a
temporary name and renamed). An interrupted run leaves ``work/``, from which the next run
resumes at the last finished epoch (Keras BackupAndRestore).
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from errors import TrainingError
from files import atomic_write_text
from methods import METHODS, MODEL_FIELDS, check_method, function
from models.vae import VAE, KLWarmUp
from reproduce.context import folder_name
from reproduce.profiles import TRAINING_KEYS
from reproduce.provenance import REPO, cpu_field, provenance
from textures.patches import patch_dataset

# The source that determines a trained model: the network, the losses, the data and their
# sampler (every file of these folders, at any depth), and this module (the optimiser,
# compile, the fit loop). The method's builder and loss enter the key by name (methods.py).
# Figures, tables and evaluation (trainedness included) do not change a trained model and
# are not hashed.
MODEL_CODE = ("models", "losses", "textures", "reproduce/train.py")


def cache_root() -> Path:
    return Path(os.environ.get("SSIM_AE_CACHE", REPO / ".cache"))


def code_version(root: Path = REPO) -> str:
    """Hash of the source that determines a trained model (MODEL_CODE under ``root``)."""
    digest = hashlib.sha256()
    for entry in MODEL_CODE:
        path = root / entry
        files = [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def model_key(spec: str, seed: int, method: str, profile: dict, data_seed: int | None = None) -> str:
    """``seed`` seeds the training; the data are made with the same seed unless
    ``data_seed`` says otherwise (then it is part of the key too)."""
    settings = {"dataset": spec, "seed": seed, "method": method, "code": code_version(),
                **{k: getattr(METHODS[method], k) for k in MODEL_FIELDS},
                **{k: profile[k] for k in TRAINING_KEYS}}
    if data_seed is not None and data_seed != seed:
        settings["data_seed"] = data_seed
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def model_dir(spec: str, seed: int, method: str, profile: dict, data_seed: int | None = None) -> Path:
    safe = folder_name(spec).strip("_")[-40:]
    key = model_key(spec, seed, method, profile, data_seed)
    return cache_root() / "models" / f"{method}-{safe}-{key}"


def build(method: str, profile: dict):
    """The model for a method (its builder in methods.py), compiled with the paper's
    optimiser settings."""
    builder = function(METHODS[method].builder)
    model = builder(latent_dim=profile["latent_dim"], patch_size=profile["patch_size"])
    compile_for(model, method, profile)
    return model


def compile_for(model, method: str, profile: dict) -> None:
    """Compile with a fresh Adam (the paper's optimiser) and the method's loss (none for
    the VAE: its train_step holds its loss)."""
    optimizer = keras.optimizers.Adam(profile["learning_rate"], weight_decay=profile["weight_decay"])
    entry = METHODS[method]
    loss = entry.fast_loss if profile["ssim_loss"] == "fast" and entry.fast_loss else entry.loss
    model.compile(optimizer=optimizer, loss=function(loss) if loss else None)


class StopOnNaN(keras.callbacks.Callback):
    """Stop at the end of the first epoch whose loss is not finite, and remember it."""

    bad_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            self.bad_epoch = epoch + 1
            self.model.stop_training = True


class PauseForTests(keras.callbacks.Callback):
    """Test hook, off unless ``SSIM_AE_TEST_PAUSE_AFTER_EPOCH=N`` is set: after epoch N is
    backed up, write ``<work>/paused`` and wait there for the test's signal, so that an
    interruption lands at a known epoch whatever the machine's speed."""

    def __init__(self, work: Path):
        super().__init__()
        self.work, self.after = work, int(os.environ.get("SSIM_AE_TEST_PAUSE_AFTER_EPOCH", 0))

    def on_epoch_end(self, epoch, logs=None):
        if self.after and epoch + 1 == self.after:
            (self.work / "paused").touch()
            time.sleep(600)


def set_precision(precision: str) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")


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
    """The profile with ``precision: auto`` decided once for this machine (bf16 where it
    is native, float32 elsewhere); the request and the reason are kept beside it, so that
    run.json says which precision a run used and why. Other values pass unchanged."""
    if profile["precision"] != "auto":
        return profile
    native, why = native_bf16()
    return {**profile, "precision": "bf16" if native else "float32",
            "precision_requested": "auto", "precision_reason": why}


def _strategy():
    """Every visible GPU under ``MirroredStrategy`` where there are several, else the
    default (one device). The batch of the profile is the global batch, split over the
    replicas, whose gradients are averaged: the same step as one device's on the whole
    batch (tests/test_distribute.py, on two logical CPU devices). One machine only: see
    README, "Several GPUs", for why not several machines."""
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def train(dataset, method: str, profile: dict, seed: int = 0, verbose: bool = True,
          data_seed: int | None = None) -> Path:
    """Train (or find in the cache) one model on ``dataset.train``; returns its folder.
    ``data_seed``: the seed ``dataset`` was made with, where it is not ``seed``."""
    check_method(method)
    profile = resolve_precision(profile)
    folder = model_dir(dataset.spec, seed, method, profile, data_seed)
    if (folder / "run.json").exists():
        return folder
    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    set_precision(profile["precision"])
    strategy = _strategy()
    with strategy.scope():
        model = build(method, profile)
    steps = max(1, profile["patches_per_epoch"] // profile["batch_size"])
    done = _epochs_done(work / "backup")
    if done:
        print(f"resuming {method} on {dataset.spec} after epoch {done}", file=sys.stderr)
    batches = patch_dataset(dataset.train, profile["patch_size"], profile["batch_size"],
                            seed=seed, start=done * steps, any_angle=profile["rotation"] == "any")
    if METHODS[method].loss:  # the loss compares each output with its target: the input
        batches = batches.map(lambda x: (x, x))
    nan = StopOnNaN()
    callbacks = [keras.callbacks.BackupAndRestore(str(work / "backup"), double_checkpoint=True),
                 keras.callbacks.CSVLogger(str(work / "log.csv"), append=True), nan,
                 PauseForTests(work)]  # last: after the epoch's backup
    if isinstance(model, VAE):
        callbacks.insert(0, KLWarmUp(profile["kl_warmup_epochs"]))
    model.fit(batches, epochs=profile["epochs"], steps_per_epoch=steps, callbacks=callbacks, shuffle=False,
              verbose=1 if sys.stdout.isatty() else 2)
    if nan.bad_epoch is not None:
        raise TrainingError(f"{method} on {dataset.spec}: the loss became NaN in epoch "
                            f"{nan.bad_epoch}; lower the learning rate or use --precision float32")
    tmp = folder / "model.tmp.keras"
    model.save(tmp)
    os.replace(tmp, folder / "model.keras")
    atomic_write_text(folder / "log.csv", _dedupe_log(work / "log.csv"))
    info = {"method": method, "dataset": dataset.spec, "seed": seed,
            "data_seed": seed if data_seed is None else data_seed,
            "profile": {k: profile[k] for k in ("name",) + TRAINING_KEYS},
            "patches_seen": steps * profile["batch_size"] * profile["epochs"],
            "train_images": int(len(dataset.train)), "train_seconds": round(time.time() - started, 1),
            "replicas": int(strategy.num_replicas_in_sync),
            **provenance()}
    shutil.rmtree(work, ignore_errors=True)
    atomic_write_text(folder / "run.json", json.dumps(info, indent=2))
    set_precision("float32")
    return folder


def _epochs_done(backup: Path) -> int:
    """Epochs finished by an interrupted run (0 if none), from Keras' backup metadata."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        try:
            return int(json.loads((backup / name).read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            continue
    return 0


def _dedupe_log(path: Path) -> str:
    """The CSV log with one row per epoch (a resumed run may repeat the last epoch)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by_epoch = {row["epoch"]: row for row in rows}
    fields = list(rows[0].keys()) if rows else ["epoch", "loss"]
    lines = [",".join(fields)] + [",".join(r[k] for k in fields) for r in by_epoch.values()]
    return "\n".join(lines) + "\n"


def load_model(folder: Path):
    """A trained model for inference (no optimiser state). The VAE's classes are
    registered for deserialisation by the import of models.vae above."""
    return keras.saving.load_model(folder / "model.keras", compile=False)
