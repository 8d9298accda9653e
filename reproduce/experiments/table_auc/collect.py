"""table_auc, step 1: every dataset's metrics, averaged over training seeds, with intervals.

Reads each evaluation's ``metrics.csv`` (one row per dataset x method x map x seed,
evaluation/metrics.py) and its resampling files (bounds.py: ``histograms.npz``, per-seed,
per-image pixel counts, and ``bootstrap.npz``, per-region counts and image scores), and
returns one long table: a row per (dataset, method, map), the mean over seeds of every
metric, its standard deviation, the seed and trained-model counts (evaluation/
trainedness.py), the 95 % bootstrap intervals, and the pixel ROC AUC by defect kind. The
rows are the paper's four maps (methods.MAPS, the columns of its results table), then the
cross rows (an autoencoder scored with the other autoencoder's residual: the maps of
methods.py that a method computes but are not its own) and the two control detectors of
evaluation/reference.py. The columns beyond the metrics (``INTERVAL_COLUMNS``; NaN where
the evaluation has no file to resample, the number then descriptive):

  <metric>_lo, _hi         the 95 % interval of the seed mean, for pixel_auroc, aupro_30
                           and image_auroc, on every row (bootstrap.npz needed for the
                           last two)
  <metric>_minus_own       cross rows only: the row's seed mean minus that of the same
     (+ _lo, _hi)          model scored with its own residual (l2-AE with the SSIM map
                           minus l2-AE with the l2 map), with the interval of the
                           difference (images and seeds paired)
  pixel_auroc_<kind>       pixel ROC AUC over the defect-free test images and the
     (+ _lo, _hi)          defective ones of one kind (structural, intensity), mean over
                           seeds of the binned AUC of histograms.npz, with its interval;
                           NaN where the dataset names no structural types
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evaluation.scoring import COLUMNS
from methods import MAPS, METHODS, cross_maps
from reproduce.experiments.table_auc.bounds import (KINDS, PAIRS, intervals, kind_means,
                                                    key, own_map, row, versus)

# the metrics of evaluation/scoring.py the table keeps (all but the percentile threshold)
METRICS = [c for c in COLUMNS if c != "threshold_p99_9"]
KEYS = ("dataset", "method", "map")
# each autoencoder scored with the other's residual (methods.cross_maps: the maps of
# MAPS a method computes that are not its own)
CROSS = {(method, name): f"{METHODS[method].label} scored with the {MAPS[name].short} residual"
         for method, name in cross_maps()}
# the controls of evaluation/reference.py: rows of metrics.csv with method "reference"
REFERENCE = {("reference", "knn"): "nearest-patch control",
             ("reference", "intensity"): "intensity control"}
# what a map that knows nothing scores (a random map): AUPRO's is its FPR bound / 2
CHANCE = {"pixel_auroc": 0.5, "aupro_30": 0.15, "image_auroc": 0.5}
INTERVAL_METRICS = ("pixel_auroc", "aupro_30", "image_auroc")
INTERVAL_COLUMNS = ([f"{m}_{end}" for m in INTERVAL_METRICS for end in ("lo", "hi")]
                    + [f"{m}_minus_own{end}" for m in INTERVAL_METRICS
                       for end in ("", "_lo", "_hi")]
                    + [f"pixel_auroc_{kind}{end}" for kind in KINDS
                       for end in ("", "_lo", "_hi")])
FIT_MEANS = ("fit_r2", "fit_loss_ratio", "fit_nll_gain", "fit_active_units")


def _per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """A metrics.csv with one row per (method, map): the mean over its seeds, with the
    standard deviation (``<metric>_sd``), the number of seeds and of trained models."""
    if "seed" not in df:
        df = df.assign(seed=0)
    rows = []
    for (method, name), group in df.groupby(["method", "map"], sort=False):
        row = {"method": method, "map": name, "n_seeds": int(group["seed"].nunique())}
        for metric in METRICS:
            if metric in group:
                values = group[metric].astype(float)
                row[metric] = float(values.mean())
                row[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        if "fit_trained" in group and group["fit_trained"].notna().any():
            row["n_trained"] = int(group["fit_trained"].astype(str).str.lower().eq("true").sum())
            for fit in FIT_MEANS:
                if fit in group:
                    row[fit] = float(pd.to_numeric(group[fit], errors="coerce").mean())
        rows.append(row)
    return pd.DataFrame(rows)


def above(box: dict, key: str, level: float = 0.0) -> bool:
    """Whether the 95 % interval ``box[key]`` (intervals()) lies above ``level``; False
    where there is none. The rule behind every bold cell and every claim that holds."""
    low = box.get(key, (math.nan,))[0]
    return bool(math.isfinite(low) and low > level)


def collect(ctx) -> tuple[pd.DataFrame, dict]:
    """Long table of every dataset's metrics.csv, each (method, map) averaged over its
    training seeds: the four main rows in MAPS order (NaN where a method was not
    evaluated), then any other rows the evaluation wrote (the cross rows: each autoencoder
    scored with the other residual; the reference detectors). With it, each dataset's
    bootstrap intervals ({spec: intervals(...)})."""
    rows, columns, bounds = [], list(METRICS), {}
    for spec in ctx.datasets:
        folder = ctx.eval_dir(spec)
        if not (folder / "metrics.csv").exists():
            ctx.log(f"table_auc: no {folder / 'metrics.csv'}, dataset {spec} left out")
            continue
        df = _per_seed(pd.read_csv(folder / "metrics.csv"))
        # the structural types only where there is something to split (they may load the data)
        structural = ctx.structural_types(spec) if (folder / "histograms.npz").exists() else ()
        bounds[spec] = intervals(folder, structural)
        kinds = kind_means(folder, structural)
        columns += [c for c in df.columns if c not in KEYS and c not in columns]
        main = [(m.method, name, m.label) for name, m in MAPS.items()]
        extra = [(m, n, CROSS.get((m, n)) or REFERENCE.get((m, n), f"{m} / {n}"))
                 for m, n in zip(df["method"], df["map"])
                 if (m, n) not in {(a, b) for a, b, _ in main}]
        for method, name, label in main + extra:
            hit = df[(df["method"] == method) & (df["map"] == name)]
            entry = {"dataset": spec, "method": method, "map": name, "label": label}
            for metric in columns:
                entry[metric] = (float(hit[metric].iloc[0]) if len(hit) and metric in hit
                                 else math.nan)
            rows.append(entry)
        for entry in rows[-len(main + extra):]:
            entry.update(_interval_columns(entry, rows, bounds[spec], kinds))
    columns += INTERVAL_COLUMNS
    return pd.DataFrame(rows, columns=[*KEYS, "label", *columns]), bounds


def _interval_columns(entry: dict, rows: list, box: dict, kinds: dict) -> dict:
    """INTERVAL_COLUMNS of one row of the long table (module docstring): ``rows`` the
    long table so far (for a cross row's own map), ``box`` its dataset's intervals
    (bounds.intervals), ``kinds`` its pixel AUC by kind (bounds.kind_means)."""
    nan = (math.nan, math.nan)
    method, name = entry["method"], entry["map"]
    out, this = dict.fromkeys(INTERVAL_COLUMNS, math.nan), row(method, name)
    for metric in INTERVAL_METRICS:
        out[f"{metric}_lo"], out[f"{metric}_hi"] = box.get(key(metric, this), nan)
    if (method, name) in CROSS:
        own = next(r for r in rows if r["dataset"] == entry["dataset"]
                   and (r["method"], r["map"]) == (method, own_map(method)))
        for metric in INTERVAL_METRICS:
            column = f"{metric}_minus_own"
            out[column] = entry[metric] - own[metric]
            out[f"{column}_lo"], out[f"{column}_hi"] = box.get(
                key(metric, versus(this, own_map(method))), nan)
    for kind, means in kinds.items():
        metric = f"pixel_auroc_{kind}"
        out[metric] = means.get(this, math.nan)
        out[f"{metric}_lo"], out[f"{metric}_hi"] = box.get(key(metric, this), nan)
    return out


def is_cross(long: pd.DataFrame) -> np.ndarray:
    """Which rows of the long table are cross rows (CROSS)."""
    return np.array([k in CROSS for k in zip(long["method"], long["map"])], dtype=bool)


def main_rows(long: pd.DataFrame) -> pd.DataFrame:
    """Only the four main rows per dataset (method, map) of MAPS."""
    keys = {(m.method, name) for name, m in MAPS.items()}
    return long[np.array([k in keys for k in zip(long["method"], long["map"])], dtype=bool)]


def model_rows(long: pd.DataFrame) -> pd.DataFrame:
    """One main row per trained model (its method's main map): a method whose maps share
    one model (the VAE's two) counts once."""
    rows = main_rows(long)
    return rows[np.array([METHODS[m].main_map == n for m, n in zip(rows["method"], rows["map"])],
                         dtype=bool)]


def by_kind(long: pd.DataFrame, spec: str) -> dict:
    """Pixel ROC AUC of each main map on the structural and on the intensity defects
    apart, from the long table: {kind: {map: auc}} (rounded; None where missing), each
    over the defect-free test images plus the defective images of that kind (with masks),
    the mean over seeds (bounds.kind_means). The paper's claim is about the structural
    kind. {} where the dataset names no structural types or has no histograms.npz."""
    rows = main_rows(long[long["dataset"] == spec])
    out = {}
    for kind in KINDS:
        column = f"pixel_auroc_{kind}"
        if column in rows and rows[column].notna().any():
            out[kind] = {name: _num(value) for name, value in zip(rows["map"], rows[column])}
    return out


def _num(value):
    return round(float(value), 4) if value is not None and math.isfinite(value) else None
