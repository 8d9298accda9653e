"""verify, check 3: every number of table_auc.csv from metrics.csv.

Seed means, standard deviations (ddof 1), seed and trained counts, fit_* means, recomputed
from each evaluation's metrics.csv (inputs.seed_summary); pixel_auroc_lo/hi from the
intervals of check 2 (the bootstrap of evaluation/uncertainty.py on histograms.npz; none
for the cross rows). Tolerance 5e-5 (the table keeps 4 decimals). table_auc.md is not
parsed: it formats table_auc.csv's numbers.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from reproduce.context import folder_name
from reproduce.experiments.verify.inputs import CROSS, seed_summary
from reproduce.experiments.verify.report import TABLE_TOL, Report


def check_table(root: Path, evaluations: dict, report: Report) -> None:
    path = root / "table_auc.csv"
    if not path.exists():
        report.not_checked.append("no table_auc.csv")
        return
    check = report.check("table", "3. table_auc.csv from metrics.csv and the bootstrap",
                         f"{TABLE_TOL:g} (4 decimals)")
    table = pd.read_csv(path)
    skipped = set()
    for _, row in table.iterrows():
        folder = folder_name(str(row["dataset"]))
        ev = evaluations.get(folder)
        where = f"table_auc.csv: {row['dataset']} {row['method']}/{row['map']}"
        if ev is None:
            check.mismatches.append(f"{where}: no eval/{folder}/metrics.csv")
            continue
        expected = seed_summary(ev, row["method"], row["map"])
        lo, hi = (math.nan, math.nan) if (row["method"], row["map"]) in CROSS else \
            ev.intervals.get(row["map"], (math.nan, math.nan))
        expected.update(pixel_auroc_lo=lo, pixel_auroc_hi=hi)
        for column in table.columns:
            if column in ("dataset", "method", "map", "label"):
                continue
            if column not in expected:
                skipped.add(column)
                continue
            check.number(f"{where} {column}", row[column], expected[column], TABLE_TOL)
    if skipped:
        report.not_checked.append(f"table_auc.csv columns with no source in metrics.csv: "
                                  f"{', '.join(sorted(skipped))}")
    report.not_checked.append("table_auc.md: not parsed (it formats table_auc.csv's numbers, "
                              "which are checked)")
