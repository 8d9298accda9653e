"""``kl_map``: the VAE's KL map explained (Section 3.1.2; issue 22, item 5).

The VAE's KL map (KL(Q(z|x) || N(0, I)) of the window around each pixel) ranked defects
below defect-free texture on most datasets. Whether that is the code or the method is
measured here, on the VAEs the evaluation scored (every training seed of every dataset of
the run), with measure.py:

1. placement: the map against the closed-form KL of hand-cut windows at a defect's
   centroid, in float32 (a float32 copy of the model's weights, where two batchings of a
   window agree to rounding) and as the model computes in its run (bf16 where it was
   trained so, where two batchings of a window differ: 0.05-0.1 nats on fabric1 and
   nanofibres);
2. every window of the map's grid in every test image, its KL split into the mean part
   0.5 |mu|^2 and the variance part, with its contrast (std) and the VAE's R^2 on it,
   defective windows against the windows of the defect-free test images, per defect kind;
3. probes on defect-free validation windows: contrast scaled, and white noise.

Models: each dataset's evaluation folder records the cache folder of every model it
scored (run.json ``models``); the VAEs are read from there (by folder name under the
model cache, reproduce/cache.py, or at the recorded path). Without an evaluation folder,
the model the current code's cache key names (reproduce/cache.py ``model_dir``) for each of
the profile's training seeds. Nothing is trained: a model that is not in the cache is left
out with one line; none at all is an error. run.json says for each model whether its key
is the current code's. The data: the dataset as the evaluation made it (textures.load with
the run's first seed, the profile's subset: every test and validation image).

Written into ``<out>/kl_map/``: table_kl_map.md and .csv (per model and defect kind),
fig_kl_map.png, run.json (the models and their cache keys, the placement checks, the
probes, seconds per model; provenance). report.py writes them.

Cost, measured at the ``cpu`` profile on a 2-core AMD EPYC with AVX512-BF16 (bf16 models,
a shared machine; run.json records each model's seconds and CPU seconds): 13-21 s of CPU
per VAE of a 512 x 512 dataset (fabric1: 5,408 windows encoded and decoded, the placement
check's maps on 7 images twice, 5 x 256 probe windows), 16-24 s of wall time per VAE on
a machine shared with another run: about a minute per dataset of three seeds (not measured
on brick, whose 128 px crops have one window each). It is in the full run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import textures
from errors import InputError
from files import atomic_write_text
from methods import METHODS, function
from reproduce.cache import cache_root, model_dir
from reproduce.experiments.kl_map import measure, report
from reproduce.provenance import provenance

FOLDER = "kl_map"
METHOD_LABEL = METHODS[measure.METHOD].label
# what run.json keeps of each model
RECORDED = ("dataset", "seed", "data_seed", "folder", "cache_key", "current_code_key",
            "trained_at", "precision", "seconds", "cpu_seconds", "pixel_auroc", "summary",
            "placement", "placement_as_run", "probes")


def run(ctx) -> list[Path]:
    import keras

    from training import load_model
    root = ctx.out / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.json").unlink(missing_ok=True)
    started, found = time.time(), []
    for spec in ctx.datasets:
        models = find_models(ctx, spec)
        if not models:
            continue
        data_seed = models[0]["data_seed"]
        p = ctx.profile
        ds = textures.load(spec, seed=data_seed, small=p["small_data"]).subset(
            p["max_test_good"], p["max_test_per_type"], p["max_val"])
        for entry in models:
            t, cpu = time.time(), time.process_time()
            model = load_model(entry["path"])
            entry.update(measure_model(model, ds, entry, p))
            entry["pixel_auroc"] = _pixel_auroc(ctx, spec, entry["seed"])
            entry["seconds"] = round(time.time() - t, 1)
            entry["cpu_seconds"] = round(time.process_time() - cpu, 1)  # every thread's
            ctx.log(f"kl_map: {spec} seed {entry['seed']}: window AUROC of the KL "
                    f"{entry['summary'][-1]['auroc_kl']:.2f}, placement within "
                    f"{max(r['abs_diff'] for r in entry['placement']):.1e} nats (float32); "
                    f"{entry['seconds']:.0f} s ({entry['cpu_seconds']:.0f} s of CPU)")
            found.append(entry)
            keras.backend.clear_session()
    if not found:
        raise InputError(f"kl_map: no trained {METHOD_LABEL} of {', '.join(ctx.datasets)} in the "
                         f"model cache ({cache_root() / 'models'}); run the evaluation first "
                         "(python -m reproduce all, or evaluate)")
    written = report.write(root, found, ctx.profile)
    record = {"experiment": FOLDER, "datasets": list(ctx.datasets), "profile": ctx.profile,
              "share_defective": measure.SHARE, "contrasts": list(measure.CONTRASTS),
              "probe_windows": measure.PROBE_WINDOWS,
              "models": [{k: e[k] for k in RECORDED} for e in found],
              "wall_seconds": round(time.time() - started, 1), **provenance()}
    atomic_write_text(root / "run.json", json.dumps(record, indent=2, default=_plain))
    return written + [root / "run.json"]


def find_models(ctx, spec: str) -> list[dict]:
    """The dataset's trained VAEs, one dict per training seed: the evaluation's (its
    run.json), else those of the current code's keys for the profile's seeds. Each that is
    not in the cache is left out with one line."""
    try:
        info = json.loads((ctx.eval_dir(spec) / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    seeds = info.get("train_seeds") or list(ctx.profile["seeds"])
    data_seed = (info.get("seeds") or ctx.profile["seeds"])[0]
    out = []
    for seed in seeds:
        current = model_dir(spec, seed, measure.METHOD, ctx.profile, data_seed)
        recorded = info.get("models", {}).get(f"{measure.METHOD}/seed{seed}")
        candidates = ([cache_root() / "models" / Path(recorded).name, Path(recorded)]
                      if recorded else [current])
        folder = next((c for c in candidates if (c / "run.json").exists()
                       and (c / "model.keras").exists()), None)
        if folder is None:
            ctx.log(f"kl_map: {spec} seed {seed}: no trained {METHOD_LABEL} at "
                    f"{candidates[0]}; left out")
            continue
        trained = json.loads((folder / "run.json").read_text())
        if trained.get("dataset") != spec:
            ctx.log(f"kl_map: {spec} seed {seed}: {folder} holds a model of "
                    f"{trained.get('dataset')!r}; left out")
            continue
        out.append({"dataset": spec, "seed": int(seed), "data_seed": int(data_seed),
                    "path": folder, "folder": folder.name,
                    "cache_key": folder.name.rsplit("-", 1)[-1],
                    "current_code_key": folder.name == current.name,
                    "trained_at": trained.get("git_commit", "unknown"),
                    "profile": {**{k: ctx.profile[k] for k in ("latent_dim", "patch_size",
                                                               "precision")},
                                **trained.get("profile", {})}})
    return out


def measure_model(model, ds, entry: dict, profile: dict) -> dict:
    """Every measurement of one VAE (measure.py) on the grid of its map: the patch size
    it was trained at, the run's kl_stride. The placement is checked twice: on a float32
    copy of the model (its weights in a model built under the float32 policy) and on the
    model as the run computes it (bf16 where it was trained in bf16)."""
    trained = entry["profile"]
    patch, stride = int(trained["patch_size"]), int(profile["kl_stride"])
    batch = int(profile["eval_batch"])
    as_run = measure.placement(model, ds, patch, stride, batch)
    in_float32 = as_run
    if any(layer.dtype_policy.compute_dtype != "float32" for layer in model.encoder.layers):
        in_float32 = measure.placement(float32_copy(model, trained), ds, patch, stride, batch)
    table = measure.window_table(model, ds, patch, stride, batch)
    return {"precision": trained.get("precision", "unknown"), "placement": in_float32,
            "placement_as_run": as_run, "summary": measure.summary_rows(table),
            "probes": measure.probes(model, ds.val, patch, stride, batch)}


def float32_copy(model, trained: dict):
    """The same VAE computing in float32: built by its builder (methods.py) under the
    float32 policy, the trained weights copied in."""
    import training
    training.set_precision("float32")
    copy = function(METHODS[measure.METHOD].builder)(latent_dim=int(trained["latent_dim"]),
                                                     patch_size=int(trained["patch_size"]))
    copy.set_weights(model.get_weights())
    return copy


def _pixel_auroc(ctx, spec: str, seed: int) -> float:
    """The KL map's pixel AUROC in the evaluation's metrics.csv (None where absent)."""
    try:
        table = pd.read_csv(ctx.eval_dir(spec) / "metrics.csv")
        hit = table[(table["method"] == measure.METHOD) & (table["map"] == measure.KL_MAP)
                    & (table["seed"] == seed)]
        return float(hit["pixel_auroc"].iloc[0]) if len(hit) else None
    except (OSError, KeyError, ValueError, pd.errors.EmptyDataError):
        return None


def _plain(value):
    """JSON for numpy scalars and paths."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
