"""verify, check 3: every number of table_auc.csv from metrics.csv and the resampling files.

Seed means, standard deviations (ddof 1), seed and trained counts, fit_* means, recomputed
from each evaluation's metrics.csv (inputs.seed_summary); a cross row's <metric>_minus_own
as its seed mean minus that of the same model's own map (methods.py main_map); the pixel
ROC AUC by defect kind (pixel_auroc_structural / _intensity) from check 2's seed means of
the binned AUC of histograms.npz; every <...>_lo / _hi from the intervals of check 2 (the
bootstrap of evaluation/uncertainty.py on histograms.npz and bootstrap.npz; NaN where the
evaluation kept nothing to resample). Tolerance 5e-5 (the table keeps 4 decimals); 1e-4
for <metric>_minus_own, a difference of two rounded means. table_auc.md is not parsed: it
formats table_auc.csv's numbers.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from methods import METHODS
from reproduce.context import folder_name
from reproduce.experiments.verify.histograms import KINDS
from reproduce.experiments.verify.inputs import CROSS, Evaluation, seed_summary
from reproduce.experiments.verify.report import DIFF_TOL, TABLE_TOL, Report

METRICS = ("pixel_auroc", "aupro_30", "image_auroc")
NAN = (math.nan, math.nan)


def expected_row(ev: Evaluation, method: str, name: str) -> dict:
    """What table_auc.csv should hold for one (method, map), recomputed."""
    expected = seed_summary(ev, method, name)
    cross = (method, name) in CROSS
    for metric in METRICS:
        bounds = ev.intervals.get((metric, method, name), NAN)
        expected[f"{metric}_lo"], expected[f"{metric}_hi"] = bounds
        column, own = f"{metric}_minus_own", math.nan
        if cross:
            own = seed_summary(ev, method, METHODS[method].main_map).get(metric, math.nan)
        expected[column] = expected.get(metric, math.nan) - own if cross else math.nan
        expected[f"{column}_lo"], expected[f"{column}_hi"] = ev.intervals.get(
            (metric, method, name, "own"), NAN)
    for kind in KINDS if ev.info.get("structural_types") is not None else ():
        column = f"pixel_auroc_{kind}"
        expected[column] = ev.kinds.get((method, name), {}).get(kind, math.nan)
        expected[f"{column}_lo"], expected[f"{column}_hi"] = ev.intervals.get(
            (column, method, name), NAN)
    return expected


def check_table(root: Path, evaluations: dict, report: Report) -> None:
    path = root / "table_auc.csv"
    if not path.exists():
        report.not_checked.append("no table_auc.csv")
        return
    check = report.check("table", "3. table_auc.csv from metrics.csv and the bootstrap",
                         f"{TABLE_TOL:g} (4 decimals); differences {DIFF_TOL:g}")
    table = pd.read_csv(path)
    skipped = set()
    for _, row in table.iterrows():
        folder = folder_name(str(row["dataset"]))
        ev = evaluations.get(folder)
        where = f"table_auc.csv: {row['dataset']} {row['method']}/{row['map']}"
        if ev is None:
            check.mismatches.append(f"{where}: no eval/{folder}/metrics.csv")
            continue
        expected = expected_row(ev, row["method"], row["map"])
        for column in table.columns:
            if column in ("dataset", "method", "map", "label"):
                continue
            if column not in expected:
                skipped.add(column)
                continue
            tol = DIFF_TOL if column.endswith("_minus_own") else TABLE_TOL
            check.number(f"{where} {column}", row[column], expected[column], tol)
    if skipped:
        report.not_checked.append(f"table_auc.csv columns with no source in metrics.csv: "
                                  f"{', '.join(sorted(skipped))}")
    report.not_checked.append("table_auc.md: not parsed (it formats table_auc.csv's numbers, "
                              "which are checked)")
