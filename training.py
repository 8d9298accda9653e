"""The training core: build a method's model, compile it, fit it on sampled patches.

The paper's recipe (Section 4.1 and its re-implementations, docs/PAPER_NOTES.md): random
patches of the defect-free training images, turned and flipped (textures/patches.py),
Adam with weight decay, a fixed number of updates. Around it:

- the method (methods.py): its builder and loss; a warm-up callback where it has one
  (the VAE's KL warm-up, models/vae.py); the loss's target is the input itself;
- validation: after every epoch the model's loss on a fixed set of patches cut from the
  defect-free validation images (``validation_patches``: never trained on), logged as
  ``val_loss`` (and ``val_<term>`` for every term the model reports, the VAE's
  reconstruction and KL, computed by its test_step at warm-up 1: the full ELBO);
- resumption: ``work/backup`` (Keras BackupAndRestore) after every epoch, from which an
  interrupted fit continues at the last finished epoch with the same patches;
- precision: ``set_precision`` sets the Keras policy for one fit, float32 again after it;
  the profile's ``auto`` is decided once per run before (reproduce/train.py
  ``resolve_precision``);
- a NaN stop: the first epoch whose loss is not finite ends the fit with TrainingError.

Tests may add callbacks (``EXTRA_CALLBACKS``); none is there in a real run. The model
cache around this (keys, folders, run.json) is reproduce/cache.py and reproduce/train.py.
"""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from errors import TrainingError
from evaluation.windows import extract_patches
from files import atomic_write_text
from methods import METHODS, function
from textures.patches import patch_dataset

# Validation patches: windows at a quarter of the patch size as stride over the
# validation images, of which at most VALIDATION_PATCHES evenly spaced (all of a small
# set). At the cpu profile: 8 synthetic 512 x 512 images give 1,352 windows, 256 kept;
# brick's 8 192 x 192 crops give 72. Their loss costs one forward pass each per epoch,
# against the forward and backward passes of the cpu profile's 1,024 training patches.
VALIDATION_PATCHES = 256

# Callback factories (work folder -> callback) appended after every callback of a fit:
# empty in a real run; a test appends one (tests/test_robustness.py pauses a fit there).
EXTRA_CALLBACKS: list = []


def validation_patches(images, patch_size: int, count: int = VALIDATION_PATCHES) -> np.ndarray:
    """(N, p, p, 1) float32: the images' windows at stride p / 4, at most ``count`` of
    them, evenly spaced in image order. What a model's val_loss and its trainedness
    (evaluation/trainedness.py) are measured on."""
    patches, _ = extract_patches(np.asarray(images, np.float32), patch_size, patch_size // 4)
    if len(patches) > count:
        patches = patches[np.round(np.linspace(0, len(patches) - 1, count)).astype(int)]
    return patches[..., None]


def set_precision(precision: str) -> None:
    """The Keras policy for ``bf16`` or ``float32`` (``auto`` must be resolved first)."""
    if precision not in ("bf16", "float32"):
        raise ValueError(f"precision {precision!r}: resolve it first "
                         "(reproduce/train.py resolve_precision)")
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")


def build(method: str, profile: dict):
    """The model for a method (its builder in methods.py), compiled with the paper's
    optimiser settings."""
    builder = function(METHODS[method].builder)
    model = builder(latent_dim=profile["latent_dim"], patch_size=profile["patch_size"])
    compile_for(model, method, profile)
    return model


def compile_for(model, method: str, profile: dict) -> None:
    """Compile with a fresh Adam (the paper's optimiser; the gradient's global norm clipped
    where the method's entry says so) and the method's loss (none where the model's
    train_step holds its loss, the VAE's)."""
    entry = METHODS[method]
    optimizer = keras.optimizers.Adam(profile["learning_rate"], weight_decay=profile["weight_decay"],
                                      global_clipnorm=entry.clipnorm)
    loss = entry.fast_loss if profile["ssim_loss"] == "fast" and entry.fast_loss else entry.loss
    model.compile(optimizer=optimizer, loss=function(loss) if loss else None)


def with_targets(method: str, batches: tf.data.Dataset) -> tf.data.Dataset:
    """Batches as ``fit`` wants them for the method: (x, x) where its loss compares each
    output with its target, the input; x alone where its train_step has its own loss."""
    return batches.map(lambda x: (x, x)) if METHODS[method].loss else batches


def load_model(path: Path):
    """A trained model for inference (no optimiser state), from a ``model.keras`` file or
    a folder holding one. Importing every builder's module registers the classes a saved
    model may need (the VAE's)."""
    for entry in METHODS.values():
        function(entry.builder)
    path = Path(path)
    return keras.saving.load_model(path / "model.keras" if path.is_dir() else path, compile=False)


class StopOnNaN(keras.callbacks.Callback):
    """Stop at the end of the first epoch whose loss is not finite, and remember it."""

    bad_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            self.bad_epoch = epoch + 1
            self.model.stop_training = True


def strategy():
    """Every visible GPU under ``MirroredStrategy`` where there are several, else the
    default (one device). The batch of the profile is the global batch, split over the
    replicas, whose gradients are averaged: the same step as one device's on the whole
    batch (tests/test_distribute.py, on two logical CPU devices). One machine only: see
    README, "Several GPUs", for why not several machines."""
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def steps_per_epoch(profile: dict) -> int:
    return max(1, profile["patches_per_epoch"] // profile["batch_size"])


def train_model(method: str, images, val_images, profile: dict, seed: int, work: Path,
                tag: str = "") -> dict:
    """Train one model on ``images`` (K, H, W), validated on patches of ``val_images``,
    in ``work``: writes ``work/model.keras`` and ``work/history.csv`` (one row per epoch),
    resuming from ``work/backup`` where an earlier call was interrupted. Returns what
    run.json records of the fit. The profile's precision must be decided; ``tag`` names
    the model in messages (default: the method)."""
    tag = tag or method
    entry = METHODS[method]
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    set_precision(profile["precision"])
    try:
        devices = strategy()
        with devices.scope():
            model = build(method, profile)
        steps = steps_per_epoch(profile)
        done = _epochs_done(work / "backup")
        if done:
            print(f"resuming {tag} after epoch {done}", file=sys.stderr)
        batches = patch_dataset(images, profile["patch_size"], profile["batch_size"], seed=seed,
                                start=done * steps, any_angle=profile["rotation"] == "any")
        val = validation_patches(val_images, profile["patch_size"])
        val_batches = tf.data.Dataset.from_tensor_slices(val).batch(profile["batch_size"])
        nan = StopOnNaN()
        callbacks = ([function(entry.warm_up)(profile["kl_warmup_epochs"])] if entry.warm_up else []) + [
            keras.callbacks.BackupAndRestore(str(work / "backup"), double_checkpoint=True),
            keras.callbacks.CSVLogger(str(work / "log.csv"), append=True), nan,
            *(make(work) for make in EXTRA_CALLBACKS)]  # last: after the epoch's backup
        model.fit(with_targets(method, batches), epochs=profile["epochs"], steps_per_epoch=steps,
                  validation_data=with_targets(method, val_batches), callbacks=callbacks,
                  shuffle=False, verbose=1 if sys.stdout.isatty() else 2)
        if nan.bad_epoch is not None:
            raise TrainingError(f"{tag}: the loss became NaN in epoch {nan.bad_epoch}; lower "
                                "the learning rate or use --precision float32")
        model.save(work / "model.keras")
    finally:
        set_precision("float32")
    atomic_write_text(work / "history.csv", _one_row_per_epoch(work / "log.csv"))
    return {"patches_seen": steps * profile["batch_size"] * profile["epochs"],
            "validation_patches": int(len(val)), "replicas": int(devices.num_replicas_in_sync)}


def _epochs_done(backup: Path) -> int:
    """Epochs finished by an interrupted run (0 if none), from Keras' backup metadata."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        try:
            return int(json.loads((backup / name).read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            continue
    return 0


def _one_row_per_epoch(path: Path) -> str:
    """The CSV log with one row per epoch (a resumed run may repeat the last epoch)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by_epoch = {row["epoch"]: row for row in rows}
    fields = list(rows[0].keys()) if rows else ["epoch", "loss"]
    lines = [",".join(fields)] + [",".join(r[k] for k in fields) for r in by_epoch.values()]
    return "\n".join(lines) + "\n"
