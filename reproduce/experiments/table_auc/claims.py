"""table_auc, step 2: the numbers behind the paper's claims, per dataset, as claims.json.

The paper's claims (Bergmann et al., VISAPP 2019, Section 4): the SSIM-AE's map finds
structural defects better than the l2-AE's (pixel ROC AUC), and the VAE's maps do no
better than the l2-AE's. From the long table of collect.py and its bootstrap intervals
(evaluation/uncertainty.py: test images and training seeds resampled), each dataset gets
the pixel AUC of every map and the differences the claims are about, each with its 95 %
interval. A claim counts only where it holds: its interval on the right side of its
bound AND every seed's model of every map involved trained (evaluation/trainedness.py);
where there is no interval it is null, never true. Per dataset:

  <map>_minus_l2 (+ _interval)  pixel AUC of the SSIM / VAE KL / VAE recon. prob. map
                                minus the l2-AE's, seed means, and its interval
  <map>_beats_l2                the interval lies above 0 (and the models trained)
  vae_*_not_better_than_l2      the interval's upper end is at most VAE_MARGIN (likewise)
  ssim_best                     the SSIM map's lead over each other map evaluated
                                holds (ssim_lead_interval: each lead's interval)
  control_finds_defects         the nearest-patch control's interval lies above
                                chance: the defects can be told from the training texture
  claim_tested                  that, and every l2-AE and SSIM-AE trained: only there is
                                ssim_beats_l2, true or false, evidence on the claim

and numbers without a verdict (AUPRO, the cross rows, the per-kind AUCs; their intervals
are in table_auc.csv and table_auc.md). The summary counts datasets where a claim holds;
its mean difference is over the datasets whose autoencoders all trained. ``DEFINITIONS``,
written into the file, states each field.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from methods import MAPS
from reproduce import published
from reproduce.experiments.table_auc.collect import (CHANCE, PAIRS, above, is_cross,
                                                     main_rows, model_rows, versus)

VAE_MARGIN = 0.02
NOT_BETTER = ("vae_kl_minus_l2", "vae_rp_minus_l2")  # the VAE's claim: no better than l2
HOLDS = ("; false where it does not hold, null where there is no interval "
         "(no histograms.npz)")

DEFINITIONS = {
    "pixel_auroc": "per map: mean over the training seeds of the pixel ROC AUC (metrics.csv)",
    "aupro_30": "per map: seed mean of AUPRO up to FPR 0.3; no interval here (table_auc.csv's "
                "aupro_30_lo/hi, where the evaluation wrote bootstrap.npz)",
    "trained": "per map: models that trained / seeds (evaluation/trainedness.py)",
    "pixel_auroc_interval": "per map: 95 % two-level bootstrap interval of the seed-mean "
                            "pixel AUC (test images and training seeds resampled; "
                            "evaluation/uncertainty.py)",
    "<map>_minus_l2": "pixel AUC of the map (ssim, vae_kl, vae_rp) minus the l2-AE map's, "
                      "seed means",
    "<map>_minus_l2_interval": "its 95 % interval (the same bootstrap, the test images drawn "
                               "jointly for both maps)",
    "<map>_beats_l2": "true where the interval of <map>_minus_l2 lies above 0 and every "
                      "seed's model of both maps trained" + HOLDS,
    "vae_kl_not_better_than_l2": f"true where the interval of vae_kl_minus_l2 lies at or "
                                 f"below +{VAE_MARGIN} and every seed's VAE and l2-AE "
                                 "trained (likewise vae_rp)" + HOLDS,
    "ssim_lead_interval": "per other map evaluated: 95 % interval of the SSIM map's pixel "
                          "AUC minus that map's",
    "ssim_best": "true where every interval of ssim_lead_interval lies above 0 and every "
                 "seed's model of these maps and of the SSIM-AE trained" + HOLDS,
    "reference": "the controls (evaluation/reference.py): pixel AUC and its interval; knn: "
                 "the nearest-patch control, intensity: the intensity control",
    "control_finds_defects": "the knn control's interval lies above chance (0.5): the "
                             "defects can be told from the training texture. Where false, "
                             "the dataset cannot test the claim",
    "claim_tested": "control_finds_defects and every seed's l2-AE and SSIM-AE trained: only "
                    "there is ssim_beats_l2, true or false, evidence on the paper's claim",
    "ssim_minus_l2_aupro": "the same difference in AUPRO; no interval here (table_auc.md's "
                           "AUPRO table has each map's)",
    "cross_pixel_auroc": "pixel AUC of each AE scored with the other residual (method/map), "
                         "seed means; no interval here (table_auc.csv: pixel_auroc_lo/hi "
                         "and pixel_auroc_minus_own_lo/hi of its row)",
    "pixel_auroc_structural": "per map: pixel AUC on the defect-free and the structural-defect "
                              "test images only, mean over seeds of the binned AUC of "
                              "histograms.npz (likewise _intensity); with "
                              "ssim_minus_l2_structural, no interval here (table_auc.csv: "
                              "pixel_auroc_structural_lo/hi; table_auc.md: the difference's)",
    "summary.n_claim_tested": "datasets where claim_tested is true",
    "summary.n_ssim_beats_l2": "datasets where ssim_beats_l2 is true (the lead holds), whether "
                               "or not the dataset tests the claim",
    "summary.n_claim_holds": "datasets where claim_tested and ssim_beats_l2 are both true: the "
                             "paper's claim holds there",
    "summary.n_ssim_best": "datasets where ssim_best is true",
    "summary.n_vae_kl_not_better_than_l2": "datasets where vae_kl_not_better_than_l2 is "
                                           "true (likewise vae_rp)",
    "summary.models_trained": "models that trained / all, one per method and seed (the "
                              "VAE's two maps share one model)",
    "summary.mean_ssim_minus_l2": "mean of ssim_minus_l2 over the datasets whose every "
                                  "l2-AE and SSIM-AE trained (mean_ssim_minus_l2_over names "
                                  "them); descriptive, not a test",
    "chance": CHANCE}


def _num(value):
    return round(float(value), 4) if value is not None and math.isfinite(value) else None


def _pair(bound):
    return None if bound is None else [round(bound[0], 4), round(bound[1], 4)]


def _diff(a, b, table):
    """table[a] - table[b], or None where either is missing."""
    return None if table[a] is None or table[b] is None else round(table[a] - table[b], 4)


def _verdict(box: dict, key: str, holds: bool):
    """A claim's boolean: null without the interval ``key``, else whether it holds."""
    return None if key not in box else bool(holds)


def _comparisons(d: dict, auc: dict, box: dict, trained: dict) -> None:
    """The paper's comparisons, each difference with its interval and its verdict; the
    SSIM map's lead over every other map."""
    for claim, (a, b) in PAIRS.items():
        both = trained[a] and trained[b]
        d[claim] = _diff(a, b, auc)
        d[f"{claim}_interval"] = _pair(box.get(claim))
        d[claim.replace("_minus_", "_beats_")] = _verdict(box, claim, above(box, claim) and both)
        if claim in NOT_BETTER:
            high = box.get(claim, (math.nan, math.nan))[1]
            d[f"{a}_not_better_than_l2"] = _verdict(box, claim, high <= VAE_MARGIN and both)
    leads = {m: versus("ssim", m) for m in MAPS if m != "ssim" and auc[m] is not None}
    d["ssim_lead_interval"] = {m: _pair(box.get(key)) for m, key in leads.items()}
    holds = all(above(box, key) and trained[m] for m, key in leads.items()) and trained["ssim"]
    d["ssim_best"] = (None if auc["ssim"] is None or any(k not in box for k in leads.values())
                      else bool(holds))


def _dataset(spec: str, group: pd.DataFrame, long: pd.DataFrame, box: dict,
             kinds: dict) -> dict:
    """One dataset's entry: ``group`` its main rows, ``box`` its intervals, ``kinds`` its
    per-kind AUCs (collect.by_kind)."""
    auc = {m: _num(float(group.loc[group["map"] == m, "pixel_auroc"].iloc[0])) for m in MAPS}
    pro = {m: _num(float(group.loc[group["map"] == m, "aupro_30"].iloc[0])) for m in MAPS}
    d = {"pixel_auroc": auc, "aupro_30": pro}
    n_trained = dict(zip(group["map"], group.get("n_trained", pd.Series(np.nan, group.index))))
    n_seeds = dict(zip(group["map"], group.get("n_seeds", pd.Series(np.nan, group.index))))
    d["trained"] = {m: (f"{int(n_trained[m])}/{int(n_seeds[m])}"
                        if math.isfinite(n_trained.get(m, math.nan)) else None) for m in MAPS}
    trained = {m: bool(n_trained.get(m) == n_seeds.get(m)) for m in MAPS}
    d["pixel_auroc_interval"] = {m: _pair(box.get(m)) for m in MAPS}
    _comparisons(d, auc, box, trained)
    ref = long[(long["dataset"] == spec) & (long["method"] == "reference")]
    d["reference"] = {n: {"pixel_auroc": _num(v), "interval": _pair(box.get(n))}
                      for n, v in zip(ref["map"], ref["pixel_auroc"])}
    if "knn" in box:
        d["control_finds_defects"] = above(box, "knn", CHANCE["pixel_auroc"])
        d["claim_tested"] = d["control_finds_defects"] and trained["l2"] and trained["ssim"]
    d["ssim_minus_l2_aupro"] = _diff("ssim", "l2", pro)
    cross = long[(long["dataset"] == spec).to_numpy() & is_cross(long)]
    d["cross_pixel_auroc"] = {f"{m}/{n}": _num(v) for m, n, v in
                              zip(cross["method"], cross["map"], cross["pixel_auroc"])}
    for kind, aucs in kinds.items():
        d[f"pixel_auroc_{kind}"] = aucs
        d[f"ssim_minus_l2_{kind}"] = _diff("ssim", "l2", aucs)
    return d


def _summary(datasets: dict, long: pd.DataFrame) -> dict:
    """Counts over the datasets of the claims that hold (DEFINITIONS, summary.*)."""
    def count(key):
        return sum(d.get(key) is True for d in datasets.values())

    def all_trained(d):
        return all(_all_of(d["trained"].get(m)) for m in ("l2", "ssim"))

    over = [spec for spec, d in datasets.items()
            if d["ssim_minus_l2"] is not None and all_trained(d)]
    mean = sum(datasets[s]["ssim_minus_l2"] for s in over) / len(over) if over else None
    return {"n_datasets": len(datasets),
            "n_claim_tested": count("claim_tested"),
            "n_ssim_beats_l2": count("ssim_beats_l2"),
            "n_claim_holds": sum(d.get("claim_tested") is True and d.get("ssim_beats_l2") is True
                                 for d in datasets.values()),
            "n_ssim_best": count("ssim_best"),
            "n_vae_kl_not_better_than_l2": count("vae_kl_not_better_than_l2"),
            "n_vae_rp_not_better_than_l2": count("vae_rp_not_better_than_l2"),
            "models_trained": trained_count(long),
            "mean_ssim_minus_l2": None if mean is None else round(mean, 4),
            "mean_ssim_minus_l2_over": over,
            "published_headline": {**published.HEADLINE, "source": published.HEADLINE_SOURCE}}


def _all_of(text) -> bool:
    """Whether a 'k/n' trained count has k = n (None: not evaluated, False)."""
    if not text:
        return False
    k, n = text.split("/")
    return k == n


def claims(long: pd.DataFrame, kinds: dict | None = None, bounds: dict | None = None) -> dict:
    """Per dataset: the numbers behind the paper's claims and whether each holds (null
    where it cannot be decided: no interval); the summary's counts; the definitions.
    ``bounds``: collect's intervals per dataset; ``kinds``: collect.by_kind per dataset."""
    out = {"datasets": {}, "vae_margin": VAE_MARGIN, "definitions": DEFINITIONS}
    for spec, group in main_rows(long).groupby("dataset", sort=False):
        out["datasets"][spec] = _dataset(spec, group, long, (bounds or {}).get(spec, {}),
                                         (kinds or {}).get(spec, {}))
    out["summary"] = _summary(out["datasets"], long)
    return out


def trained_count(long: pd.DataFrame) -> str | None:
    """'trained / all' models over the datasets, one count per (method, seed): the row of
    each method's main map (the VAE's two maps share one model)."""
    rows = model_rows(long)
    if "n_trained" not in rows or rows["n_trained"].isna().all():
        return None
    return f"{int(rows['n_trained'].sum())}/{int(rows['n_seeds'].sum())}"
