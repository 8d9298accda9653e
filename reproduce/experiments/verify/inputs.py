"""verify's inputs: the evaluation folders of a results folder, each read once, and which
rows of their metrics.csv stand for which map.

The maps and their owners come from methods.py (MAPS: the paper's four maps, each its
method's own; ``cross_maps``: each autoencoder scored with the other's residual); the
controls of evaluation/reference.py are the rows with method ``reference``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from errors import InputError
from methods import MAPS, METHODS, cross_maps

# each main map -> the method whose own map it is (its row in metrics.csv)
MAIN = {name: m.method for name, m in MAPS.items()}
REFERENCE = ("knn", "intensity")
# the maps maps.npz stores (first seed) -> their (method, map) rows in metrics.csv
STORED = {**{name: (method, name) for name, method in MAIN.items()},
          **{f"reference_{name}": ("reference", name) for name in REFERENCE}}
CROSS = tuple(cross_maps())
# one row per trained model: each method's main map (the VAE's two maps share one model)
MODELS = {entry.main_map: method for method, entry in METHODS.items()}


@dataclass
class Evaluation:
    """One evaluation folder, read once."""
    name: str
    folder: Path
    metrics: pd.DataFrame
    info: dict
    seeds: list
    kinds: dict = field(default_factory=dict)        # histograms.py: {kind: seed-mean AUC} by row
    intervals: dict = field(default_factory=dict)    # histograms.resampled_intervals(...)

    def rel(self, file: str) -> str:
        return f"eval/{self.name}/{file}"

    def rows(self, method: str, name: str) -> pd.DataFrame:
        m = self.metrics
        return m[(m["method"] == method) & (m["map"] == name)]

    def row(self, method: str, name: str, seed):
        """The row of one seed; a reference detector has one row, of the data seed."""
        rows = self.rows(method, name)
        if method != "reference":
            rows = rows[rows["seed"] == seed]
        return rows.iloc[0] if len(rows) else None


def read_evaluations(root: Path) -> list[Evaluation]:
    if not root.is_dir():
        raise InputError(f"results folder {root} does not exist: give the folder that "
                         "`python -m reproduce all --out` wrote")
    folders = sorted(p.parent for p in (root / "eval").glob("*/metrics.csv"))
    if not folders:
        raise InputError(f"{root} has no evaluation folder (eval/<dataset>/metrics.csv): "
                         "nothing to verify")
    out = []
    for folder in folders:
        try:
            metrics = pd.read_csv(folder / "metrics.csv")
            run_json = folder / "run.json"
            info = json.loads(run_json.read_text()) if run_json.exists() else {}
        except (ValueError, OSError) as e:
            raise InputError(f"cannot read {folder}: {e}")
        missing = {"method", "map", "seed", "pixel_auroc"} - set(metrics.columns)
        if missing:
            raise InputError(f"{folder / 'metrics.csv'} lacks the columns {sorted(missing)}")
        seeds = info.get("train_seeds") or sorted(metrics.loc[metrics["method"] != "reference",
                                                              "seed"].unique())
        out.append(Evaluation(folder.name, folder, metrics, info, [int(s) for s in seeds]))
    return out


def seed_summary(ev: Evaluation, method: str, name: str) -> dict:
    """What table_auc.csv should hold for one (method, map): means, sds (ddof 1), the
    number of seeds and of trained models."""
    group = ev.rows(method, name)
    out = {"n_seeds": group["seed"].nunique() if len(group) else math.nan}
    for column in group.columns:
        if column in ("dataset", "method", "map", "seed"):
            continue
        values = pd.to_numeric(group[column], errors="coerce")
        if column == "fit_trained":
            known = group[column].dropna()
            out["n_trained"] = (int(known.astype(str).str.lower().eq("true").sum())
                                if len(known) else math.nan)
            continue
        out[column] = values.mean() if values.notna().any() else math.nan
        out[f"{column}_sd"] = values.std(ddof=1) if len(values) > 1 else math.nan
    return out
