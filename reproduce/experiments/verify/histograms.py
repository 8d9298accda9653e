"""verify, check 2a: every seed's pixel ROC AUC from its histograms, and the intervals.

``histograms.npz`` holds, per map and training seed, every test image's defect-free and
defect pixel counts in 512 quantile bins of the map (evaluation/uncertainty.py). Each
seed's pixel ROC AUC is recomputed here as the trapezoid under the ROC curve through the
bin edges, pooled over the images, and compared with metrics.csv. Tolerance: the
binning's own worst case for that seed, half the share of (defect, defect-free) pixel
pairs that fall in one bin (+1e-6).

The 95 % intervals that checks 3 and 4 compare with table_auc.csv and claims.json come
from the same counts through evaluation/uncertainty.py's ``bootstrap`` and ``interval``,
called, not re-implemented: a bootstrap is a random procedure whose result is fixed only
by its draws, so a second implementation could only copy its draw order. What verify
checks there is that the table holds the intervals of these counts, of these maps, drawn
in the order the table draws them (the main maps in the order of methods.MAPS, then the
controls); its independence lies in the AUCs it recomputes from maps and histograms with
its own code and scikit-learn (this check and check 1), not in the resampling loop.
"""
from __future__ import annotations

import numpy as np

from reproduce.experiments.verify.inputs import MAIN, REFERENCE, Evaluation
from reproduce.experiments.verify.report import MAP_TOL, Report

# the claims' differences: each map's pixel AUC minus the l2-AE's, and the SSIM map's
# lead over every other main map (claims.json's ssim_lead_interval)
PAIRS = {"ssim_minus_l2": ("ssim", "l2"), "vae_kl_minus_l2": ("vae_kl", "l2"),
         "vae_rp_minus_l2": ("vae_rp", "l2")}
LEADS = {f"ssim_lead_{name}": ("ssim", name) for name in MAIN if name != "ssim"}
# the (method, map) histograms the bootstrap resamples, in the order the table draws them
BOOT_ORDER = ([(method, name) for name, method in MAIN.items()]
              + [("reference", n) for n in REFERENCE])


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


def bootstrap_intervals(counts: dict, groups=None) -> dict:
    """{name: (S, K, 2, bins)} in BOOT_ORDER -> 95 % intervals of the seed-mean AUC and of
    the PAIRS and LEADS differences, by evaluation/uncertainty.py (images, or the
    ``groups`` of images that share pixels, drawn jointly for all maps; seeds per map)."""
    from evaluation.uncertainty import bootstrap, interval

    samples = bootstrap(counts, groups=groups)
    for claim, (a, b) in {**PAIRS, **LEADS}.items():
        if a in samples and b in samples:
            samples[claim] = samples[a] - samples[b]
    return {name: interval(values) for name, values in samples.items()}


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
        groups = h["groups"] if "groups" in h.files else None
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
        ev.intervals = bootstrap_intervals(ordered, groups)
