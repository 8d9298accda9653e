"""``evaluate``: train what is missing, compute every map, score it, write the folder.

Writes into OUT: metrics.csv (one row per dataset x method x map; the main rows are
l2_ae/l2, ssim_ae/ssim, vae/vae_kl, vae/vae_rp, the cross rows l2_ae/ssim and
ssim_ae/l2 score each autoencoder with the other residual), maps.npz (format in
reproduce/context.py), logs/<method>.csv and run.json. Each file is written under a
temporary name and renamed; run.json comes last and marks the folder complete.
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
from evaluation.scoring import COLUMNS, score
from reproduce import train as training
from reproduce.profiles import check_method
from reproduce.provenance import atomic_write_bytes, atomic_write_text, provenance

MAIN_MAP = {"l2_ae": "l2", "ssim_ae": "ssim"}


def maps_for(model, method, images, profile, maps=None):
    """The method's maps (``maps``: which ones, default all) at the profile's settings."""
    return anomaly_maps(model, method, images, patch=profile["patch_size"],
                        stride=profile["stride"], batch=profile["eval_batch"],
                        kl_stride=profile["kl_stride"], rp_samples=profile["rp_samples"],
                        maps=maps)


def evaluate(spec: str, methods, profile: dict, out: Path, log=print,
             train_seed: int | None = None) -> pd.DataFrame:
    """Evaluate the methods on one dataset into ``out``; returns the metrics table.

    The dataset is made with the profile's seed, and so are the models unless
    ``train_seed`` is given (the same data, another training run: run-to-run noise)."""
    methods = [check_method(m) for m in methods]
    profile = training.resolve_precision(profile)
    seed = profile["seeds"][0]
    train_seed = seed if train_seed is None else train_seed
    timings = {}
    t = time.time()
    ds = textures.load(spec, seed=seed, small=profile["small_data"])
    ds = ds.subset(profile["max_test_good"], profile["max_test_per_type"], profile["max_val"])
    timings["load_dataset"] = round(time.time() - t, 2)
    # run.json marks a complete folder and is written last: an older one must not vouch for
    # files this run is about to replace
    (out / "run.json").unlink(missing_ok=True)
    rows, arrays, trained = [], {}, {}
    for method in methods:
        t = time.time()
        log(f"{spec}: training {method} (cached if done before)")
        folder = training.train(ds, method, profile, seed=train_seed, data_seed=seed)
        trained[method] = str(folder)
        timings[f"train_{method}"] = round(time.time() - t, 2)
        t = time.time()
        log(f"{spec}: anomaly maps of {method} on {len(ds.test)} test + {len(ds.val)} validation images")
        model = training.load(folder)
        # test and validation images in one call: the model's functions are traced once
        both = maps_for(model, method, np.concatenate([ds.test, ds.val]), profile)
        k = len(ds.test)
        arrays[f"recon_{method}"] = both.pop("recon")[:k]
        for name, stacked in both.items():
            test_map = stacked[:k]
            metrics = score(test_map, stacked[k:], ds.masks, ds.has_mask, ds.labels,
                            profile["min_defect_area"])
            rows.append({"dataset": spec, "method": method, "map": name, **metrics})
            if MAIN_MAP.get(method, name) == name:
                arrays[name] = test_map
                arrays[f"threshold_{name}"] = np.float32(metrics["threshold"])
        timings[f"evaluate_{method}"] = round(time.time() - t, 2)
        atomic_write_bytes(out / "logs" / f"{method}.csv", (Path(folder) / "log.csv").read_bytes())
    table = pd.DataFrame(rows, columns=["dataset", "method", "map", *COLUMNS])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=ds.test, masks=ds.masks, has_mask=ds.has_mask,
                        labels=ds.labels, defect_types=np.array(ds.defect_types), **arrays)
    atomic_write_bytes(out / "maps.npz", buffer.getvalue())
    atomic_write_text(out / "metrics.csv", table.to_csv(index=False, float_format="%.7g"))
    info = {"command": "evaluate", "dataset": spec, "methods": methods, "profile": profile,
            "seeds": list(profile["seeds"]), "train_seed": train_seed, "models": trained, "seconds": timings,
            "test_images": int(len(ds.test)), "validation_images": int(len(ds.val)),
            "train_images": int(len(ds.train)), "dataset_source": ds.source,
            "structural_types": list(ds.structural_types), **provenance()}
    atomic_write_text(out / "run.json", json.dumps(info, indent=2, default=str))
    return table
