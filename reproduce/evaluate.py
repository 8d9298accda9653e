"""``evaluate``: train what is missing, compute every map, score it, write the folder.

Every method is trained once per training seed of the profile (``seeds``), on the same
data (made with the first seed). Writes into OUT: metrics.csv (one row per dataset x
method x map x seed; the main rows are l2_ae/l2, ssim_ae/ssim, vae/vae_kl, vae/vae_rp,
the cross rows l2_ae/ssim and ssim_ae/l2 score each autoencoder with the other residual,
the rows reference/knn and reference/intensity the controls of evaluation/reference.py;
each model's row carries its trainedness, evaluation/trainedness.py), maps.npz (the first
seed's maps; format in reproduce/context.py), histograms.npz (every seed's per-image pixel
histograms for the bootstrap intervals, evaluation/uncertainty.py), logs/ (every model's
training log) and run.json. Each file is written under a temporary name and renamed;
run.json comes last and marks the folder complete.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import textures
from evaluation.maps import anomaly_maps
from evaluation.reference import reference_maps
from evaluation.scoring import COLUMNS, score
from evaluation.trainedness import trainedness
from evaluation.uncertainty import pixel_histograms
from evaluation.windows import extract_patches
from files import atomic_write_bytes, atomic_write_text
from methods import check_method, own_maps
from reproduce import train as training
from reproduce.context import log_file
from reproduce.provenance import provenance

TRAINEDNESS = ("loss", "constant_loss", "loss_ratio", "nll_gain", "r2", "ssim", "spread_ratio",
               "correlation", "kl", "active_units", "trained")


def validation_patches(ds, profile):
    """The defect-free validation images cut into patches at a quarter of the patch size as stride:
    what trainedness is measured on (never seen in training)."""
    patches, _ = extract_patches(ds.val, profile["patch_size"], profile["patch_size"] // 4)
    return patches[..., None]


def maps_for(model, method, images, profile, maps=None):
    """The method's maps (``maps``: which ones, default all) at the profile's settings."""
    return anomaly_maps(model, method, images, patch=profile["patch_size"],
                        stride=profile["stride"], batch=profile["eval_batch"],
                        kl_stride=profile["kl_stride"], rp_samples=profile["rp_samples"],
                        maps=maps)


def _scored(stacked, ds, profile):
    """Maps of the test images followed by the validation images -> the test maps, their
    metrics (threshold from the validation maps) and their pixel histograms."""
    test_map, val_map = stacked[:len(ds.test)], stacked[len(ds.test):]
    metrics = score(test_map, val_map, ds.masks, ds.has_mask, ds.labels, profile["min_defect_area"])
    return test_map, metrics, pixel_histograms(test_map, ds.masks, ds.has_mask)


def evaluate(spec: str, methods, profile: dict, out: Path, log=print,
             train_seed: int | None = None) -> pd.DataFrame:
    """Evaluate the methods on one dataset into ``out``; returns the metrics table.

    The dataset is made with the profile's first seed; the models are trained with each
    of the profile's seeds, or only with ``train_seed`` where given (the same data,
    another training run: run-to-run noise)."""
    methods = [check_method(m) for m in methods]
    profile = training.resolve_precision(profile)
    seed = profile["seeds"][0]
    train_seeds = list(profile["seeds"]) if train_seed is None else [train_seed]
    timings = {}
    t = time.time()
    ds = textures.load(spec, seed=seed, small=profile["small_data"])
    ds = ds.subset(profile["max_test_good"], profile["max_test_per_type"], profile["max_val"])
    val_patches = validation_patches(ds, profile)
    timings["load_dataset"] = round(time.time() - t, 2)
    # run.json marks a complete folder and is written last: an older one must not vouch for
    # files this run is about to replace
    (out / "run.json").unlink(missing_ok=True)
    rows, arrays, histograms, trained, health = [], {}, {}, {}, {}
    for method in methods:
        for ts in train_seeds:
            first = ts == train_seeds[0]
            tag = f"{method} seed {ts}"
            t = time.time()
            log(f"{spec}: training {tag} (cached if done before)")
            folder = training.train(ds, method, profile, seed=ts, data_seed=seed)
            trained[f"{method}/seed{ts}"] = str(folder)
            timings[f"train_{method}_seed{ts}"] = round(time.time() - t, 2)
            t = time.time()
            log(f"{spec}: anomaly maps of {tag} on {len(ds.test)} test + {len(ds.val)} validation images")
            model = training.load_model(folder)
            fit = trainedness(model, method, val_patches)
            health[f"{method}/seed{ts}"] = fit
            log(f"{spec}: {tag} {'trained' if fit['trained'] else 'NOT TRAINED'}: R^2 {fit['r2']:.3f}, "
                f"loss {fit['loss']:.4g} vs constant {fit['constant_loss']:.4g}")
            # test and validation images in one call: the model's functions are traced once
            both = maps_for(model, method, np.concatenate([ds.test, ds.val]), profile)
            k = len(ds.test)
            recon = both.pop("recon")[:k]
            if first:
                arrays[f"recon_{method}"] = recon
            for name, stacked in both.items():
                test_map, metrics, counts = _scored(stacked, ds, profile)
                rows.append({"dataset": spec, "method": method, "map": name, "seed": ts, **metrics,
                             **{f"fit_{key}": fit.get(key) for key in TRAINEDNESS}})
                histograms.setdefault(f"{method}__{name}", []).append(counts)
                if first and name in own_maps(method):  # not the cross maps
                    arrays[name] = test_map
                    arrays[f"threshold_{name}"] = np.float32(metrics["threshold"])
            timings[f"evaluate_{method}_seed{ts}"] = round(time.time() - t, 2)
            atomic_write_bytes(log_file(out, method, ts, first),
                               (Path(folder) / "log.csv").read_bytes())
    t = time.time()
    log(f"{spec}: reference detectors (nearest training patch, naive intensity)")
    both = reference_maps(ds.train, np.concatenate([ds.test, ds.val]), seed=seed)
    for name, stacked in both.items():
        test_map, metrics, counts = _scored(stacked, ds, profile)
        rows.append({"dataset": spec, "method": "reference", "map": name, "seed": seed, **metrics})
        histograms[f"reference__{name}"] = [counts]
        arrays[f"reference_{name}"] = test_map
    timings["evaluate_reference"] = round(time.time() - t, 2)
    table = pd.DataFrame(rows, columns=["dataset", "method", "map", "seed", *COLUMNS,
                                        *[f"fit_{key}" for key in TRAINEDNESS]])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=ds.test, masks=ds.masks, has_mask=ds.has_mask,
                        labels=ds.labels, defect_types=np.array(ds.defect_types), **arrays)
    atomic_write_bytes(out / "maps.npz", buffer.getvalue())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, seeds=np.array(train_seeds), defect_types=np.array(ds.defect_types),
                        **{name: np.stack(h) for name, h in histograms.items()})
    atomic_write_bytes(out / "histograms.npz", buffer.getvalue())
    atomic_write_text(out / "metrics.csv", table.to_csv(index=False, float_format="%.7g"))
    info = {"command": "evaluate", "dataset": spec, "methods": methods, "profile": profile,
            "seeds": list(profile["seeds"]), "train_seeds": train_seeds, "models": trained,
            "trainedness": health, "seconds": timings,
            "test_images": int(len(ds.test)), "validation_images": int(len(ds.val)),
            "train_images": int(len(ds.train)), "dataset_source": ds.source,
            # the resolution every map and metric of this folder is at (textures/folders.py)
            "image_size": list(ds.image_shape), "image_size_rule": textures.image_size_rule(spec),
            "structural_types": list(ds.structural_types), **provenance()}
    atomic_write_text(out / "run.json", json.dumps(info, indent=2, default=str))
    return table
