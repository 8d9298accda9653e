"""``sweep``: which batch size and learning rate lower the validation loss fastest per
minute of this CPU (issue 21, item 2; not an experiment of the paper).

The paper trains at batch 128 with Adam 2e-4 (docs/PAPER_NOTES.md); the ``cpu`` profile at
batch 32 with 1e-3. Which is the better use of a fixed amount of CPU time is measured
here: on one development dataset (default ``fabric1``, ``--sweep-dataset``), the l2-AE
and the SSIM-AE train at every batch size (default 16, 32, 64, 128; ``--batch-sizes``)
and learning rate (default 1e-3 and 2e-4; ``--learning-rates``) for the SAME wall-clock
training time (``--sweep-minutes``, default 1.5 per configuration), one configuration
after another in one process, each from the same initial weights (training seed 0) and
with the profile's other values (precision, weight decay, augmentation). Judged on
validation loss only, the method's own loss on the fixed validation patches
(training.validation_patches, never trained on); no test image is read.

The clock (``Clock``): wall time of training only. It starts after the first update (which
traces the training step, a one-off cost of a few seconds), is checked after every batch,
and leaves out the pauses in which the validation loss is computed (at the start, every
``minutes / EVALUATIONS`` of training, and at the end). Training stops at the first
batch that ends past the budget, so a configuration trains at most one batch longer.
The process's CPU time over the same stretches is recorded beside it (``cpu_seconds``).

Writes into ``<out>/sweep/``: curves.csv (per configuration, the validation loss at each
recorded time), table_sweep.csv/.md (the final validation loss of each configuration,
its ratio to the best constant patch's (evaluation/trainedness.py), updates and patches
per second; the lowest per method marked), fig_sweep.png (validation loss against
training seconds, one panel per method) and run.json (the CPU, its load before and after
each configuration, the settings). The machines are shared: another process's load
slows a configuration and shows as fewer patches per second (compare across rows of one
run, not across runs). A 1.5-minute horizon ranks the early phase of training; a long
run may favour another setting (``--sweep-minutes`` buys a longer look).

Cost at the defaults: 2 methods x 4 batch sizes x 2 learning rates = 16 configurations x
1.5 minutes = 24 minutes of training, plus per configuration the first step's tracing and
13 validation passes over 256 patches (about 10-20 s together on 2 cores): about 28 minutes.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import textures
import training
from files import atomic_write_text
from methods import METHODS, default_methods, function
from reproduce.plotting import pyplot, save_figure
from reproduce.provenance import provenance
from textures.patches import patch_dataset

DATASET = "fabric1"
# the default run's methods trained by a compiled loss (methods.py): the l2-AE, the SSIM-AE
METHODS_SWEPT = tuple(m for m in default_methods() if METHODS[m].loss)
BATCH_SIZES = (16, 32, 64, 128)
LEARNING_RATES = (1e-3, 2e-4)
MINUTES = 1.5
EVALUATIONS = 12  # validation losses recorded per configuration, besides the one at the start
TABLE_COLUMNS = ("method", "batch_size", "learning_rate", "seconds", "cpu_seconds", "updates",
                 "patches", "patches_per_s", "val_loss", "constant_loss", "loss_ratio", "best")


def run(ctx) -> list[Path]:
    o = ctx.options
    return sweep(ctx, o.get("sweep_dataset", DATASET), METHODS_SWEPT,
                 o.get("batch_sizes", BATCH_SIZES), o.get("learning_rates", LEARNING_RATES),
                 60.0 * o.get("sweep_minutes", MINUTES))


def sweep(ctx, spec, methods, batch_sizes, rates, seconds: float) -> list[Path]:
    """Every configuration for ``seconds`` of training; returns the files written."""
    root = ctx.out / "sweep"
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.json").unlink(missing_ok=True)
    ds = textures.load(spec, seed=ctx.profile["seeds"][0], small=ctx.profile["small_data"])
    val = training.validation_patches(ds.val, ctx.profile["patch_size"])
    grid = [(m, b, lr) for m in methods for b in batch_sizes for lr in rates]
    curves, configs, started = [], [], time.time()
    tf.config.experimental.enable_op_determinism()  # as training.train_model
    try:  # each configuration sets the profile's precision (train_for)
        for i, (method, batch, lr) in enumerate(grid):
            profile = {**ctx.profile, "batch_size": int(batch), "learning_rate": float(lr)}
            load = os.getloadavg()
            rows, info = train_for(method, ds.train, val, profile, seconds)
            info.update(load_before=[round(v, 2) for v in load],
                        load_after=[round(v, 2) for v in os.getloadavg()])
            curves += [{"method": method, "batch_size": batch, "learning_rate": lr, **r} for r in rows]
            configs.append(info)
            atomic_write_text(root / "curves.csv", pd.DataFrame(curves).to_csv(index=False,
                                                                                float_format="%.6g"))
            per_config = (time.time() - started) / (i + 1)
            ctx.log(f"sweep {spec}: {method} batch {batch} lr {lr:g}: {info['updates']} updates in "
                    f"{info['seconds']:.0f} s ({info['patches_per_s']:.0f} patches/s), val loss "
                    f"{info['val_loss']:.4g} ({info['loss_ratio']:.3f} of the constant's); "
                    f"{i + 1}/{len(grid)} configurations, about "
                    f"{(len(grid) - i - 1) * per_config / 60:.0f} min left")
    finally:
        training.set_precision("float32")
    table = summary(configs)
    atomic_write_text(root / "table_sweep.csv", table.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(root / "table_sweep.md", markdown(table, spec, seconds))
    figure(pd.DataFrame(curves), table, root / "fig_sweep.png", spec, seconds)
    record = {"experiment": "sweep", "dataset": spec, "methods": list(methods),
              "batch_sizes": list(batch_sizes), "learning_rates": list(rates),
              "seconds_per_configuration": seconds, "evaluations": EVALUATIONS,
              "validation_patches": int(len(val)), "configurations": configs,
              "wall_seconds": round(time.time() - started, 1), "profile": ctx.profile,
              "noise": "shared machine: compare rows of one run; load averages per configuration",
              **provenance()}
    atomic_write_text(root / "run.json", json.dumps(record, indent=2, default=str))
    return [root / name for name in ("table_sweep.md", "table_sweep.csv", "fig_sweep.png",
                                     "curves.csv", "run.json")]


def train_for(method, images, val, profile: dict, seconds: float) -> tuple[list[dict], dict]:
    """One configuration: a fresh model (training seed 0), trained for ``seconds`` by the
    Clock; returns its recorded rows and its summary (the table's columns but ``best``)."""
    keras.backend.clear_session()  # the previous configuration's graphs
    training.set_precision(profile["precision"])  # clear_session resets Keras' policy
    seed = profile["seeds"][0]
    keras.utils.set_random_seed(seed)
    with training.strategy().scope():
        model = training.build(method, profile)
    loss = function(METHODS[method].fast_loss if profile["ssim_loss"] == "fast"
                    and METHODS[method].fast_loss else METHODS[method].loss)
    x = tf.constant(val)

    @tf.function
    def summed(batch):
        return tf.reduce_sum(loss(batch, model(batch, training=False)))

    def val_loss() -> float:
        return float(sum(summed(x[i:i + 64]) for i in range(0, len(val), 64))) / len(val)

    constant = float(np.mean(loss(x, tf.broadcast_to(tf.reduce_mean(x, 0, keepdims=True), x.shape))))
    clock = Clock(seconds, seconds / EVALUATIONS, val_loss, profile["batch_size"])
    batches = patch_dataset(images, profile["patch_size"], profile["batch_size"], seed=seed,
                            any_angle=profile["rotation"] == "any")
    model.fit(training.with_targets(method, batches), epochs=1, steps_per_epoch=10 ** 9,
              callbacks=[clock, keras.callbacks.TerminateOnNaN()], shuffle=False, verbose=0)
    last = clock.rows[-1]
    info = {"method": method, "batch_size": profile["batch_size"],
            "learning_rate": profile["learning_rate"], "seconds": last["seconds"],
            "cpu_seconds": last["cpu_seconds"], "updates": last["updates"],
            "patches": last["patches"],
            # on the clock: every update but the first (it traced the step, before the clock)
            "patches_per_s": (last["updates"] - 1) * profile["batch_size"] / max(last["seconds"], 1e-9),
            "val_loss": last["val_loss"], "constant_loss": constant,
            "loss_ratio": last["val_loss"] / constant, "dtype_policy": model.dtype_policy.name}
    return clock.rows, info


class Clock(keras.callbacks.Callback):
    """Training time on the wall clock (``time.perf_counter``) without the validation
    pauses, from the end of the first update; the validation loss recorded at 0, every
    ``every`` seconds and when training ends; the fit stopped at the first batch that
    ends at ``seconds`` or later, or whose validation loss is not finite. ``rows``:
    seconds, cpu_seconds, updates, patches, val_loss."""

    def __init__(self, seconds: float, every: float, evaluate, batch_size: int):
        super().__init__()
        self.seconds, self.every, self.evaluate, self.batch_size = seconds, every, evaluate, batch_size
        self.rows, self.updates, self.next = [], 0, 0.0
        self.start = self.cpu_start = None
        self.paused = self.cpu_paused = 0.0

    def on_train_batch_end(self, batch, logs=None):
        now, cpu = time.perf_counter(), time.process_time()
        self.updates += 1
        if self.start is None:  # the first update traced the step: the clock starts here
            self.start, self.cpu_start = now, cpu
        elapsed = now - self.start - self.paused
        if elapsed >= self.next or elapsed >= self.seconds:
            self._record(elapsed, cpu - self.cpu_start - self.cpu_paused)
            while self.next <= elapsed:
                self.next += self.every
        if elapsed >= self.seconds or not np.isfinite(self.rows[-1]["val_loss"]):
            self.model.stop_training = True

    def on_train_end(self, logs=None):  # stopped early (a NaN loss): its last state too
        if self.start is not None and self.rows[-1]["updates"] != self.updates:
            now, cpu = time.perf_counter(), time.process_time()
            self._record(now - self.start - self.paused, cpu - self.cpu_start - self.cpu_paused)

    def _record(self, elapsed: float, cpu: float) -> None:
        t, c = time.perf_counter(), time.process_time()
        self.rows.append({"seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
                          "updates": self.updates, "patches": self.updates * self.batch_size,
                          "val_loss": self.evaluate()})
        self.paused += time.perf_counter() - t
        self.cpu_paused += time.process_time() - c


def summary(configs: list[dict]) -> pd.DataFrame:
    """One row per configuration; ``best``: the lowest final validation loss of its method."""
    table = pd.DataFrame(configs, columns=list(TABLE_COLUMNS[:-1]))
    finite = table["val_loss"].where(np.isfinite(table["val_loss"]))
    table["best"] = finite == finite.groupby(table["method"]).transform("min")
    return table


def markdown(table: pd.DataFrame, spec: str, seconds: float) -> str:
    lines = ["# Batch size and learning rate at equal wall-clock budgets", "",
             f"Written by `python -m reproduce all --only sweep` (reproduce/experiments/sweep.py): "
             f"on {spec}, each configuration trained for {seconds:.0f} s of wall-clock time "
             "(tracing and validation pauses left out), one after another in one process, "
             "from the same initial weights. Validation loss: the method's own loss on the fixed "
             "validation patches after the last update; loss ratio: against the best constant "
             "patch's. **Bold**: the lowest of its method. The machine is shared, so patches per "
             "second carry its load (run.json records it).", ""]
    for method, rows in table.groupby("method", sort=False):
        lines += [f"## {METHODS[method].label}", "",
                  "| batch | learning rate | updates | patches | patches/s | val. loss | loss ratio |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows.itertuples():
            cells = [f"{r.batch_size}", f"{r.learning_rate:g}", f"{r.updates:,}", f"{r.patches:,}",
                     f"{r.patches_per_s:.0f}", f"{r.val_loss:.4g}", f"{r.loss_ratio:.3f}"]
            if r.best:
                cells = [f"**{c}**" for c in cells]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(curves: pd.DataFrame, table: pd.DataFrame, path: Path, spec: str, seconds: float) -> None:
    from matplotlib.lines import Line2D
    plt = pyplot()
    methods = list(dict.fromkeys(table["method"]))
    batches = sorted(table["batch_size"].unique())
    rates = sorted(table["learning_rate"].unique(), reverse=True)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(batches)))
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.4 * len(methods), 3.4), squeeze=False,
                             layout="constrained")
    for ax, method in zip(axes[0], methods):
        mine = curves[curves["method"] == method]
        for (b, lr), group in mine.groupby(["batch_size", "learning_rate"]):
            best = table[(table["method"] == method) & (table["batch_size"] == b)
                         & (table["learning_rate"] == lr)]["best"].any()
            ax.plot(group["seconds"], group["val_loss"], color=colours[batches.index(b)],
                    ls=styles[rates.index(lr) % len(styles)], lw=2.0 if best else 1.0, marker=".", ms=3)
        constant = table.loc[table["method"] == method, "constant_loss"].iloc[0]
        ax.axhline(constant, color="0.5", lw=0.8, ls=(0, (1, 2)))
        shown = mine.loc[mine["seconds"] >= 0.1 * seconds, "val_loss"].to_numpy(float)
        shown = np.append(shown[np.isfinite(shown)], constant)
        pad = 0.06 * (shown.max() - shown.min()) or 0.05 * abs(shown.max()) or 1.0
        ax.set_ylim(shown.min() - pad, shown.max() + pad)
        ax.set_title(f"{METHODS[method].label} on {spec}", fontsize=8)
        ax.set_xlabel("training seconds (wall clock, validation pauses left out)", fontsize=7)
        ax.set_ylabel(f"validation loss ({METHODS[method].terms[0][2]})", fontsize=7)
        ax.tick_params(labelsize=6.5)
        ax.grid(color="0.92", lw=0.5)
    handles = [Line2D([], [], color=colours[i], lw=1.5, label=f"batch {b}") for i, b in enumerate(batches)]
    handles += [Line2D([], [], color="0.3", ls=styles[i % len(styles)], lw=1, label=f"learning rate {lr:g}")
                for i, lr in enumerate(rates)]
    handles += [Line2D([], [], color="0.3", lw=2.0, label="lowest final loss of its method"),
                Line2D([], [], color="0.5", lw=0.8, ls=(0, (1, 2)), label="best constant patch")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=6.5, frameon=False)
    fig.suptitle("Validation loss against training time at equal wall-clock budgets "
                 "(the first 10 % of the time may leave the panel at the top)", fontsize=7.5)
    save_figure(fig, path, dpi=200)
