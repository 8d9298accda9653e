"""``verify``: an independent check of a results folder against its own artefacts.

``python -m reproduce verify [RESULTS_DIR]`` (a reviewer's command; ``./run_all.sh`` runs
it as its last stage) recomputes what the files of the folder allow and compares it with
what the folder reports. It is independent of the code under test: it never imports
evaluation/metrics.py, evaluation/uncertainty.py or reproduce/experiments/table_auc.py,
and recomputes with scikit-learn, scipy and numpy from the definitions (the rules it follows
are stated below; where it must follow a convention of the evaluation, e.g. the image
score, that convention is named).

1. **maps**, where ``eval/<dataset>/maps.npz`` exists (written by a local run, not
   committed), for the first training seed, whose maps it stores, and each stored map:
   pixel ROC AUC with ``sklearn.metrics.roc_auc_score`` over every pixel of the test images
   that have masks; AUPRO up to FPR 0.3 (MVTec AD: the regions are the 8-connected
   components of each image's mask; at every distinct score t, PRO(t) is the mean over
   regions of the share of the region's pixels scoring >= t and FPR(t) the share of
   defect-free pixels scoring >= t; the curve from (0, 0) through every distinct score is
   integrated by trapezoids up to FPR 0.3, linearly interpolated there, and divided by
   0.3), computed as a weighted ROC curve (``sklearn.metrics.roc_curve``, each defect pixel
   weighted 1 / (regions x its region's size)); image ROC AUC, an image's score being the
   maximum of its map smoothed by a Gaussian of std 4 px (evaluation/scoring.py's rule);
   IoU and F1 of ``map > threshold`` at the stored validation threshold. Against
   metrics.csv, which keeps 7 significant digits: tolerance 1e-6.
2. **histograms**: every seed's pixel ROC AUC from ``histograms.npz`` (the trapezoid
   under the ROC curve of the 512 bins, pooled over the images) against metrics.csv.
   Tolerance: the binning's own worst case for that seed, half the share of
   (defect, defect-free) pixel pairs that fall in one bin (+1e-6). Where maps.npz exists,
   also the first seed's per-image counts against its masks (exact).
3. **table**: every number of table_auc.csv from metrics.csv: seed means, standard
   deviations (ddof 1), seed and trained counts, fit_* means; pixel_auroc_lo/hi from a
   re-implementation of the two-level bootstrap (images and seeds resampled, 1,000
   replicates, numpy generator seeded 0, maps drawn in the order l2, ssim, vae_kl, vae_rp,
   knn, intensity: the intervals are deterministic, so they are reproduced, not just
   bounded). Tolerance 5e-5 (the table keeps 4 decimals).
4. **claims**: every number of claims.json recomputed likewise (per-defect-kind numbers
   from maps.npz, with the structural types the evaluation's run.json records), tolerance
   5e-5, 1e-4 for differences of two rounded numbers; every boolean from the rule its
   ``definition`` states, applied to claims.json's own numbers; the summary counts.
5. **readme**: every number with at least two decimals in README.md must be a value of an
   artefact of the folder (any .csv, .json or .md file other than README.md and
   verify.md); where its table row, or its paragraph of text, names datasets, of those
   datasets' artefacts or of artefacts that name no dataset (artefact_values says how a
   value is tied to one). As printed: |value - number| <= half a unit of its last digit, a
   signed number (``+0.227``, ``-0.081``) with its sign. No differences or other derived
   numbers: one the README computes itself is reported, to be checked by hand.

Writes ``verify.md`` (each check: values compared, largest deviation, tolerance, each
mismatch with its file; and what could not be checked); any mismatch: exit status 1.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.metrics import roc_auc_score, roc_curve

from errors import InputError
from files import atomic_write_text
from reproduce.context import folder_name

MAP_TOL = 1e-6          # metrics.csv keeps 7 significant digits
TABLE_TOL = 0.5e-4      # table_auc.csv and claims.json keep 4 decimals
DIFF_TOL = 1e-4         # a difference of two numbers rounded to 4 decimals
EPS = 1e-9
MAX_FPR = 0.3
SIGMA = 4               # image score: max of the map smoothed with this Gaussian (px)
REPLICATES, BOOT_SEED = 1000, 0
# the maps maps.npz stores (first seed) -> their (method, map) rows in metrics.csv
STORED = {"l2": ("l2_ae", "l2"), "ssim": ("ssim_ae", "ssim"), "vae_kl": ("vae", "vae_kl"),
          "vae_rp": ("vae", "vae_rp"), "reference_knn": ("reference", "knn"),
          "reference_intensity": ("reference", "intensity")}
MAIN = {"l2": "l2_ae", "ssim": "ssim_ae", "vae_kl": "vae", "vae_rp": "vae"}
REFERENCE = ("knn", "intensity")
# the order in which table_auc's bootstrap draws the maps' seeds (its random stream)
BOOT_ORDER = [(m, n) for n, m in MAIN.items()] + [("reference", n) for n in REFERENCE]
PAIRS = {"ssim_minus_l2": ("ssim", "l2"), "vae_kl_minus_l2": ("vae_kl", "l2"),
         "vae_rp_minus_l2": ("vae_rp", "l2")}
CROSS = (("l2_ae", "ssim"), ("ssim_ae", "l2"))
ARTEFACTS = (".csv", ".json", ".md")


# ----------------------------------------------------------------------------- report
@dataclass
class Check:
    """One check: how many values it compared, the largest deviation, its mismatches."""
    title: str
    tolerance: str
    compared: int = 0
    largest: float = 0.0
    widest: float = 0.0  # the largest tolerance used (where it varies per value)
    mismatches: list[str] = field(default_factory=list)

    def number(self, where: str, reported, expected, tol: float) -> None:
        """``reported`` (what the folder says) against ``expected`` (recomputed); NaN and
        None stand for 'no value' and match each other."""
        self.compared += 1
        self.widest = max(self.widest, tol)
        r, e = _float(reported), _float(expected)
        if math.isnan(r) and math.isnan(e):
            return
        deviation = abs(r - e) if not (math.isnan(r) or math.isnan(e)) else math.inf
        if math.isfinite(deviation):
            self.largest = max(self.largest, deviation)
        if not deviation <= tol + EPS:
            self.mismatches.append(f"{where}: {_show(reported)}, recomputed {_show(expected)} "
                                   f"(off by {deviation:.2g}, tolerance {tol:.2g})")

    def same(self, where: str, reported, expected) -> None:
        """A boolean, a string or None: must be equal."""
        self.compared += 1
        if reported != expected:
            self.mismatches.append(f"{where}: {reported!r}, expected {expected!r}")


@dataclass
class Report:
    folder: Path
    checks: dict[str, Check] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def check(self, key: str, title: str, tolerance: str) -> Check:
        return self.checks.setdefault(key, Check(title, tolerance))

    @property
    def mismatches(self) -> int:
        return sum(len(c.mismatches) for c in self.checks.values())

    @property
    def compared(self) -> int:
        return sum(c.compared for c in self.checks.values())

    def summary(self) -> str:
        verdict = "PASSED" if not self.mismatches else f"FAILED: {self.mismatches} mismatches"
        failing = [k for k, c in self.checks.items() if c.mismatches]
        where = f" (in {', '.join(failing)})" if failing else ""
        return (f"verify {verdict}{where}: {self.compared} values compared in "
                f"{len(self.checks)} checks, {self.seconds:.0f} s")

    def markdown(self) -> str:
        md = [f"# Verification of `{self.folder}`", "",
              "Independent recomputation by `python -m reproduce verify` "
              "(reproduce/experiments/verify.py: scikit-learn, scipy and numpy; the module "
              "docstring states every rule and tolerance).", "", f"**{self.summary()}**", "",
              "| check | values compared | largest deviation | tolerance | mismatches |",
              "|---|---:|---:|---|---:|"]
        checks = sorted(self.checks.values(), key=lambda c: c.title)
        for c in checks:
            md.append(f"| {c.title} | {c.compared} | {c.largest:.2g} | "
                      f"{c.tolerance.format(widest=c.widest)} | "
                      f"{len(c.mismatches)} |")
        for c in checks:
            if c.mismatches:
                md += ["", f"## Mismatches: {c.title}", "", *[f"- {m}" for m in c.mismatches]]
        if self.notes:
            md += ["", "## Notes", "", *[f"- {n}" for n in self.notes]]
        md += ["", "## Not checked", ""]
        md += [f"- {line}" for line in self.not_checked] or ["- (nothing left out)"]
        return "\n".join(md) + "\n"


def _float(value) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    return float(value)


def _show(value) -> str:
    if value is None:
        return "missing"
    return f"{value:.7g}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------- recomputation
def aupro(scores: np.ndarray, masks: np.ndarray, max_fpr: float = MAX_FPR) -> float:
    """Normalised area under the PRO curve up to ``max_fpr`` (definition: module docstring).
    ``scores``, ``masks``: (K, H, W) of the images with masks."""
    regions = np.zeros(masks.shape, np.int64)
    eight = np.ones((3, 3), bool)
    offset = 0
    for k in range(len(masks)):  # per image: a region never spans two images
        labelled, n = ndimage.label(masks[k], structure=eight)
        regions[k] = np.where(labelled > 0, labelled + offset, 0)
        offset += n
    sizes = np.bincount(regions.ravel())
    weight = np.where(regions.ravel() > 0, 1.0 / (offset * sizes[regions.ravel()]), 1.0)
    fpr, pro, _ = roc_curve(masks.ravel(), scores.ravel(), sample_weight=weight,
                            drop_intermediate=False)
    return _area_to(fpr, pro, max_fpr) / max_fpr


def _area_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under y(x) (x ascending from 0) up to x_max, interpolated there."""
    inside = x <= x_max
    xs, ys = x[inside], y[inside]
    if not inside.all() and xs[-1] < x_max:
        j = np.argmax(~inside)  # the first point beyond x_max
        ys = np.append(ys, ys[-1] + (y[j] - ys[-1]) * (x_max - xs[-1]) / (x[j] - xs[-1]))
        xs = np.append(xs, x_max)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))


def image_scores(maps: np.ndarray) -> np.ndarray:
    """Each image's score: the maximum of its map smoothed with a Gaussian (std SIGMA)."""
    return np.array([ndimage.gaussian_filter(m, SIGMA).max() for m in maps])


def map_metrics(scores, masks, has_mask, labels, threshold=None) -> dict:
    """The metrics of one stored map, recomputed; NaN where undefined (as metrics.csv)."""
    out = dict.fromkeys(("pixel_auroc", "aupro_30", "image_auroc", "iou", "f1"), math.nan)
    s, m = scores[has_mask], masks[has_mask]
    if m.any() and (~m).any():
        out["pixel_auroc"] = roc_auc_score(m.ravel(), s.ravel())
        out["aupro_30"] = aupro(s, m)
        if threshold is not None:
            predicted = s > threshold
            tp, fp = np.count_nonzero(predicted & m), np.count_nonzero(predicted & ~m)
            fn = np.count_nonzero(~predicted & m)
            out["iou"], out["f1"] = tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn)
    if 0 < labels.sum() < len(labels):
        out["image_auroc"] = roc_auc_score(labels, image_scores(scores))
    return out


def by_kind(scores, masks, has_mask, labels, types, structural) -> dict:
    """Pixel ROC AUC over the defect-free test images plus the defective ones of one kind
    (structural or not), {kind: auc}; a kind without defective images with masks is absent,
    one with only one class of pixels None."""
    out = {}
    for kind in ("structural", "intensity"):
        chosen = (labels == 1) & (np.isin(types, list(structural)) == (kind == "structural"))
        keep = has_mask & (chosen | (labels == 0))
        if not (chosen & has_mask).any():
            continue
        m = masks[keep]
        out[kind] = (roc_auc_score(m.ravel(), scores[keep].ravel())
                     if m.any() and (~m).any() else None)
    return out


def binned_auroc(counts: np.ndarray) -> np.ndarray:
    """Pixel ROC AUC of (..., 2, bins) counts (0: defect-free, 1: defect): the trapezoid
    under the ROC curve through the bin edges, from the highest bin down."""
    neg = np.cumsum(counts[..., 0, ::-1], axis=-1, dtype=np.float64)
    pos = np.cumsum(counts[..., 1, ::-1], axis=-1, dtype=np.float64)
    zero = np.zeros(neg.shape[:-1] + (1,))
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = np.concatenate([zero, neg], -1) / neg[..., -1:]
        tpr = np.concatenate([zero, pos], -1) / pos[..., -1:]
    return np.trapezoid(tpr, fpr, axis=-1)


def binning_error(counts: np.ndarray) -> float:
    """Worst-case error of binned_auroc on (2, bins) counts: pairs within one bin count
    half, whatever their order."""
    neg, pos = counts[0].astype(np.float64), counts[1].astype(np.float64)
    return 0.5 * float(np.sum(neg * pos) / (neg.sum() * pos.sum()))


def bootstrap_intervals(counts: dict) -> dict:
    """{name: (S, K, 2, bins)} in BOOT_ORDER -> 95 % percentile intervals of the seed-mean
    AUC (images drawn jointly for all maps, seeds per map), and of the PAIRS differences."""
    rng = np.random.default_rng(BOOT_SEED)
    k = next(iter(counts.values())).shape[1]
    samples = {name: np.empty(REPLICATES) for name in counts}
    for r in range(REPLICATES):
        images = rng.integers(0, k, k)
        for name, c in counts.items():
            seeds = rng.integers(0, len(c), len(c))
            samples[name][r] = np.mean(binned_auroc(c[seeds][:, images].sum(axis=1)))
    for claim, (a, b) in PAIRS.items():
        if a in samples and b in samples:
            samples[claim] = samples[a] - samples[b]
    return {name: tuple(np.nanpercentile(v, [2.5, 97.5])) for name, v in samples.items()}


# ----------------------------------------------------------------------------- inputs
@dataclass
class Evaluation:
    """One evaluation folder, read once."""
    name: str
    folder: Path
    metrics: pd.DataFrame
    info: dict
    seeds: list
    kinds: dict = field(default_factory=dict)        # map -> by_kind(...)
    intervals: dict = field(default_factory=dict)    # bootstrap_intervals(...)

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


# ----------------------------------------------------------------------------- checks 1, 2
MAP_CHECKS = {"pixel_auroc": "1a. pixel ROC AUC from maps.npz (first seed), roc_auc_score",
              "aupro_30": "1b. AUPRO (FPR <= 0.3) from maps.npz (first seed)",
              "image_auroc": "1c. image ROC AUC from maps.npz (first seed)",
              "iou": "1d. IoU and F1 at the stored threshold (first seed)",
              "threshold": "1e. threshold: metrics.csv / maps.npz, ratio"}


def _map_check(report: Report, metric: str) -> Check:
    metric = "iou" if metric == "f1" else metric
    return report.check(f"maps_{metric}", MAP_CHECKS[metric],
                        f"{MAP_TOL:g} (csv: 7 significant digits)")


def check_maps(ev: Evaluation, report: Report) -> None:
    path = ev.folder / "maps.npz"
    if not path.exists():
        report.not_checked.append(
            f"{ev.name}: no maps.npz (not committed): pixel ROC AUC checked only from "
            "histograms.npz; AUPRO, image ROC AUC, IoU, F1 and the per-kind numbers not recomputed")
        return
    structural = ev.info.get("structural_types")
    with np.load(path, allow_pickle=False) as z:
        masks, has_mask = z["masks"].astype(bool), z["has_mask"].astype(bool)
        labels, types = np.asarray(z["labels"]), np.asarray(z["defect_types"]).astype(str)
        for key, (method, name) in STORED.items():
            row = ev.row(method, name, ev.seeds[0])
            if key not in z.files or row is None:
                report.not_checked.append(f"{ev.name}: map {key} not in maps.npz or metrics.csv")
                continue
            scores = z[key]
            threshold = z[f"threshold_{key}"] if f"threshold_{key}" in z.files else None
            got = map_metrics(scores, masks, has_mask, labels, threshold)
            where = f"{ev.rel('metrics.csv')}: {method}/{name} seed {row['seed']}"
            for metric, value in got.items():
                if metric in ("iou", "f1") and threshold is None:
                    continue
                _map_check(report, metric).number(f"{where} {metric}", row.get(metric), value,
                                                  MAP_TOL)
            if threshold is not None:  # relative: a threshold need not lie in [0, 1]
                scale = abs(float(threshold)) or 1.0
                _map_check(report, "threshold").number(
                    f"{where} threshold / maps.npz threshold_{key}", row.get("threshold") / scale,
                    float(threshold) / scale, MAP_TOL)
            if key in MAIN and structural:  # no structural types named: no split by kind
                ev.kinds[key] = by_kind(scores, masks, has_mask, labels, types, structural)
        if structural is None:
            report.not_checked.append(f"{ev.name}: run.json records no structural_types: "
                                      "the per-kind numbers of claims.json not recomputed")
        elif not structural:
            report.notes.append(f"{ev.name}: names no structural defect types, so claims.json "
                                "is expected to hold no per-kind numbers for it")
        _check_counts(ev, z, report)


def _check_counts(ev: Evaluation, z, report: Report) -> None:
    """histograms.npz's first seed against the masks: every image's pixel counts."""
    path = ev.folder / "histograms.npz"
    if not path.exists():
        return
    check = report.check("counts", "2b. histograms.npz pixel counts from maps.npz masks", "exact")
    masks, has_mask = z["masks"].astype(bool), z["has_mask"].astype(bool)
    defect = masks.sum(axis=(1, 2)) * has_mask
    clean = (masks[0].size - masks.sum(axis=(1, 2))) * has_mask
    with np.load(path, allow_pickle=False) as h:
        for key in [k for k in h.files if "__" in k]:
            counts = h[key][0].sum(axis=-1)  # (K, 2)
            for k in range(len(defect)):
                where = f"{ev.rel('histograms.npz')}: {key} image {k}"
                check.number(f"{where} defect-free pixels", counts[k, 0], clean[k], 0)
                check.number(f"{where} defect pixels", counts[k, 1], defect[k], 0)


def check_histograms(ev: Evaluation, report: Report) -> None:
    path = ev.folder / "histograms.npz"
    if not path.exists():
        report.not_checked.append(f"{ev.name}: no histograms.npz: per-seed pixel ROC AUC and "
                                  "the bootstrap intervals not checked")
        return
    check = report.check("histograms", "2a. pixel ROC AUC of every seed from histograms.npz",
                         "the binning's worst case per value + 1e-6, at most {widest:.2g}")
    with np.load(path, allow_pickle=False) as h:
        seeds = [int(s) for s in h["seeds"]] if "seeds" in h.files else ev.seeds
        counts = {key: h[key] for key in h.files if "__" in key}
    for key, c in counts.items():
        method, name = key.split("__", 1)
        for i, auc in enumerate(binned_auroc(c.sum(axis=1))):
            row = ev.row(method, name, seeds[i] if i < len(seeds) else None)
            where = f"{ev.rel('metrics.csv')}: {method}/{name} seed " + (
                str(row["seed"]) if row is not None else f"#{i}")
            reported = None if row is None else row["pixel_auroc"]
            check.number(f"{where} pixel_auroc (binned)", reported, auc,
                         binning_error(c[i].sum(axis=0)) + MAP_TOL)
    ordered = {n: counts[f"{m}__{n}"] for m, n in BOOT_ORDER if f"{m}__{n}" in counts}
    if ordered:
        ev.intervals = bootstrap_intervals(ordered)


# ----------------------------------------------------------------------------- check 3
def seed_summary(ev: Evaluation, method: str, name: str) -> dict:
    """What table_auc.csv should hold for one (method, map): means, sds, counts."""
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


# ----------------------------------------------------------------------------- check 4
def expected_claims(ev: Evaluation) -> dict:
    """The numbers of one dataset's entry in claims.json, recomputed (unrounded)."""
    mean = {n: seed_summary(ev, m, n) for n, m in MAIN.items()}
    auc = {n: mean[n].get("pixel_auroc", math.nan) for n in MAIN}
    pro = {n: mean[n].get("aupro_30", math.nan) for n in MAIN}
    d = {"pixel_auroc": auc, "aupro_30": pro,
         "trained": {n: (f"{mean[n]['n_trained']}/{mean[n]['n_seeds']}"
                         if not _nan(mean[n].get("n_trained")) else None) for n in MAIN},
         "pixel_auroc_interval": {n: _pair(ev.intervals.get(n)) for n in MAIN},
         "reference": {n: {"pixel_auroc": seed_summary(ev, "reference", n).get("pixel_auroc"),
                           "interval": _pair(ev.intervals.get(n))}
                       for n in REFERENCE if len(ev.rows("reference", n))},
         "ssim_minus_l2": auc["ssim"] - auc["l2"],
         "ssim_minus_l2_aupro": pro["ssim"] - pro["l2"],
         "vae_kl_minus_l2": auc["vae_kl"] - auc["l2"],
         "vae_rp_minus_l2": auc["vae_rp"] - auc["l2"],
         "cross_pixel_auroc": {f"{m}/{n}": seed_summary(ev, m, n).get("pixel_auroc")
                               for m, n in CROSS if len(ev.rows(m, n))}}
    for claim in PAIRS:
        d[f"{claim}_interval"] = _pair(ev.intervals.get(claim))
    for kind in ("structural", "intensity"):
        if any(kind in per for per in ev.kinds.values()):
            aucs = {n: ev.kinds.get(n, {}).get(kind) for n in MAIN}
            d[f"pixel_auroc_{kind}"] = aucs
            d[f"ssim_minus_l2_{kind}"] = (None if aucs["ssim"] is None or aucs["l2"] is None
                                          else aucs["ssim"] - aucs["l2"])
    return d


def claimed_booleans(d: dict, margin: float) -> dict:
    """claims.json's booleans from its own numbers, by the rules its definition states."""
    out = {}
    gap = d.get("ssim_minus_l2")
    out["ssim_beats_l2"] = None if gap is None else gap > 0
    for vae in ("vae_kl", "vae_rp"):
        gap = d.get(f"{vae}_minus_l2")
        out[f"{vae}_not_better_than_l2"] = None if gap is None else gap <= margin
    finite = {m: v for m, v in (d.get("pixel_auroc") or {}).items() if v is not None}
    out["ssim_best"] = None if "ssim" not in finite else finite["ssim"] == max(finite.values())
    trained = d.get("trained") or {}
    all_trained = {m: _all_trained(trained.get(m)) for m in MAIN}
    for claim, (a, b) in PAIRS.items():
        bound = d.get(f"{claim}_interval")
        out[f"{claim.replace('_minus_', '_beats_')}_holds"] = (
            None if bound is None else bool(bound[0] > 0 and all_trained[a] and all_trained[b]))
    knn = (d.get("reference") or {}).get("knn", {}).get("interval")
    if knn is not None:
        out["dataset_tests_claim"] = knn[0] > 0.5
    return out


def _all_trained(text) -> bool:
    if not text:
        return False
    n, of = text.split("/")
    return n == of


def _pair(bound):
    return None if bound is None else [float(bound[0]), float(bound[1])]


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compare_tree(check: Check, where: str, reported, expected, unchecked: set) -> None:
    """Walk ``expected``; compare each leaf with the same place in ``reported``."""
    if isinstance(expected, dict):
        reported = reported if isinstance(reported, dict) else {}
        for key, value in expected.items():
            if key not in reported and not _nan(value):
                check.mismatches.append(f"{where}.{key}: missing")
                check.compared += 1
                continue
            compare_tree(check, f"{where}.{key}", reported.get(key), value, unchecked)
        unchecked.update(k for k in reported if k not in expected)
    elif isinstance(expected, list):
        reported = reported if isinstance(reported, list) else [None] * len(expected)
        for i, value in enumerate(expected):
            compare_tree(check, f"{where}[{i}]", reported[i] if i < len(reported) else None,
                         value, unchecked)
    elif isinstance(expected, (bool, str)) or expected is None and not isinstance(reported, float):
        check.same(where, reported, expected)
    else:
        difference = "_minus_" in where.rsplit(".", 1)[-1] and "[" not in where.rsplit(".", 1)[-1]
        check.number(where, reported, expected, DIFF_TOL if difference else TABLE_TOL)


def check_claims(root: Path, evaluations: dict, report: Report) -> None:
    path = root / "claims.json"
    if not path.exists():
        report.not_checked.append("no claims.json")
        return
    claims = json.loads(path.read_text())
    numbers = report.check("claims", "4a. claims.json numbers from metrics.csv, maps, bootstrap",
                           f"{TABLE_TOL:g}; differences {DIFF_TOL:g}")
    rules = report.check("rules", "4b. claims.json booleans and counts from its own numbers",
                         f"exact; mean_ssim_minus_l2 {DIFF_TOL:g}")
    margin = claims.get("vae_margin", 0.02)
    unchecked = set()
    datasets = claims.get("datasets", {})
    for spec, d in datasets.items():
        ev = evaluations.get(folder_name(spec))
        if ev is None:
            numbers.mismatches.append(f"claims.json: {spec}: no eval/{folder_name(spec)}/"
                                      "metrics.csv")
            continue
        compare_tree(numbers, f"claims.json: {spec}", d, expected_claims(ev), unchecked)
        compare_tree(rules, f"claims.json: {spec}", d, claimed_booleans(d, margin), set())
        if not ev.kinds:
            unchecked.update(k for k in d if k.endswith(("_structural", "_intensity")))
    compare_tree(rules, "claims.json: summary", claims.get("summary", {}),
                 expected_summary(datasets, evaluations), unchecked)
    unchecked -= {k for d in datasets.values() for k in claimed_booleans(d, margin)}
    unchecked |= {k for k in claims if k not in ("datasets", "summary")}  # rules' text, margin
    if unchecked:
        report.not_checked.append("claims.json keys not recomputed: "
                                  + ", ".join(sorted(unchecked)))


def expected_summary(datasets: dict, evaluations: dict) -> dict:
    diffs = [d["ssim_minus_l2"] for d in datasets.values() if d.get("ssim_minus_l2") is not None]
    trained = seeds = 0
    for spec in datasets:
        ev = evaluations.get(folder_name(spec))
        for name in ("l2", "ssim", "vae_rp"):  # one count per model: the VAE's two maps share it
            s = seed_summary(ev, MAIN[name], name) if ev else {}
            if not _nan(s.get("n_trained")):
                trained, seeds = trained + s["n_trained"], seeds + s["n_seeds"]
    def count(key):
        return sum(bool(d.get(key)) for d in datasets.values())

    return {"n_datasets": len(datasets), "n_ssim_beats_l2": count("ssim_beats_l2"),
            "n_ssim_beats_l2_holds": count("ssim_beats_l2_holds"),
            "models_trained": f"{trained}/{seeds}" if seeds else None,
            "mean_ssim_minus_l2": sum(diffs) / len(diffs) if diffs else None,
            "n_vae_kl_not_better_than_l2": count("vae_kl_not_better_than_l2"),
            "n_vae_rp_not_better_than_l2": count("vae_rp_not_better_than_l2")}


# ----------------------------------------------------------------------------- check 5
NUMBER = re.compile(r"(?<![\w.])([-+\u2212]?)(\d+\.\d{2,})(?!\d|\.\d)")
ANY_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def artefact_values(root: Path, skip: set, datasets=()) -> tuple[np.ndarray, dict]:
    """Every number written in the folder's .csv, .json and .md files (sorted), and the
    same numbers by dataset: {name: values of that dataset's artefacts or of artefacts that
    name no dataset}. A value belongs to a dataset when its file lies in a folder of that
    name (eval/fabric1/...), its csv or md line names it (a table row), or it sits under
    a JSON key of that name (claims.json's "datasets")."""
    everything, general, tied = [], [], {name: [] for name in datasets}
    for path in sorted(root.rglob("*")):
        if path.suffix not in ARTEFACTS or not path.is_file() or path.resolve() in skip:
            continue
        text = path.read_text(errors="replace")
        found = ANY_NUMBER.findall(text)
        everything += found
        owners = [d for d in datasets if d in path.relative_to(root).parts[:-1]]
        if owners:
            for d in owners:
                tied[d] += found
        elif path.suffix == ".json":
            try:
                _walk_json(json.loads(text), None, general, tied)
            except ValueError:
                general += found
        else:
            for line in text.splitlines():
                named = _named(line, datasets)
                for d in named or [None]:
                    (tied[d] if d else general).extend(ANY_NUMBER.findall(line))
    general = np.array(general, dtype=float)
    by_dataset = {d: np.unique(np.concatenate([general, np.array(v, dtype=float)])) for d, v in tied.items()}
    return np.unique(np.array(everything, dtype=float)), by_dataset


def _walk_json(node, owner, general: list, tied: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _walk_json(value, key if key in tied else owner, general, tied)
    elif isinstance(node, list):
        for value in node:
            _walk_json(value, owner, general, tied)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        (tied[owner] if owner else general).append(float(node))
    elif isinstance(node, str):
        (tied[owner] if owner else general).extend(ANY_NUMBER.findall(node))


def _paragraph(lines: list[str], i: int) -> str:
    """The text paragraph (lines between blank lines or table rows) around line i."""
    def prose(j):
        return lines[j].strip() and not lines[j].lstrip().startswith("|")
    start, end = i, i
    while start > 0 and prose(start - 1):
        start -= 1
    while end + 1 < len(lines) and prose(end + 1):
        end += 1
    return " ".join(lines[start:end + 1])


def _named(line: str, datasets) -> list[str]:
    """The datasets a line names, as whole words."""
    return [d for d in datasets if re.search(rf"(?<![\w-]){re.escape(d)}(?![\w-])", line)]


def check_readme(root: Path, report: Report, own_report: Path | None) -> None:
    path = root / "README.md"
    if not path.exists():
        report.not_checked.append("no README.md: its numbers not traced")
        return
    check = report.check("readme", "5. README.md numbers found in the artefacts (of the datasets "
                         "its line names)", "half a unit of the printed last digit")
    skip = {path.resolve()} | ({own_report.resolve()} if own_report else set())
    datasets = sorted({p.parent.name for p in root.rglob("metrics.csv")})
    values, by_dataset = artefact_values(root, skip | {(root / "verify.md").resolve()}, datasets)
    decimals, scoped = set(), 0
    lines = path.read_text().splitlines()
    for line_no, line in enumerate(lines, 1):
        named = _named(line if line.lstrip().startswith("|") else _paragraph(lines, line_no - 1),
                       datasets)
        pool = np.unique(np.concatenate([by_dataset[d] for d in named])) if named else values
        for sign, digits in NUMBER.findall(line):
            x = float(digits) * (-1 if sign in "-\u2212" and sign else 1)
            decimals.add(len(digits.split(".")[1]))
            near = _distance(pool, np.array([x]))[0]
            check.compared += 1
            scoped += bool(named)
            if near <= _half_unit(digits) + EPS:
                check.largest = max(check.largest, near)
            else:
                where = f" of {', '.join(named)}" if named else ""
                check.mismatches.append(f"README.md line {line_no}: {sign}{digits} is in no "
                                        f"artefact{where} (nearest value off by {near:.2g})")
    report.notes.append(
        f"README rule's strength: {scoped} of {check.compared} numbers sit in a table row or "
        f"paragraph that names a dataset and were traced to that dataset's artefacts (or to artefacts of no dataset); "
        f"the rest to any of {len(values)} distinct values, which match by chance " + ", ".join(
            f"{_coverage(values, d):.0%} of all {d}-decimal numbers in [0, 1]" for d in sorted(decimals))
        + ". A wrong number is caught only where no eligible value happens to round to it.")


def _distance(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Distance from each x to the nearest of the sorted ``values`` (inf: none)."""
    values = np.concatenate([[-np.inf], values, [np.inf]])
    i = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    return np.minimum(abs(values[i] - x), abs(values[i - 1] - x))


def _half_unit(digits: str) -> float:
    return 0.5 * 10.0 ** -len(digits.split(".")[1])


def _coverage(values: np.ndarray, d: int) -> float:
    """Share of the numbers k / 10^d in [0, 1] that some value matches by the README rule."""
    grid = np.arange(10 ** d + 1) / 10 ** d
    return float(np.mean(_distance(values, grid) <= 0.5 * 10.0 ** -d + EPS))


# ----------------------------------------------------------------------------- entry points
def verify(root: Path, report_path: Path | None = None, log=None) -> Report:
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
    check_readme(root, report, report_path)
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
    report = verify(ctx.out, path, log=ctx.log)
    write(report, path)
    ctx.log(f"{report.summary()}; see {path}")
    return report
