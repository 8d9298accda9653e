"""``verify``: an independent check of a results folder against its own artefacts.

``python -m reproduce verify [RESULTS_DIR]`` (a reviewer's command; ``./run_all.sh`` runs
it as its last stage) recomputes what the files of the folder allow and compares it with
what the folder reports. Five checks, one module each, every rule and tolerance stated
in its docstring:

  maps.py        1. every metric of the first seed from maps.npz (where a local run kept
                    it), with scikit-learn, scipy and numpy: pixel and image ROC AUC, its
                    own AUPRO, IoU and F1 at the stored threshold; 2b. the histograms'
                    pixel counts from the masks
  histograms.py  2a. every seed's pixel ROC AUC from histograms.npz; 2c, 2d. its image
                    ROC AUC and AUPRO from bootstrap.npz; the pixel AUC by defect kind;
                    the 95 % intervals
  table.py       3. table_auc.csv from metrics.csv and the intervals
  claims.py      4. claims.json's numbers, its booleans by their stated rules, its summary
  readme.py      5. every README.md number against the one artefact value its ref
                    names (numbers.py: which numbers and refs a line holds;
                    sources.py: the values refs name); how to write a ref: readme.py

Its independence lies in what it recomputes with its own code: it never imports
evaluation/metrics.py or reproduce/experiments/table_auc/, and recomputes every AUROC
from the maps or the histograms with scikit-learn and numpy, and AUPRO with its own
implementation. The bootstrap intervals it does not re-implement: they come from
evaluation/uncertainty.py's ``resample``, run on the committed histograms, since a
second resampling loop could only copy the first one's draw order (histograms.py).
inputs.py reads the evaluation folders; report.py is the report, written to
``verify.md`` (each check: values compared, largest deviation, tolerance, each mismatch
with its file; and what could not be checked); any mismatch: exit status 1.
"""
from __future__ import annotations

import time
from pathlib import Path

from files import atomic_write_text
from reproduce.experiments.verify.claims import check_claims
from reproduce.experiments.verify.histograms import check_histograms
from reproduce.experiments.verify.inputs import read_evaluations
from reproduce.experiments.verify.maps import check_maps
from reproduce.experiments.verify.readme import check_readme
from reproduce.experiments.verify.report import Report
from reproduce.experiments.verify.table import check_table


def verify(root: Path, log=None) -> Report:
    """Run every check on the results folder ``root``; returns the report (not written)."""
    t = time.time()
    root = Path(root)
    report = Report(root)
    evaluations = {ev.name: ev for ev in read_evaluations(root)}
    for ev in evaluations.values():
        if log:
            log(f"verify: {ev.name}")
        check_maps(ev, report)
        check_histograms(ev, report)
    check_table(root, evaluations, report)
    check_claims(root, evaluations, report)
    check_readme(root, report)
    others = sorted(str(p.parent.relative_to(root)) for p in root.rglob("metrics.csv")
                    if p.parent.parent != root / "eval")
    if others:
        report.not_checked.append(f"metrics.csv outside eval/ (supplements): {', '.join(others)}")
    report.seconds = time.time() - t
    return report


def write(report: Report, path: Path) -> None:
    atomic_write_text(path, report.markdown())


def run(ctx) -> Report:
    """The last stage of ``all``: verify ctx.out, write ctx.out/verify.md."""
    path = ctx.out / "verify.md"
    report = verify(ctx.out, log=ctx.log)
    write(report, path)
    ctx.log(f"{report.summary()}; see {path}")
    return report
