"""``evaluate``: train what is missing, compute every map, score it, write the folder.

Every method is trained once per training seed of the profile (``seeds``), on the same
data (made with the first seed). Three parts:

- run (``run_model``, ``run_reference``): each model trained through the cache
  (reproduce/train.py), judged on the validation patches (evaluation/trainedness.py),
  and its maps computed on the test and validation images in one call; then the
  controls of evaluation/reference.py;
- score (``score_maps``): each map's metrics on the test images, its threshold from the
  validation images (evaluation/scoring.py), its per-image pixel histograms, per-region
  pixel counts and image scores (evaluation/uncertainty.py, the intervals' inputs);
- write (``write``): into OUT metrics.csv (one row per dataset x method x map x seed; the
  main rows are each method's own maps (methods.py MAPS), the cross rows score each
  autoencoder with the other's residual, the rows reference/knn and reference/intensity
  are the controls; each model's row carries its trainedness as fit_* columns), maps.npz
  (the first seed's maps; format in reproduce/context.py), histograms.npz (every seed's
  per-image pixel histograms for the bootstrap intervals, evaluation/uncertainty.py),
  bootstrap.npz (what the intervals of AUPRO and image ROC AUC need beside them: every
  seed's per-region pixel counts in the same bins, and every test image's score), logs/
  (every model's training log) and run.json. Each file is written under a temporary
  name and renamed; run.json comes last and marks the folder complete.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import textures
from evaluation.maps import maps_for
from evaluation.metrics import image_scores
from evaluation.reference import reference_maps
from evaluation.scoring import COLUMNS, score
from evaluation.trainedness import FIELDS, FIT_COLUMNS, trainedness
from evaluation.uncertainty import (bin_edges, pixel_histograms, region_histograms,
                                    region_images)
from files import atomic_write_bytes, atomic_write_text
from methods import check_method, is_own
from reproduce import train as trainer
from reproduce.context import log_file
from reproduce.provenance import provenance
from training import load_model, validation_patches


@dataclass
class Collected:
    """What one dataset's evaluation gathers for its files, as it goes."""
    rows: list = field(default_factory=list)            # metrics.csv, one dict per row
    arrays: dict = field(default_factory=dict)          # maps.npz: the first seed's maps
    histograms: dict = field(default_factory=dict)      # histograms.npz: per map, per seed
    resample: dict = field(default_factory=dict)        # bootstrap.npz: per map, per seed
    model_folders: dict = field(default_factory=dict)   # "<method>/seed<k>": its cache folder
    fits: dict = field(default_factory=dict)            # "<method>/seed<k>": its trainedness
    logs: list = field(default_factory=list)            # (method, seed, first, its log.csv)
    seconds: dict = field(default_factory=dict)         # wall time per step


def evaluate(spec: str, methods, profile: dict, out: Path, log=print,
             train_seed: int | None = None) -> pd.DataFrame:
    """Evaluate the methods on one dataset into ``out``; returns the metrics table.

    The dataset is made with the profile's first seed; the models are trained with each
    of the profile's seeds, or only with ``train_seed`` where given (the same data,
    another training run: run-to-run noise). The profile's precision must be decided
    (reproduce/train.py resolve_precision)."""
    methods = [check_method(m) for m in methods]
    data_seed = profile["seeds"][0]
    train_seeds = list(profile["seeds"]) if train_seed is None else [train_seed]
    got = Collected()
    t = time.time()
    full = textures.load(spec, seed=data_seed, small=profile["small_data"])
    ds = full.subset(profile["max_test_good"], profile["max_test_per_type"], profile["max_val"])
    val_patches = validation_patches(full.val, profile["patch_size"])
    got.seconds["load_dataset"] = round(time.time() - t, 2)
    # run.json marks a complete folder and is written last: an older one must not vouch for
    # files this run is about to replace
    (out / "run.json").unlink(missing_ok=True)
    for method in methods:
        for seed in train_seeds:
            run_model(full, ds, method, seed, profile, val_patches, got, log,
                      first=seed == train_seeds[0])
    run_reference(ds, profile, got, log)
    return write(out, spec, methods, ds, profile, train_seeds, len(val_patches), got)


def run_model(full, ds, method, seed, profile, val_patches, got: Collected, log, first: bool):
    """Train (or find) one model on ``full`` (the whole dataset), judge it on the
    validation patches, map and score the test and validation images of ``ds``."""
    tag, spec = f"{method}/seed{seed}", full.spec
    t = time.time()
    log(f"{spec}: training {method} seed {seed} (cached if done before)")
    folder = trainer.train(full, method, profile, seed=seed, data_seed=profile["seeds"][0])
    got.model_folders[tag] = str(folder)
    got.seconds[f"train_{method}_seed{seed}"] = round(time.time() - t, 2)
    t = time.time()
    log(f"{spec}: anomaly maps of {method} seed {seed} on {len(ds.test)} test + "
        f"{len(ds.val)} validation images")
    model = load_model(folder)
    fit = got.fits[tag] = trainedness(model, method, val_patches)
    log(f"{spec}: {method} seed {seed} {'trained' if fit['trained'] else 'NOT TRAINED'}: "
        f"R^2 {fit['r2']:.3f}, loss {fit['loss']:.4g} vs constant {fit['constant_loss']:.4g}")
    # test and validation images in one call: the model's functions are traced once
    test_and_val = maps_for(model, method, np.concatenate([ds.test, ds.val]), profile)
    reconstructions = test_and_val.pop("recon")[:len(ds.test)]
    if first:
        got.arrays[f"recon_{method}"] = reconstructions
    for name, maps in score_maps(test_and_val, ds, profile):
        got.rows.append({"dataset": spec, "method": method, "map": name, "seed": seed,
                         **maps["metrics"], **{f"fit_{k}": fit.get(k) for k in FIELDS}})
        got.histograms.setdefault(f"{method}__{name}", []).append(maps["histograms"])
        for part in ("regions", "image"):
            got.resample.setdefault(f"{method}__{name}__{part}", []).append(maps[part])
        if first and is_own(method, name):  # not the cross maps
            got.arrays[name] = maps["test"]
            got.arrays[f"threshold_{name}"] = np.float32(maps["metrics"]["threshold"])
    got.logs.append((method, seed, first, Path(folder) / "log.csv"))
    got.seconds[f"evaluate_{method}_seed{seed}"] = round(time.time() - t, 2)


def run_reference(ds, profile, got: Collected, log):
    """The controls of evaluation/reference.py: the nearest-patch control, the intensity control."""
    t = time.time()
    log(f"{ds.spec}: controls (nearest-patch control, intensity control)")
    seed = profile["seeds"][0]
    test_and_val = reference_maps(ds.train, np.concatenate([ds.test, ds.val]), seed=seed)
    for name, maps in score_maps(test_and_val, ds, profile):
        got.rows.append({"dataset": ds.spec, "method": "reference", "map": name, "seed": seed,
                         **maps["metrics"]})
        got.histograms[f"reference__{name}"] = [maps["histograms"]]
        for part in ("regions", "image"):
            got.resample[f"reference__{name}__{part}"] = [maps[part]]
        got.arrays[f"reference_{name}"] = maps["test"]
    got.seconds["evaluate_reference"] = round(time.time() - t, 2)


def score_maps(test_and_val: dict, ds, profile):
    """For each map of the test images followed by the validation images: its name and
    {"test": the test maps, "metrics": their metrics (threshold from the validation
    maps), "histograms": their per-image pixel histograms, "regions": their per-region
    pixel counts in the same bins, "image": every test image's score}."""
    k = len(ds.test)
    for name, stacked in test_and_val.items():
        test, val = stacked[:k], stacked[k:]
        metrics = score(test, val, ds.masks, ds.has_mask, ds.labels, profile["min_defect_area"])
        edges = bin_edges(test, ds.has_mask)  # one set of bins for both kinds of counts
        yield name, {"test": test, "metrics": metrics,
                     "histograms": pixel_histograms(test, ds.masks, ds.has_mask, edges=edges),
                     "regions": region_histograms(test, ds.masks, ds.has_mask, edges=edges),
                     "image": image_scores(test).astype(np.float32)}


def write(out: Path, spec, methods, ds, profile, train_seeds, n_val_patches,
          got: Collected) -> pd.DataFrame:
    """Every file of the folder, run.json last; returns the metrics table."""
    for method, seed, first, path in got.logs:
        atomic_write_bytes(log_file(out, method, seed, first), path.read_bytes())
    table = pd.DataFrame(got.rows, columns=["dataset", "method", "map", "seed", *COLUMNS,
                                            *FIT_COLUMNS])
    _write_npz(out / "maps.npz", images=ds.test, masks=ds.masks, has_mask=ds.has_mask,
               labels=ds.labels, defect_types=np.array(ds.defect_types), **got.arrays)
    # groups: the bootstrap's units, test images that share pixels of one photo drawn
    # together (textures/real.py); every image its own unit elsewhere
    _write_npz(out / "histograms.npz", seeds=np.array(train_seeds),
               defect_types=np.array(ds.defect_types), groups=np.asarray(ds.groups),
               **{name: np.stack(h) for name, h in got.histograms.items()})
    # labels and region_image: which test images are defective, which image each defect
    # region lies in (the regions' order of evaluation/uncertainty.py region_histograms)
    _write_npz(out / "bootstrap.npz", seeds=np.array(train_seeds),
               labels=np.asarray(ds.labels), groups=np.asarray(ds.groups),
               region_image=region_images(ds.masks, ds.has_mask),
               **{name: np.stack(v) for name, v in got.resample.items()})
    atomic_write_text(out / "metrics.csv", table.to_csv(index=False, float_format="%.7g"))
    info = {"command": "evaluate", "dataset": spec, "methods": methods, "profile": profile,
            "seeds": list(profile["seeds"]), "train_seeds": train_seeds,
            "models": got.model_folders, "trainedness": got.fits, "seconds": got.seconds,
            "test_images": int(len(ds.test)), "validation_images": int(len(ds.val)),
            "test_units": int(len(np.unique(ds.groups))),
            "validation_patches": int(n_val_patches), "train_images": int(len(ds.train)),
            "dataset_source": ds.source,
            # the resolution every map and metric of this folder is at (textures/folders.py)
            "image_size": list(ds.image_shape), "image_size_rule": textures.image_size_rule(spec),
            "structural_types": list(ds.structural_types), **provenance()}
    atomic_write_text(out / "run.json", json.dumps(info, indent=2, default=str))
    return table


def _write_npz(path: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
