"""``budget``: how the models and their results change with the training budget, up to the
paper's (issue 21; not a figure of the paper).

The paper trains 200 epochs of 10,000 patches at batch 128 (docs/PAPER_NOTES.md): 15,625
updates; the default ``cpu`` profile trains 640 updates of 32 patches. Here, for every
dataset of the run (default: the default run's; ``--datasets`` narrows it), the l2-AE,
the SSIM-AE and the VAE of the first training seed train ONCE, through the checkpoints
640 (the ``cpu`` profile's budget), 1,280, 2,560, 5,120, 10,240 and 15,625 updates (``--checkpoints`` sets others, e.g.
stopping at 10,240; the smoke profile's are 4 and 8), each model continuing from the
previous checkpoint (trainee.py: same optimiser state, same patch stream). The profile's
other training values (batch, learning rate, precision, ...) are the run's. At each
checkpoint (measure.py): pixel ROC AUC with its 95 % interval over the test images, AUPRO,
trainedness (every field) and validation loss.

Written into ``<out>/budget/``, each file by a rename:

  <dataset>/checkpoints.csv  one row per method x map x checkpoint (measure.py), rewritten
                             as each checkpoint finishes
  <dataset>/curves.csv       every model's per-epoch training and validation loss
  <dataset>/histograms.npz   each map's per-image pixel histograms at each checkpoint
                             (measure.py ``hist_key``) and the test images' bootstrap
                             ``groups``: the paired SSIM-AE - l2-AE difference (report.py)
  <dataset>/run.json         written when all the dataset's checkpoints are done: the folder
                             is complete (commit it then); its commit, machine and seconds
  fig_budget.png, table_budget.md/.csv   report.py; redrawn after each dataset
  run.json                   the study: this run's datasets, checkpoints and seconds, and
                             ``parts``: every dataset folder the figure and table show

Each dataset's folder is a part of the study: the figure, the table and ``parts`` cover
every dataset folder under ``<out>/budget/`` with checkpoints, not only this run's. So the
study can run one dataset at a time (``--datasets X``), in several sessions or on several
machines, and the last run assembles the parts; ``parts`` says, for each, its checkpoints,
whether it is complete, and the commit, machine and training seconds its own run.json
records. Folders another run left incomplete are shown and flagged as such.

An interrupted study, run again with the same command, resumes: checkpoints already in
checkpoints.csv (of the same model key) are not recomputed, and each model continues from
its last saved checkpoint in the model cache (trainee.py; a fresh machine retrains from
update 0, passing the checkpoints already measured without measuring them again). Work
since the last finished checkpoint is lost. A longer ``--checkpoints`` list extends a
finished dataset from its last checkpoint.

Progress: a line at each checkpoint (its numbers and the time left for the run) and,
inside a long segment, one about every 640 updates (``PROGRESS_EVERY``) with the
validation loss and the time left to the next checkpoint.

Cost, measured (2-core AMD EPYC Zen 5 with AVX-512, bf16, batch 32; nanofibres from 5,120
to 10,240 updates, little else running; results/budget/nanofibres): 501 s for the l2-AE,
924 s for the SSIM-AE, 564 s for the VAE, plus 15-30 s per checkpoint for the maps; about
6.5 minutes per 1,000 updates for the three models of one dataset: about 20 minutes to
2,560, 40 to 5,120, 1.2 hours to 10,240 and 1.8 to 15,625. With other work on the machine
the same training took up to twice as long per update (the machines are shared). Batch 32
passes far fewer patches per second than the batch 128 of results/benchmark.md. A GPU or
the ``--datasets`` split over sessions is how the long end is reached.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from files import atomic_write_text
from methods import default_methods
from reproduce.context import folder_name

METHODS_STUDIED = tuple(default_methods())  # the default run's methods (methods.py)
CHECKPOINTS = (640, 1280, 2560, 5120, 10240, 15625)  # 640: the cpu profile's budget
SMOKE_CHECKPOINTS = (4, 8)  # the smoke profile: one epoch of 4 updates each
# patches per second on the reference machine (results/benchmark.md, real path: the
# slowest method, the SSIM-AE, in float32 and bf16), for the estimate of the time left
# until this run has timed a segment of its own: an upper bound for the others
GUESS_RATE = {"float32": 245.1, "bf16": 318.8}
# a long segment trains in pieces of about this many updates (whole epochs), one progress
# line after each: the model is the same as from one fit (trainee.py's contract)
PROGRESS_EVERY = 640


def checkpoints_for(ctx) -> tuple[int, ...]:
    """``--checkpoints`` where given, else the profile's list."""
    chosen = ctx.options.get("checkpoints")
    if chosen:
        return tuple(sorted(set(int(c) for c in chosen)))
    return SMOKE_CHECKPOINTS if ctx.profile["name"] == "smoke" else CHECKPOINTS


def run(ctx) -> list[Path]:
    return study(ctx, checkpoints_for(ctx), METHODS_STUDIED)


def study(ctx, checkpoints, methods) -> list[Path]:
    """The study over ``ctx.datasets``; returns the files of the whole study."""
    import tensorflow as tf

    import training
    from reproduce.experiments.budget import report
    from reproduce.provenance import provenance

    root = ctx.out / "budget"
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.json").unlink(missing_ok=True)  # written again when this run ends
    progress = Progress(ctx, ctx.datasets, methods, checkpoints)
    tf.config.experimental.enable_op_determinism()  # as training.train_model
    complete, seconds, files = {}, {}, []
    try:
        for spec in ctx.datasets:
            t = time.time()
            complete[spec] = one_dataset(ctx, spec, checkpoints, methods, root / folder_name(spec),
                                         progress)
            seconds[spec] = round(time.time() - t, 1)
            files = report.write(root, report.shown(root, ctx.datasets))
    finally:
        training.set_precision("float32")
    info = {"experiment": "budget", "datasets": list(ctx.datasets), "methods": list(methods),
            "checkpoints": list(checkpoints), "training_seed": ctx.profile["seeds"][0],
            "complete": complete, "seconds": seconds, "profile": ctx.profile,
            "reference_budgets": {label: n for n, _, label in report.reference_budgets()},
            "parts": report.parts(root, ctx.datasets), **provenance()}
    atomic_write_text(root / "run.json", json.dumps(info, indent=2, default=str))
    return [root / "run.json", *files]


def one_dataset(ctx, spec, checkpoints, methods, folder: Path, progress) -> bool:
    """Every checkpoint of every method on one dataset, resuming where an earlier run
    stopped; returns True (and writes run.json) when all are done."""
    import keras

    import textures
    import training
    from reproduce.experiments.budget.measure import ROW_COLUMNS, measure
    from reproduce.experiments.budget.report import read_histograms, write_histograms
    from reproduce.experiments.budget.trainee import Trainee
    from reproduce.provenance import provenance

    profile = ctx.profile
    training.set_precision(profile["precision"])  # here: clear_session (below) resets it
    full = textures.load(spec, seed=profile["seeds"][0], small=profile["small_data"])
    ds = full.subset(profile["max_test_good"], profile["max_test_per_type"], profile["max_val"])
    val = training.validation_patches(full.val, profile["patch_size"])
    trainees = {m: Trainee(m, full, val, profile, seed=profile["seeds"][0]) for m in methods}
    (folder / "run.json").unlink(missing_ok=True)  # not complete until every checkpoint is
    keys = {t.folder.name for t in trainees.values()}
    rows = _finished_rows(ctx, folder / "checkpoints.csv", keys)
    done = {(r["method"], int(r["updates"])) for r in rows}
    histograms = {k: v for k, v in read_histograms(folder)[0].items() if k.split("__")[0] in keys}
    for method in methods:
        for c in checkpoints:
            if (method, c) in done:
                progress.skip(spec, method, c)
    for c in checkpoints:
        for method in methods:
            if (method, c) in done:
                continue
            t, trainee = time.time(), trainees[method]
            started = trainee.model is None or trainee.updates > c  # built (and traced) anew
            before = _bring_to(trainee, c, checkpoints, ctx.log)
            trained_s = time.time() - t
            new = measure(trainee, ds, val, profile, histograms)
            rows += new
            write_histograms(folder, histograms, ds.groups)
            _write_table(folder / "checkpoints.csv", rows, ROW_COLUMNS)
            _write_curves(folder / "curves.csv", trainees)
            progress.finished(spec, method, c, c - before, trained_s, time.time() - t - trained_s,
                              new, timed=not started)
    keras.backend.clear_session()  # the dataset's models and traced functions
    finished = all((m, c) in {(r["method"], int(r["updates"])) for r in rows}
                   for m in methods for c in checkpoints)
    if finished:
        info = {"experiment": "budget", "dataset": spec, "methods": list(methods),
                "checkpoints": list(checkpoints), "training_seed": profile["seeds"][0],
                "models": {m: str(t.folder) for m, t in trainees.items()},
                "train_seconds": {m: t.seconds for m, t in trainees.items() if t.model is not None},
                "dtype_policy": {m: t.model.dtype_policy.name for m, t in trainees.items()
                                 if t.model is not None},
                "validation_patches": int(len(val)), "test_images": int(len(ds.test)),
                "validation_images": int(len(ds.val)), "train_images": int(len(full.train)),
                "profile": profile, **provenance()}
        atomic_write_text(folder / "run.json", json.dumps(info, indent=2, default=str))
    ctx.log(f"budget {spec}: {'complete' if finished else 'NOT complete'} ({folder})")
    return finished


def _bring_to(trainee, target: int, checkpoints, log) -> int:
    """The model at ``target`` updates: from memory, its saved state or update 0, saved at
    every checkpoint passed on the way. Returns the updates it started from."""
    if trainee.model is None or trainee.updates > target:
        trainee.start(at_most=target)
        if trainee.updates:
            log(f"budget {trainee.dataset.spec}: {trainee.method} resumes at {trainee.updates:,} "
                f"updates ({trainee.folder.name})")
    before = trainee.updates
    for stop in [c for c in checkpoints if trainee.updates < c <= target]:
        _train_with_progress(trainee, stop, log)
        trainee.save()
    return before


def _train_with_progress(trainee, stop: int, log) -> None:
    """``trainee.train_to(stop)`` in pieces that end on multiples of PROGRESS_EVERY
    (rounded to whole epochs, counted from update 0), with a line after each piece."""
    import training

    per_epoch = training.steps_per_epoch(trainee.profile)
    step = max(1, round(PROGRESS_EVERY / per_epoch)) * per_epoch
    start, t = trainee.updates, time.time()
    while trainee.updates < stop:
        trainee.train_to(min(stop, (trainee.updates // step + 1) * step))
        if trainee.updates < stop:
            rate = (time.time() - t) / (trainee.updates - start)
            log(f"budget {trainee.dataset.spec}: {trainee.method} at {trainee.updates:,} of "
                f"{stop:,} updates, val loss {trainee.curve[-1]['val_loss']:.4g}; about "
                f"{(stop - trainee.updates) * rate / 60:.0f} min to the checkpoint")


def _finished_rows(ctx, path: Path, keys: set) -> list[dict]:
    """The rows of an earlier run that are still valid (their model key is this run's)."""
    import pandas as pd
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError):
        return []
    valid = table[table["model_key"].isin(keys)]
    if len(valid) < len(table):
        ctx.log(f"budget: {len(table) - len(valid)} rows of {path} belong to other models "
                "(another profile or code): measured again")
    return valid.to_dict("records")


def _write_table(path: Path, rows, columns) -> None:
    import pandas as pd
    table = pd.DataFrame(rows, columns=list(columns)).sort_values(["method", "map", "updates"])
    atomic_write_text(path, table.to_csv(index=False, float_format="%.7g"))


def _write_curves(path: Path, trainees) -> None:
    """Every model's per-epoch log (updates, loss, val_loss, its other terms); a model not
    loaded in this run keeps the rows an earlier run wrote."""
    import pandas as pd
    try:
        kept = pd.read_csv(path)
        kept = kept[~kept["method"].isin([m for m, t in trainees.items() if t.model is not None])]
    except (OSError, ValueError, KeyError):
        kept = pd.DataFrame()
    fresh = [{"method": m, **row} for m, t in trainees.items() if t.model is not None for row in t.curve]
    table = pd.concat([kept, pd.DataFrame(fresh)], ignore_index=True)
    atomic_write_text(path, table.to_csv(index=False, float_format="%.7g"))


class Progress:
    """One line per finished checkpoint, with an estimate of the time left: for each
    checkpoint not done, its updates since the previous checkpoint at the method's
    seconds per update (this run's so far, from segments that did not build and trace a
    model, else GUESS_RATE's), plus the method's measuring time (this run's mean, else 30 s)."""

    def __init__(self, ctx, specs, methods, checkpoints):
        self.ctx, self.checkpoints = ctx, list(checkpoints)
        self.pending = {(s, m, c) for s in specs for m in methods for c in checkpoints}
        self.total = len(self.pending)
        self.train = {m: [0.0, 0] for m in methods}  # seconds, updates
        self.measure = {m: [] for m in methods}

    def skip(self, spec, method, c) -> None:
        self.pending.discard((spec, method, c))
        self.total -= 1

    def finished(self, spec, method, c, updates, train_s, measure_s, rows, timed=True) -> None:
        self.pending.discard((spec, method, c))
        if updates and timed:
            self.train[method][0] += train_s
            self.train[method][1] += updates
        self.measure[method].append(measure_s)
        main = [r for r in rows if r["map"] == _main_map(method)][0]
        self.ctx.log(
            f"budget {spec}: {method} at {c:,} updates (trained {updates:,} in {train_s:.0f} s, "
            f"measured in {measure_s:.0f} s): val loss {main['val_loss']:.4g}, pixel AUROC "
            f"{main['map']} {main['pixel_auroc']:.3f} [{main['pixel_auroc_low']:.3f}, "
            f"{main['pixel_auroc_high']:.3f}], {'trained' if main['fit_trained'] else 'NOT trained'}; "
            f"{self.total - len(self.pending)}/{self.total} checkpoints, about "
            f"{self.left() / 60:.0f} min left")

    def left(self) -> float:
        seconds = 0.0
        for _, method, c in self.pending:
            spent, updates = self.train[method]
            guess = GUESS_RATE.get(self.ctx.profile["precision"], GUESS_RATE["float32"])
            per_update = (spent / updates if updates else
                          self.ctx.profile["batch_size"] / guess)
            i = self.checkpoints.index(c)
            seconds += (c - (self.checkpoints[i - 1] if i else 0)) * per_update
            times = self.measure[method]
            seconds += sum(times) / len(times) if times else 30.0
        return seconds


def _main_map(method: str) -> str:
    from methods import METHODS
    return METHODS[method].main_map
