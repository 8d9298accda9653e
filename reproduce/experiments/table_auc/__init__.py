"""The paper's results table: every method's anomaly map on every dataset.

Reads the metrics that ``reproduce.evaluate`` wrote (``<eval_dir>/metrics.csv``, one row
per dataset x map; computed in evaluation/metrics.py) and lays them out as the paper
does: rows = datasets, columns = the four anomaly maps (l2-AE, SSIM-AE, VAE KL, VAE
reconstruction probability). The paper reports the pixel ROC AUC; the per-region overlap
(AUPRO up to FPR 0.3, MVTec AD) is added because large defects dominate the pixel AUC.
A second table holds the image-level ROC AUC and the IoU / F1 of the segmentation at the
threshold chosen on defect-free validation images (never on the test set), with the
oracle F1 (best threshold on the test set) as an upper bound for reference.

Three steps, one module each (and bounds.py, collect's intervals):

  collect.py   the long table (seed means, standard deviations, trained counts, the
               pixel AUC by defect kind) and each dataset's bootstrap intervals
               (bounds.py: evaluation/uncertainty.py on histograms.npz and bootstrap.npz)
  claims.py    the numbers behind the paper's claims, per dataset: ``claims.json``
  markdown.py  the tables a reader sees: ``table_auc.md`` (a map in bold where it leads
               by more than its interval; the controls; the published numbers from other
               data in their own section; for an MVTec AD texture category, [MVTec AD]'s
               AE(l2) and AE(SSIM) beside ours with the metrics' definitions)

Writes ``table_auc.csv`` (long: dataset, method, map, label, every metric, its ``_sd``
over seeds, n_seeds, n_trained and the fit_* means, then the intervals' columns, each
defined in collect.py's docstring: <metric>_lo/_hi for pixel_auroc, aupro_30 and
image_auroc on every row, <metric>_minus_own (+ _lo/_hi) on the cross rows,
pixel_auroc_structural / _intensity (+ _lo/_hi); NaN where there is nothing to resample;
no rows for a method the run left out), ``table_auc.md`` and ``claims.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from files import atomic_write_text
from methods import MAPS
from reproduce.experiments.table_auc.claims import claims
from reproduce.experiments.table_auc.collect import by_kind, collect
from reproduce.experiments.table_auc.markdown import document, fmt


def run(ctx) -> list[Path]:
    ctx.out.mkdir(parents=True, exist_ok=True)
    long, bounds = collect(ctx)
    if long.empty:
        raise RuntimeError("table_auc: no metrics.csv found for any dataset of this run: "
                           "run the evaluation first")
    csv_path, md_path, claims_path = (ctx.out / "table_auc.csv", ctx.out / "table_auc.md",
                                      ctx.out / "claims.json")
    ran = long["n_seeds"].notna()  # a method the run left out has no row here ('not run' in the .md)
    atomic_write_text(csv_path, long[ran].to_csv(index=False, float_format="%.4f"))
    kinds = {spec: by_kind(long, spec) for spec in long["dataset"].unique()}
    atomic_write_text(md_path, document(ctx, long, bounds))
    found = claims(long, kinds, bounds)
    atomic_write_text(claims_path, json.dumps(found, indent=2, allow_nan=False) + "\n")
    for spec, d in found["datasets"].items():
        ctx.log(f"table_auc: {spec}: pixel AUC " + ", ".join(
            f"{MAPS[m].label} {fmt(v)}" for m, v in d["pixel_auroc"].items()))
    return [csv_path, md_path, claims_path]
