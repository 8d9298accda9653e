"""One model of the budget study, trained in segments that continue one another.

A model trains from update 0 to the first checkpoint, is measured there, and trains on:
the model at 1,280 updates is the model at 640 trained 640 updates more, with the same
Adam state (moments and step count) and the same stream of patches (textures/patches.py:
the stream is keyed on the batch number, so a fit that starts at update n draws batch n
next). Epochs are the profile's (``training.steps_per_epoch``: 32 updates at the cpu
profile), counted from update 0 whatever the checkpoints: the validation loss is recorded
at the end of each, and the VAE's KL warm-up (models/vae.py, set per epoch) follows the
schedule of one uninterrupted fit. A checkpoint inside an epoch (15,625 = 488 x 32 + 9)
ends a short epoch of its own there, and the next fit starts a new epoch. Otherwise
the fit is training.py's: its build, compile, precision, validation patches, warm-up and
NaN stop.

The state on disk, in the model's folder under the cache (``folder``:
``<cache>/budget/<method>-<dataset>-<key>/``): ``state-<updates>.weights.h5`` (Keras
``save_weights``: the weights with the optimizer's variables, what Keras' BackupAndRestore
keeps) and ``state.json``: the updates it holds, the per-epoch curve up to them, the
training seconds, and the state of the model's random generators (the VAE's sampling
noise), which ``save_weights`` leaves out. state.json is written after the weights and
by a rename, so the file it names is complete. Only the last state is kept (13-15 MB).
The key hashes what a model of the profile is keyed by (reproduce/cache.py ``model_key``,
without the profile's epochs: the checkpoints set the length) and this file's source.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import keras
import tensorflow as tf

import training
from errors import TrainingError
from files import atomic_write_text
from methods import METHODS, function
from reproduce.cache import cache_root, model_key
from reproduce.context import folder_name
from textures.patches import patch_dataset

SEED_STATE = "seed_generator_state"  # Keras' name of a random generator's state variable


def _random_states(model) -> list:
    """The state variables of the model's random generators, in the model's order (their
    names carry a counter that differs between builds in one process; the order does not)."""
    return [v for v in model.variables if v.path.endswith(SEED_STATE)]


def folder(spec: str, method: str, profile: dict, seed: int) -> Path:
    """Where the model's last checkpoint state lives (see the module's docstring)."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = hashlib.sha256((model_key(spec, seed, method, {**profile, "epochs": None})
                          + source).encode()).hexdigest()[:12]
    return cache_root() / "budget" / f"{method}-{folder_name(spec).strip('_')[-40:]}-{key}"


class Trainee:
    """One method's model on one dataset: built or restored (``start``), trained to a
    number of updates (``train_to``), saved (``save``). ``updates``, ``curve`` (one dict
    per epoch: updates, loss, val_loss and the model's other terms) and ``seconds`` (of
    training, over every run that contributed) describe the model in memory."""

    def __init__(self, method: str, dataset, val_patches, profile: dict, seed: int = 0):
        self.method, self.dataset, self.profile, self.seed = method, dataset, profile, seed
        self.val = tf.data.Dataset.from_tensor_slices(val_patches).batch(profile["batch_size"])
        self.folder = folder(dataset.spec, method, profile, seed)
        self.model, self.updates, self.curve, self.seconds = None, 0, [], 0.0

    def saved_updates(self) -> int | None:
        """The updates of the saved state, None if there is none."""
        state = self._state()
        return state["updates"] if state else None

    def start(self, at_most: int) -> None:
        """The model from its saved state where that holds at most ``at_most`` updates,
        else a fresh one (built as training.train_model builds it: seeded, compiled)."""
        keras.utils.set_random_seed(self.seed)
        with training.strategy().scope():
            self.model = training.build(self.method, self.profile)
        self.updates, self.curve, self.seconds = 0, [], 0.0
        state = self._state()
        if state and state["updates"] <= at_most:
            self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(self.folder / state["file"])
            for variable, value in zip(_random_states(self.model), state["random"], strict=True):
                variable.assign(value)
            self.updates, self.curve, self.seconds = state["updates"], state["curve"], state["seconds"]

    def train_to(self, target: int) -> None:
        """Train on from ``self.updates`` to ``target`` updates, epoch by epoch."""
        per_epoch, t = training.steps_per_epoch(self.profile), time.time()
        while self.updates < target:
            epoch, into = divmod(self.updates, per_epoch)
            steps = min(per_epoch - into, target - self.updates)  # to the epoch's end or target
            epochs = (target - self.updates) // per_epoch if steps == per_epoch else 1
            self._fit(epoch, epochs, steps)
        self.seconds += time.time() - t

    def _fit(self, epoch: int, epochs: int, steps: int) -> None:
        """``epochs`` epochs of ``steps`` updates, the first numbered ``epoch``, starting at
        batch ``self.updates`` of the stream; their log rows appended to the curve."""
        entry, profile = METHODS[self.method], self.profile
        batches = patch_dataset(self.dataset.train, profile["patch_size"], profile["batch_size"],
                                seed=self.seed, start=self.updates,
                                any_angle=profile["rotation"] == "any")
        nan = training.StopOnNaN()
        callbacks = [function(entry.warm_up)(profile["kl_warmup_epochs"])] if entry.warm_up else []
        history = self.model.fit(
            training.with_targets(self.method, batches), initial_epoch=epoch,
            epochs=epoch + epochs, steps_per_epoch=steps, callbacks=callbacks + [nan],
            validation_data=training.with_targets(self.method, self.val), shuffle=False, verbose=0)
        logs = history.history
        for i in range(len(logs.get("loss", []))):
            self.updates += steps
            self.curve.append({"updates": self.updates, **{k: float(v[i]) for k, v in logs.items()}})
        if nan.bad_epoch is not None:
            raise TrainingError(f"{self.method} on {self.dataset.spec}: the loss became NaN "
                                f"before update {self.updates}; lower the learning rate or use "
                                "--precision float32")

    def save(self) -> None:
        """The model in memory as the folder's state (see the module's docstring)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        old = self._state()
        name = f"state-{self.updates}.weights.h5"
        tmp = self.folder / f"tmp-{os.getpid()}-{name}"  # Keras wants the .weights.h5 ending
        self.model.save_weights(tmp)
        os.replace(tmp, self.folder / name)
        random = [v.numpy().tolist() for v in _random_states(self.model)]
        atomic_write_text(self.folder / "state.json", json.dumps(
            {"method": self.method, "dataset": self.dataset.spec, "seed": self.seed,
             "updates": self.updates, "file": name, "seconds": round(self.seconds, 1),
             "random": random, "curve": self.curve}, indent=1))
        if old and old["file"] != name:
            (self.folder / old["file"]).unlink(missing_ok=True)

    def _state(self) -> dict | None:
        try:
            state = json.loads((self.folder / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return state if (self.folder / state.get("file", "-")).exists() else None
