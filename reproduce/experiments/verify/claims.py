"""verify, check 4: every number and boolean of claims.json.

4a. The numbers of each dataset's entry recomputed from metrics.csv (seed means, trained
counts), the intervals of check 2 and, where maps.npz exists, the per-defect-kind AUCs of
check 1 (with the structural types the evaluation's run.json records): tolerance 5e-5,
1e-4 for differences of two rounded numbers.
4b. Every boolean from the rule its ``definitions`` state, applied to claims.json's own
numbers (a claim holds where its interval lies on the right side of its bound and every
model involved trained; null where there is no interval), and the summary's counts (of
the claims that hold; the mean difference over the datasets whose autoencoders trained).
"""
from __future__ import annotations

import json
from pathlib import Path

from reproduce.context import folder_name
from reproduce.experiments.verify.histograms import LEADS, PAIRS
from reproduce.experiments.verify.inputs import (CROSS, MAIN, MODELS, REFERENCE, Evaluation,
                                                 seed_summary)
from reproduce.experiments.verify.report import DIFF_TOL, TABLE_TOL, Check, Report, is_missing


def expected_claims(ev: Evaluation) -> dict:
    """The numbers of one dataset's entry in claims.json, recomputed (unrounded)."""
    mean = {n: seed_summary(ev, m, n) for n, m in MAIN.items()}
    auc = {n: mean[n].get("pixel_auroc", float("nan")) for n in MAIN}
    pro = {n: mean[n].get("aupro_30", float("nan")) for n in MAIN}
    d = {"pixel_auroc": auc, "aupro_30": pro,
         "trained": {n: (f"{mean[n]['n_trained']}/{mean[n]['n_seeds']}"
                         if not is_missing(mean[n].get("n_trained")) else None) for n in MAIN},
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
    d["ssim_lead_interval"] = {b: _pair(ev.intervals.get(key)) for key, (_, b) in LEADS.items()
                               if not is_missing(auc[b])}
    for kind in ("structural", "intensity"):
        if any(kind in per for per in ev.kinds.values()):
            aucs = {n: ev.kinds.get(n, {}).get(kind) for n in MAIN}
            d[f"pixel_auroc_{kind}"] = aucs
            d[f"ssim_minus_l2_{kind}"] = (None if aucs["ssim"] is None or aucs["l2"] is None
                                          else aucs["ssim"] - aucs["l2"])
    return d


def claimed_booleans(d: dict, margin: float) -> dict:
    """claims.json's booleans from its own numbers, by the rules its definitions state."""
    out = {}
    trained = {m: _all_trained((d.get("trained") or {}).get(m)) for m in MAIN}
    for claim, (a, b) in PAIRS.items():
        bound = d.get(f"{claim}_interval")
        both = trained[a] and trained[b]
        out[claim.replace("_minus_", "_beats_")] = (
            None if bound is None else bool(bound[0] > 0 and both))
        if a.startswith("vae_"):
            out[f"{a}_not_better_than_l2"] = (
                None if bound is None else bool(bound[1] <= margin and both))
    leads = d.get("ssim_lead_interval") or {}
    if (d.get("pixel_auroc") or {}).get("ssim") is None or None in leads.values():
        out["ssim_best"] = None
    else:
        out["ssim_best"] = trained["ssim"] and all(bound[0] > 0 and trained[m]
                                                   for m, bound in leads.items())
    knn = (d.get("reference") or {}).get("knn", {}).get("interval")
    if knn is not None:
        out["control_finds_defects"] = knn[0] > 0.5
        out["claim_tested"] = knn[0] > 0.5 and trained["l2"] and trained["ssim"]
    return out


def expected_summary(datasets: dict, evaluations: dict) -> dict:
    """The summary's counts from the datasets' entries (booleans) and metrics.csv (models)."""
    trained = seeds = 0
    for spec in datasets:
        ev = evaluations.get(folder_name(spec))
        for name, method in MODELS.items():  # one count per model
            s = seed_summary(ev, method, name) if ev else {}
            if not is_missing(s.get("n_trained")):
                trained, seeds = trained + s["n_trained"], seeds + s["n_seeds"]
    over = [spec for spec, d in datasets.items() if d.get("ssim_minus_l2") is not None
            and all(_all_trained((d.get("trained") or {}).get(m)) for m in ("l2", "ssim"))]

    def count(key):
        return sum(d.get(key) is True for d in datasets.values())

    return {"n_datasets": len(datasets), "n_claim_tested": count("claim_tested"),
            "n_ssim_beats_l2": count("ssim_beats_l2"), "n_ssim_best": count("ssim_best"),
            "n_claim_holds": sum(d.get("claim_tested") is True and d.get("ssim_beats_l2") is True
                                 for d in datasets.values()),
            "n_vae_kl_not_better_than_l2": count("vae_kl_not_better_than_l2"),
            "n_vae_rp_not_better_than_l2": count("vae_rp_not_better_than_l2"),
            "models_trained": f"{trained}/{seeds}" if seeds else None,
            "mean_ssim_minus_l2": (sum(datasets[s]["ssim_minus_l2"] for s in over) / len(over)
                                   if over else None),
            "mean_ssim_minus_l2_over": over}


def _all_trained(text) -> bool:
    if not text:
        return False
    n, of = text.split("/")
    return n == of


def _pair(bound):
    return None if bound is None else [float(bound[0]), float(bound[1])]


def compare_tree(check: Check, where: str, reported, expected, unchecked: set) -> None:
    """Walk ``expected``; compare each leaf with the same place in ``reported``."""
    if isinstance(expected, dict):
        reported = reported if isinstance(reported, dict) else {}
        for key, value in expected.items():
            if key not in reported and not is_missing(value):
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
