"""The whole reproduction: every experiment of the paper, in order, into one folder.

Three phases, from the registry (reproduce/experiments/__init__.py): the experiments that
need nothing trained (table1, fig_ssim_components, fig_datasets); then one evaluation per
dataset (reproduce/evaluate.py, training through the model cache); then the experiments
that read the evaluations (table_auc, fig_roc, fig_qualitative, fig_training, kl_map: the
VAEs the evaluations scored, from the model cache) and last those that read the finished
folder (``verify``: its numbers recomputed independently into verify.md; a mismatch is
logged and makes the run exit with status 1, after everything else is written).
``--only`` runs the named experiments, with the evaluations where one of them needs them.
One line per stage with the elapsed time and an estimate of what remains; ``run.json``
records profile, seeds, datasets, versions, commit, host, wall time per stage and
verify's verdict.

A profile with ``jobs`` > 1 evaluates that many datasets at once, each in its own process
(the smoke profile: its models are so small that tracing TensorFlow functions, which runs
on one core, dominates). Each evaluation is independent and seeded, so the results are the
same either way; only the order of the log lines changes.

TensorFlow is imported by ``run`` after ``plan`` has checked ``--only``, not with this
module.
"""
from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import textures
from errors import InputError
from files import atomic_write_text
from methods import default_methods, runnable
from reproduce.context import Context
from reproduce.experiments import EVALUATIONS, NOTHING, REGISTRY, RESULTS
from reproduce.provenance import provenance
from reproduce.quiet import import_tensorflow

EVALUATE = "evaluate"  # what --only calls the evaluations
# every name --only accepts, in run order
NAMES = ([e.name for e in REGISTRY.values() if e.needs == NOTHING] + [EVALUATE]
         + [e.name for e in REGISTRY.values() if e.needs != NOTHING])
# rough cost of one dataset's evaluation relative to the rest, for the first ETA
_FIRST_GUESS_S = {"smoke": 20, "cpu": 1000, "paper": 3000}


def plan(only: str | None = None) -> tuple[list, bool, list]:
    """(the experiments before the evaluations, whether to evaluate, the experiments after
    them), each list in registry order. ``only``: comma-separated names of REGISTRY or
    ``evaluate``; None: every experiment of a full run."""
    if not only:
        chosen = [e for e in REGISTRY.values() if e.in_full_run]
        evaluating = True
    else:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in NAMES]
        if unknown or not names:
            raise InputError(f"unknown experiment {(unknown or [only])[0]!r}: choose from "
                             f"{', '.join(NAMES)}")
        chosen = [e for e in REGISTRY.values() if e.name in names]
        evaluating = EVALUATE in names or any(e.needs == EVALUATIONS for e in chosen)
    after = [e for needs in (EVALUATIONS, RESULTS) for e in chosen if e.needs == needs]
    return [e for e in chosen if e.needs == NOTHING], evaluating, after


class _Progress:
    """One log line per finished stage, with an estimate of the time left: the mean
    evaluation so far (a first guess per profile before) for each evaluation left, shared
    by ``jobs`` processes, and 10 s for each other stage."""

    def __init__(self, ctx, stages: int, evaluations: int, jobs: int):
        self.ctx, self.stages, self.evaluations, self.jobs = ctx, stages, evaluations, jobs
        self.done, self.seconds, self.eval_seconds = 0, {}, []

    def finished(self, label: str, took: float, evaluation: bool = False) -> None:
        self.done += 1
        self.seconds[label] = round(took, 1)
        if evaluation:
            self.eval_seconds.append(took)
        left = self.evaluations - len(self.eval_seconds)
        per_eval = (sum(self.eval_seconds) / len(self.eval_seconds) if self.eval_seconds
                    else _FIRST_GUESS_S.get(self.ctx.profile["name"], 500))
        eta = left * per_eval / self.jobs + 10 * (self.stages - self.done - left)
        self.ctx.log(f"stage {self.done}/{self.stages} {label} done in {took:.0f} s; "
                     f"about {eta / 60:.0f} min left")


def run(profile: dict, out: Path, only: str | None = None, datasets: str | None = None,
        reuse_evaluations: bool = False, options: dict | None = None) -> int:
    """Run the phases; returns the exit status: 1 where verify found a mismatch, else 0.
    ``options``: single experiments' options (reproduce/context.py Context.options)."""
    before, evaluating, after = plan(only)  # unknown names: InputError before TensorFlow
    specs = [s.strip() for s in datasets.split(",")] if datasets else list(textures.DEFAULT_RUN)
    import_tensorflow()
    from reproduce.train import resolve_precision
    profile = resolve_precision(profile)  # once, before any worker starts
    ctx = Context(out=Path(out), profile=profile, datasets=specs, options=dict(options or {}))
    if reuse_evaluations and evaluating:
        missing = [s for s in specs if not (ctx.eval_dir(s) / "run.json").exists()]
        if missing:
            raise InputError(f"--reuse-evaluations: no complete evaluation of {missing[0]} in "
                             f"{ctx.eval_dir(missing[0])}; run without it")
        evaluating = False
    to_evaluate = specs if evaluating else []
    stages = [e.name for e in before] + ([EVALUATE] if evaluating else []) + [e.name for e in after]
    jobs = min(max(1, int(profile.get("jobs", 1))), max(1, len(to_evaluate)))
    progress = _Progress(ctx, len(before) + len(to_evaluate) + len(after), len(to_evaluate), jobs)
    origin = provenance()  # the code the run starts from
    ctx.log(f"profile {profile['name']}: {progress.stages} stages into {out}")
    # the default run's methods; one that cannot run here (the FM-AE without VGG19's
    # weights) is left out with one line
    methods = runnable(default_methods(), log=ctx.log) if evaluating else []

    results = {}
    for experiment in before:
        _run_experiment(experiment, ctx, progress, results)
    if jobs > 1:
        _evaluate_in_parallel(to_evaluate, methods, profile, ctx, jobs, progress)
    else:
        for spec in to_evaluate:
            progress.finished(f"evaluate {spec}", _evaluate_one(spec, methods, profile, ctx),
                              evaluation=True)
    for experiment in after:
        _run_experiment(experiment, ctx, progress, results)

    verified = results.get("verify")  # its report, where it ran
    record = {"command": "run_all", "profile": profile, "seeds": list(profile["seeds"]),
              "datasets": specs, "stages": stages, "seconds_per_stage": progress.seconds,
              "trainedness": _trainedness(ctx, specs),
              "wall_seconds": round(time.time() - ctx.started, 1),
              **({"options": ctx.options} if ctx.options else {}),
              "reused_evaluations": reuse_evaluations,
              **({"verify": verified.summary()} if verified else {}), **origin}
    previous = Path(out) / "run.json"
    if only and previous.exists():
        old = json.loads(previous.read_text())
        old.setdefault("later_partial_runs", []).append(record)
        record = old
    atomic_write_text(previous, json.dumps(record, indent=2, default=str))
    ctx.log(f"done in {(time.time() - ctx.started) / 60:.1f} min: {out}")
    if verified and verified.mismatches:
        ctx.log(f"VERIFY FAILED: {verified.mismatches} recomputed numbers disagree with the "
                f"folder; see {Path(out) / 'verify.md'}")
        return 1
    return 0


def _run_experiment(experiment, ctx, progress, results) -> None:
    t = time.time()
    results[experiment.name] = experiment.run(ctx)
    progress.finished(experiment.name, time.time() - t)


def _trainedness(ctx, specs) -> dict:
    """Per dataset, per model and seed: did it train (evaluation/trainedness.py), as its
    evaluation's run.json recorded it."""
    out = {}
    for spec in specs:
        path = ctx.eval_dir(spec) / "run.json"
        if path.exists():
            out[spec] = json.loads(path.read_text()).get("trainedness", {})
    trained = [m["trained"] for models in out.values() for m in models.values()]
    return {"models_trained": f"{sum(trained)}/{len(trained)}", "per_dataset": out}


def _evaluate_one(spec, methods, profile, ctx):
    """One dataset's evaluation (here or in a worker process), logging on the run's clock;
    returns its seconds."""
    from reproduce.evaluate import evaluate
    t = time.time()
    evaluate(spec, methods, profile, ctx.eval_dir(spec), log=ctx.log)
    return time.time() - t


def _evaluate_in_parallel(specs, methods, profile, ctx, jobs, progress):
    spawn = multiprocessing.get_context("spawn")  # a fresh TensorFlow per worker, quiet too
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn,
                             initializer=import_tensorflow) as pool:
        futures = {pool.submit(_evaluate_one, spec, methods, profile, ctx): spec for spec in specs}
        for future in as_completed(futures):
            progress.finished(f"evaluate {futures[future]}", future.result(), evaluation=True)
