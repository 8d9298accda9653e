"""verify, check 2: every seed's metrics from the resampling files, and the intervals.

2a. ``histograms.npz`` holds, per map and training seed, every test image's defect-free
and defect pixel counts in 512 quantile bins of the map (evaluation/uncertainty.py). Each
seed's pixel ROC AUC is recomputed here as the trapezoid under the ROC curve through the
bin edges, pooled over the images, and compared with metrics.csv. Tolerance: the
binning's own worst case for that seed, half the share of (defect, defect-free) pixel
pairs that fall in one bin (+1e-6).
2c, 2d. ``bootstrap.npz`` (where the evaluation wrote it) holds every seed's image scores
and per-region pixel counts in the same bins. Each seed's image ROC AUC: scikit-learn's
``roc_auc_score`` of the scores (tolerance 1e-6); its AUPRO: the curve through the bin
edges, from the highest bin down (FPR: the share of defect-free pixels above the edge;
PRO: the mean over regions of their share above it), by trapezoids up to FPR 0.3, against
metrics.csv within the binning's worst case: within a bin the true curve lies in the box
its ends span, so the chord's area is off by at most half that box, summed over the bins
up to FPR 0.3, and the whole box of the bin cut at 0.3 (/ 0.3, + 1e-6).

The pixel ROC AUC by defect kind (claims.json, table_auc.csv) is recomputed from the same
counts: the mean over seeds of the binned AUC over the defect-free images and those of
one kind with masks (the structural types of run.json).

The 95 % intervals that checks 3 and 4 compare with table_auc.csv and claims.json come
from the same counts through evaluation/uncertainty.py's ``resample`` and ``interval``,
called, not re-implemented: a bootstrap is a random procedure whose result is fixed only
by its draws, so a second implementation could only copy its draw order. What verify
checks there is that the table holds the intervals of these counts, of these maps, drawn
in the order the table draws them (the main maps in the order of methods.MAPS, then the
controls, then the cross rows sharing their model's seed draw); its independence lies in
the metrics it recomputes from maps and these files with its own code and scikit-learn
(this check and check 1), not in the resampling loop.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from methods import METHODS
from reproduce.experiments.verify.inputs import CROSS, MAIN, REFERENCE, Evaluation
from reproduce.experiments.verify.report import MAP_TOL, Report

# the claims' differences: each map's pixel AUC minus the l2-AE's, and the SSIM map's
# lead over every other main map (claims.json's ssim_lead_interval)
PAIRS = {"ssim_minus_l2": ("ssim", "l2"), "vae_kl_minus_l2": ("vae_kl", "l2"),
         "vae_rp_minus_l2": ("vae_rp", "l2")}
LEADS = {f"ssim_lead_{name}": ("ssim", name) for name in MAIN if name != "ssim"}
# the (method, map) rows the bootstrap resamples, in the order the table draws them: the
# main maps, the controls, then the cross rows, each sharing its model's own map's seeds
BOOT_ORDER = ([(method, name) for name, method in MAIN.items()]
              + [("reference", n) for n in REFERENCE] + list(CROSS))
KINDS = ("structural", "intensity")
MAX_FPR = 0.3


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


def binned_aupro(negatives: np.ndarray, regions: np.ndarray) -> tuple[float, float]:
    """(AUPRO up to FPR 0.3, the binning's worst case) of (bins,) defect-free counts and
    (R, bins) region counts: the curve through the bin edges (module docstring)."""
    fpr = np.concatenate([[0.0], np.cumsum(negatives[::-1], dtype=np.float64)])
    fpr /= fpr[-1]
    share = np.cumsum(regions[:, ::-1], axis=1, dtype=np.float64)
    pro = np.concatenate([[0.0], (share / share[:, -1:]).mean(axis=0)])
    inside = int(np.searchsorted(fpr, MAX_FPR, side="right"))  # the points at FPR <= 0.3
    x, y = fpr[:inside], pro[:inside]
    if inside < fpr.size and x[-1] < MAX_FPR:  # the chord's point at FPR 0.3
        y = np.append(y, y[-1] + (pro[inside] - y[-1]) * (MAX_FPR - x[-1]) / (fpr[inside] - x[-1]))
        x = np.append(x, MAX_FPR)
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    boxes = np.diff(fpr) * np.diff(pro)  # a bin's part of the area lies in its box
    error = 0.5 * boxes[:inside - 1].sum() + boxes[inside - 1:inside].sum()  # cut bin: whole
    return area / MAX_FPR, float(error) / MAX_FPR


def kind_subsets(types, pixels: np.ndarray, structural) -> dict:
    """{kind: (K,) bool}: the defect-free test images and those of one kind, with masks
    (non-zero counts in ``pixels`` (S, K, 2, bins)); a kind with no such image is absent."""
    types = np.asarray(types).astype(str)
    has_mask, good = pixels[0].sum(axis=(1, 2)) > 0, types == "good"
    out = {}
    for kind in KINDS:
        chosen = ~good & (np.isin(types, list(structural)) == (kind == "structural"))
        if (chosen & has_mask).any():
            out[kind] = has_mask & (good | chosen)
    return out


def _units(files: dict) -> dict:
    """{(method, map): uncertainty.Units} of the rows in ``files`` (the npz contents), in
    BOOT_ORDER, a cross row sharing its model's own map's seed draw (none without it)."""
    from evaluation.uncertainty import Units

    units = {}
    for method, name in BOOT_ORDER:
        stem = f"{method}__{name}"
        own = (method, METHODS[method].main_map) if (method, name) in CROSS else None
        if stem in files and (own is None or own in units):
            units[(method, name)] = Units(files[stem], files.get(f"{stem}__regions"),
                                          files.get(f"{stem}__image"), own)
    return units


def _named(samples: dict, label, out: dict) -> None:
    """Into ``out``: (label(metric), method, map) -> the interval of every row's metric,
    and (..., "own") -> that of a cross row minus its model's own map."""
    from evaluation.uncertainty import interval

    for (method, name), by_metric in samples.items():
        own = (method, METHODS[method].main_map) if method in METHODS else None
        for metric, values in by_metric.items():
            out[(label(metric), method, name)] = interval(values)
            if (method, name) in CROSS and own in samples:
                out[(label(metric), method, name, "own")] = interval(
                    values - samples[own][metric])


def resampled_intervals(files: dict, subsets: dict) -> dict:
    """The 95 % intervals by evaluation/uncertainty.py ``resample`` of the rows of
    ``files``: every metric of every row as (metric, method, map), a cross row minus its
    model's own map as (metric, method, map, "own"), each kind's pixel AUC as
    ("pixel_auroc_<kind>", method, map); and as claims.json names them, the pixel AUC
    of the main maps and controls under the map's name, its PAIRS and LEADS differences."""
    from evaluation.uncertainty import Units, interval, resample

    units = _units(files)
    if not units:
        return {}
    samples = resample(units, files.get("labels"), files.get("region_image"),
                       groups=files.get("groups"))
    out = {}
    _named(samples, lambda metric: metric, out)
    pixel = {name: s["pixel_auroc"] for (method, name), s in samples.items()
             if method == "reference" or MAIN.get(name) == method}
    out.update({name: interval(values) for name, values in pixel.items()})
    out.update({claim: interval(pixel[a] - pixel[b])
                for claim, (a, b) in {**PAIRS, **LEADS}.items() if {a, b} <= set(pixel)})
    bare = {k: Units(u.pixels, seeds_of=u.seeds_of) for k, u in units.items()}
    for kind, subset in subsets.items():
        by_kind = resample(bare, subset=subset, groups=files.get("groups"))
        _named(by_kind, lambda metric: f"pixel_auroc_{kind}", out)  # noqa: B023 (used at once)
    return out


def _read(ev: Evaluation) -> dict:
    """The arrays of histograms.npz and, where it exists, bootstrap.npz (its labels,
    region_image, per-region counts and image scores), in one dict."""
    files = {}
    for name in ("bootstrap.npz", "histograms.npz"):  # histograms.npz's seeds and groups win
        if (ev.folder / name).exists():
            with np.load(ev.folder / name, allow_pickle=False) as z:
                files.update({key: z[key] for key in z.files})
    return files


def _check_seeds(ev: Evaluation, report: Report, files: dict) -> None:
    """2a, 2c, 2d: every seed's pixel ROC AUC, image ROC AUC and AUPRO against metrics.csv."""
    pixel = report.check("histograms", "2a. pixel ROC AUC of every seed from histograms.npz",
                         "the binning's worst case per value + 1e-6, at most {widest:.2g}")
    image = pro = None
    if any(k.endswith("__image") for k in files):  # bootstrap.npz
        image = report.check("image_scores", "2c. image ROC AUC of every seed from "
                             "bootstrap.npz scores, roc_auc_score", f"{MAP_TOL:g}")
        pro = report.check("region_counts", "2d. AUPRO of every seed from bootstrap.npz "
                           "region counts", "the binning's worst case per value + 1e-6, at "
                           "most {widest:.2g}")
    seeds = [int(s) for s in files["seeds"]] if "seeds" in files else ev.seeds
    labels = files.get("labels")
    for key in [k for k in files if k.count("__") == 1]:
        method, name = key.split("__", 1)
        c = files[key]
        for i, auc in enumerate(binned_auroc(c.sum(axis=1))):
            row = ev.row(method, name, seeds[i] if i < len(seeds) else None)
            where = f"{ev.rel('metrics.csv')}: {method}/{name} seed " + (
                str(row["seed"]) if row is not None else f"#{i}")
            pixel.number(f"{where} pixel_auroc (binned)", _value(row, "pixel_auroc"), auc,
                         binning_error(c[i].sum(axis=0)) + MAP_TOL)
            if image is not None and f"{key}__image" in files and labels is not None \
                    and 0 < labels.sum() < len(labels):
                image.number(f"{where} image_auroc", _value(row, "image_auroc"),
                             roc_auc_score(labels, files[f"{key}__image"][i]), MAP_TOL)
            regions = files.get(f"{key}__regions")
            if pro is not None and regions is not None and len(regions[i]):
                value, error = binned_aupro(c[i, :, 0].sum(axis=0), regions[i])
                pro.number(f"{where} aupro_30 (binned)", _value(row, "aupro_30"), value,
                           error + MAP_TOL)


def _value(row, metric: str):
    return None if row is None else row.get(metric)


def check_histograms(ev: Evaluation, report: Report) -> None:
    if not (ev.folder / "histograms.npz").exists():
        report.not_checked.append(f"{ev.name}: no histograms.npz: per-seed pixel ROC AUC and "
                                  "the bootstrap intervals not checked")
        return
    files = _read(ev)
    if not (ev.folder / "bootstrap.npz").exists():
        report.not_checked.append(f"{ev.name}: no bootstrap.npz: every seed's image ROC AUC "
                                  "and AUPRO not recomputed, and they have no interval")
    _check_seeds(ev, report, files)
    structural = ev.info.get("structural_types")
    subsets = {}
    if structural is None:
        report.not_checked.append(f"{ev.name}: run.json records no structural_types: the "
                                  "per-kind numbers not recomputed")
    elif not structural:
        report.notes.append(f"{ev.name}: names no structural defect types, so claims.json "
                            "and table_auc.csv are expected to hold no per-kind numbers for it")
    elif "defect_types" in files:
        first = next(files[k] for k in files if k.count("__") == 1)
        subsets = kind_subsets(files["defect_types"], first, structural)
    for method, name in BOOT_ORDER:  # the pixel AUC by kind: seed means
        c = files.get(f"{method}__{name}")
        if c is not None and subsets:
            ev.kinds[(method, name)] = {kind: float(np.mean(binned_auroc(c[:, s].sum(axis=1))))
                                        for kind, s in subsets.items()}
            if MAIN.get(name) == method:
                ev.kinds[name] = ev.kinds[(method, name)]
    ev.intervals = resampled_intervals(files, subsets)
