"""The whole reproduction: every experiment of the paper, in order, into one folder.

Stages: the experiments that need no training (table1, fig_ssim_components,
fig_datasets), then one evaluation per dataset (training through the model cache), then
the experiments that read the evaluations (table_auc, fig_roc, fig_qualitative,
fig_training). One line per stage with the elapsed time and an estimate of what remains;
``run.json`` records profile, seeds, datasets, versions, commit, host and wall time per
stage.
"""
from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import textures
from reproduce.context import Context
from reproduce.evaluate import evaluate
from reproduce.provenance import atomic_write_text, provenance
from textures.errors import InputError

BEFORE = ("table1", "fig_ssim_components", "fig_datasets")
AFTER = ("table_auc", "fig_roc", "fig_qualitative", "fig_training")
EXPERIMENTS = BEFORE + ("evaluate",) + AFTER
# rough cost of one dataset's evaluation relative to the rest, for the first ETA
_FIRST_GUESS_S = {"smoke": 20, "cpu": 500, "paper": 3000}


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
        reuse_evaluations: bool = False):
    specs = [s.strip() for s in datasets.split(",")] if datasets else list(textures.BUILTIN)
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
    for i, (name, spec) in enumerate(units):
        label = f"evaluate {spec}" if spec else name
        t = time.time()
        if spec:
            evaluate(spec, ("l2_ae", "ssim_ae", "vae"), profile, ctx.eval_dir(spec), log=ctx.log)
            eval_seconds.append(time.time() - t)
        else:
            importlib.import_module(f"reproduce.{name}").run(ctx)
        seconds[label] = round(time.time() - t, 1)
        left = [u for u in units[i + 1:] if u[0] == "evaluate"]
        per_eval = (sum(eval_seconds) / len(eval_seconds)) if eval_seconds else \
            _FIRST_GUESS_S.get(profile["name"], 500)
        eta = len(left) * per_eval + 10 * len(units[i + 1:])
        ctx.log(f"stage {i + 1}/{len(units)} {label} done in {seconds[label]:.0f} s; "
                f"about {eta / 60:.0f} min left")
    record = {"command": "run_all", "profile": profile, "seeds": list(profile["seeds"]),
              "datasets": specs, "stages": stages, "seconds_per_stage": seconds,
              "wall_seconds": round(time.time() - ctx.started, 1),
              "reused_evaluations": reuse_evaluations, **origin}
    previous = Path(out) / "run.json"
    if only and previous.exists():
        old = json.loads(previous.read_text())
        old.setdefault("later_partial_runs", []).append(record)
        record = old
    atomic_write_text(previous, json.dumps(record, indent=2, default=str))
    ctx.log(f"done in {(time.time() - ctx.started) / 60:.1f} min: {out}")
