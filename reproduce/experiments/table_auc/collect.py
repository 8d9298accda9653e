"""table_auc, step 1: every dataset's metrics, averaged over training seeds, with intervals.

Reads each evaluation's ``metrics.csv`` (one row per dataset x method x map x seed,
evaluation/metrics.py) and ``histograms.npz`` (per-seed, per-image pixel counts), and
returns one long table: a row per (dataset, method, map), the mean over seeds of every
metric, its standard deviation, the seed and trained-model counts (evaluation/
trainedness.py), and the 95 % bootstrap interval of the pixel ROC AUC
(evaluation/uncertainty.py). The rows are the paper's four maps (methods.MAPS, the
columns of its results table), then the cross rows (an autoencoder scored with the other
autoencoder's residual: the maps of methods.py that a method computes but are not its
own) and the two control detectors of evaluation/reference.py.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.scoring import COLUMNS
from methods import MAPS, METHODS, cross_maps

# the metrics of evaluation/scoring.py the table keeps (all but the percentile threshold)
METRICS = [c for c in COLUMNS if c != "threshold_p99_9"]
KEYS = ("dataset", "method", "map")
# each autoencoder scored with the other's residual (methods.cross_maps: the maps of
# MAPS a method computes that are not its own)
CROSS = {(method, name): f"{METHODS[method].label} scored with the {MAPS[name].short} residual"
         for method, name in cross_maps()}
# the controls of evaluation/reference.py: rows of metrics.csv with method "reference"
REFERENCE = {("reference", "knn"): "reference: nearest training patch (kNN)",
             ("reference", "intensity"): "reference: naive intensity"}
# what a map that knows nothing scores (a random map): AUPRO's is its FPR bound / 2
CHANCE = {"pixel_auroc": 0.5, "aupro_30": 0.15, "image_auroc": 0.5}
# the paper's comparisons: each map's pixel AUC minus the l2-AE's
PAIRS = {"ssim_minus_l2": ("ssim", "l2"), "vae_kl_minus_l2": ("vae_kl", "l2"),
         "vae_rp_minus_l2": ("vae_rp", "l2")}
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
            for key in FIT_MEANS:
                if key in group:
                    row[key] = float(pd.to_numeric(group[key], errors="coerce").mean())
        rows.append(row)
    return pd.DataFrame(rows)


def intervals(folder: Path) -> dict:
    """95 % bootstrap intervals (evaluation/uncertainty.py) of every map's seed-mean pixel
    AUC and of the PAIRS differences, from ``<eval>/histograms.npz``: {name: (lo, hi)};
    {} where the evaluation wrote none. The maps are resampled in the order of MAPS, then
    the controls (the order fixes each map's random draws); images in the units the
    file's ``groups`` names, where it has them (evaluation/uncertainty.py)."""
    from evaluation.uncertainty import bootstrap, interval

    path = folder / "histograms.npz"
    if not path.exists():
        return {}
    wanted = [(m.method, name) for name, m in MAPS.items()] + list(REFERENCE)
    with np.load(path, allow_pickle=False) as z:
        counts = {name: z[f"{method}__{name}"] for method, name in wanted
                  if f"{method}__{name}" in z.files}
        groups = z["groups"] if "groups" in z.files else None  # images sharing pixels
    if not counts:
        return {}
    samples = bootstrap(counts, groups=groups)
    out = {name: interval(values) for name, values in samples.items()}
    for claim, (a, b) in PAIRS.items():
        if a in samples and b in samples:
            out[claim] = interval(samples[a] - samples[b])
    for a in MAPS:  # every ordered pair of main maps, for the bold rule of the tables
        for b in MAPS:
            if a != b and a in samples and b in samples:
                out[versus(a, b)] = interval(samples[a] - samples[b])
    return out


def versus(a: str, b: str) -> str:
    """The key of the interval of map a's pixel AUC minus map b's in intervals()."""
    return f"{a} - {b}"


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
        path = ctx.eval_dir(spec) / "metrics.csv"
        if not path.exists():
            ctx.log(f"table_auc: no {path}, dataset {spec} left out")
            continue
        df = _per_seed(pd.read_csv(path))
        bounds[spec] = intervals(ctx.eval_dir(spec))
        columns += [c for c in df.columns if c not in KEYS and c not in columns]
        main = [(m.method, name, m.label) for name, m in MAPS.items()]
        extra = [(m, n, CROSS.get((m, n)) or REFERENCE.get((m, n), f"{m} / {n}"))
                 for m, n in zip(df["method"], df["map"])
                 if (m, n) not in {(a, b) for a, b, _ in main}]
        for method, name, label in main + extra:
            hit = df[(df["method"] == method) & (df["map"] == name)]
            row = {"dataset": spec, "method": method, "map": name, "label": label}
            for metric in columns:
                row[metric] = (float(hit[metric].iloc[0]) if len(hit) and metric in hit
                               else math.nan)
            low, high = ((math.nan, math.nan) if (method, name) in CROSS
                         else bounds[spec].get(name, (math.nan, math.nan)))
            row["pixel_auroc_lo"], row["pixel_auroc_hi"] = low, high
            rows.append(row)
    columns += ["pixel_auroc_lo", "pixel_auroc_hi"]
    return pd.DataFrame(rows, columns=[*KEYS, "label", *columns]), bounds


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


def _num(value):
    return round(float(value), 4) if value is not None and math.isfinite(value) else None


def by_kind(ctx, spec) -> dict:
    """Pixel ROC AUC of each map on the structural and on the intensity defects apart:
    {kind: {map: auc}}, each over the defect-free test images plus the defective images
    of that kind (with masks). The paper's claim is about the structural kind. {} where
    the dataset names no structural types or has no maps.npz."""
    from errors import InputError
    from evaluation.metrics import pixel_auroc

    path = ctx.eval_dir(spec) / "maps.npz"
    structural = set(ctx.structural_types(spec)) if path.exists() else set()
    if not structural:
        return {}
    out = {}
    with np.load(path, allow_pickle=False) as z:
        types = [str(t) for t in z["defect_types"]]
        labels, has_mask = np.asarray(z["labels"]), z["has_mask"].astype(bool)
        for kind in ("structural", "intensity"):
            chosen = np.array([lab == 1 and (t in structural) == (kind == "structural")
                               for t, lab in zip(types, labels)], dtype=bool)
            keep = has_mask & (chosen | (labels == 0))
            if not (chosen & has_mask).any():
                continue
            aucs = {}
            for name in MAPS:
                try:
                    aucs[name] = _num(pixel_auroc(z[name], z["masks"], keep)) if name in z else None
                except InputError:
                    aucs[name] = None
            out[kind] = aucs
    return out
