"""The whole reproduction: every experiment of the paper, in order, into one folder.

Stages: the experiments that need no training (table1, fig_ssim_components,
fig_datasets), then one evaluation per dataset (training through the model cache), then
the experiments that read the evaluations (table_auc, fig_roc, fig_qualitative,
fig_training), and last ``verify`` (reproduce/verify.py: the folder's numbers recomputed
independently into verify.md; a mismatch is logged and makes the run exit with status 1,
after everything else is written). One line per stage with the elapsed time and an
estimate of what remains; ``run.json`` records profile, seeds, datasets, versions,
commit, host, wall time per stage and verify's verdict.

A profile with ``jobs`` > 1 evaluates that many datasets at once, each in its own process
(the smoke profile: its models are so small that tracing TensorFlow functions, which runs
on one core, dominates). Each evaluation is independent and seeded, so the results are the
same either way; only the order of the log lines changes.
"""
from __future__ import annotations

import importlib
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import textures
from reproduce.context import Context
from reproduce.evaluate import evaluate
from reproduce.profiles import METHODS
from reproduce.provenance import atomic_write_text, provenance
from reproduce.train import resolve_precision
from textures.errors import InputError

BEFORE = ("table1", "fig_ssim_components", "fig_datasets")
AFTER = ("table_auc", "fig_roc", "fig_qualitative", "fig_training")
FINAL = ("verify",)  # reads only the folder: ``--only verify`` evaluates nothing
EXPERIMENTS = BEFORE + ("evaluate",) + AFTER + FINAL
# rough cost of one dataset's evaluation relative to the rest, for the first ETA
_FIRST_GUESS_S = {"smoke": 20, "cpu": 1000, "paper": 3000}


def _select(only):
    if not only:
        return list(EXPERIMENTS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise InputError(f"unknown experiment {unknown[0]!r}: choose from {', '.join(EXPERIMENTS)}")
    if any(n in AFTER for n in names) and "evaluate" not in names:
        names.append("evaluate")  # cached models: evaluation time only
    return [n for n in EXPERIMENTS if n in names]


def run(profile: dict, out: Path, only: str | None = None, datasets: str | None = None,
        reuse_evaluations: bool = False) -> int:
    """Run the stages; returns the exit status: 1 where verify found a mismatch, else 0."""
    specs = [s.strip() for s in datasets.split(",")] if datasets else list(textures.DEFAULT_RUN)
    profile = resolve_precision(profile)  # once, before any worker starts
    ctx = Context(out=Path(out), profile=profile, datasets=specs)
    stages = _select(only)
    if reuse_evaluations and "evaluate" in stages:
        missing = [s for s in specs if not (ctx.eval_dir(s) / "run.json").exists()]
        if missing:
            raise InputError(f"--reuse-evaluations: no complete evaluation of {missing[0]} in "
                             f"{ctx.eval_dir(missing[0])}; run without it")
        stages.remove("evaluate")
    units = [(name, None) for name in stages if name != "evaluate"]
    if "evaluate" in stages:
        at = len([n for n in stages if n in BEFORE])
        units[at:at] = [("evaluate", spec) for spec in specs]
    seconds, eval_seconds = {}, []
    origin = provenance()  # the code the run starts from
    ctx.log(f"profile {profile['name']}: {len(units)} stages into {out}")
    done = 0

    def finished(label, took, is_eval):
        nonlocal done
        done += 1
        seconds[label] = round(took, 1)
        if is_eval:
            eval_seconds.append(took)
        left_evals = len(specs_to_eval) - len(eval_seconds)
        per_eval = (sum(eval_seconds) / len(eval_seconds)) if eval_seconds else \
            _FIRST_GUESS_S.get(profile["name"], 500)
        eta = left_evals * per_eval / jobs + 10 * (len(units) - done - left_evals)
        ctx.log(f"stage {done}/{len(units)} {label} done in {took:.0f} s; "
                f"about {eta / 60:.0f} min left")

    verified = None  # verify's report, where it ran
    specs_to_eval = [spec for name, spec in units if spec]
    jobs = min(max(1, int(profile.get("jobs", 1))), max(1, len(specs_to_eval)))
    for name, spec in units:
        if spec and jobs > 1:
            if spec == specs_to_eval[0]:
                _evaluate_in_parallel(specs_to_eval, profile, ctx, jobs, finished)
            continue
        if spec:
            finished(f"evaluate {spec}", _evaluate_one(spec, profile, ctx), True)
        else:
            t = time.time()
            result = importlib.import_module(f"reproduce.{name}").run(ctx)
            verified = result if name == "verify" else verified
            finished(name, time.time() - t, False)
    record = {"command": "run_all", "profile": profile, "seeds": list(profile["seeds"]),
              "datasets": specs, "stages": stages, "seconds_per_stage": seconds,
              "trainedness": _trainedness(ctx, specs),
              "wall_seconds": round(time.time() - ctx.started, 1),
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


def _evaluate_one(spec, profile, ctx):
    """One dataset's evaluation (here or in a worker process), logging on the run's clock;
    returns its seconds."""
    t = time.time()
    evaluate(spec, METHODS, profile, ctx.eval_dir(spec), log=ctx.log)
    return time.time() - t


def _evaluate_in_parallel(specs, profile, ctx, jobs, finished):
    spawn = multiprocessing.get_context("spawn")  # a fresh TensorFlow per worker
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        futures = {pool.submit(_evaluate_one, spec, profile, ctx): spec for spec in specs}
        for future in as_completed(futures):
            finished(f"evaluate {futures[future]}", future.result(), True)
