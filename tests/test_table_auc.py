"""table_auc's bold rule (a map is bold only where it leads by more than its interval) and
claims.json's rules (a claim counts only where it holds), with verify reading them alike."""
import json
import math

import numpy as np

from methods import MAPS
from reproduce.experiments.table_auc.collect import intervals, versus
from reproduce.experiments.table_auc.markdown import leader


def _rows(values, lows, trained=(3, 3, 3, 3)):
    return [{"pixel_auroc": v, "pixel_auroc_lo": lo, "n_trained": t, "n_seeds": 3, "aupro_30": v,
             "aupro_30_lo": lo} for v, lo, t in zip(values, lows, trained)]


def test_the_leader_needs_an_interval_above_zero_chance_and_trained_models():
    values, lows = [0.70, 0.90, 0.40, 0.72], [0.6, 0.8, 0.3, 0.6]
    ahead = {versus("ssim", "vae_rp"): (0.05, 0.25)}
    assert leader(_rows(values, lows), "pixel_auroc", ahead) == "ssim"
    # the difference from the SECOND best decides, not the one from the l2-AE
    near = {versus("ssim", "vae_rp"): (-0.01, 0.2), versus("ssim", "l2"): (0.1, 0.3)}
    assert leader(_rows(values, lows), "pixel_auroc", near) is None
    assert leader(_rows(values, lows, (3, 2, 3, 3)), "pixel_auroc", ahead) is None
    assert leader(_rows(values, [0.6, 0.45, 0.3, 0.6]), "pixel_auroc", ahead) is None
    assert leader(_rows(values, lows), "pixel_auroc", {}) is None  # no interval
    assert leader(_rows(values, lows), "aupro_30", ahead) is None  # no AUPRO interval given
    aupro_ahead = {f"aupro_30 {versus('ssim', 'vae_rp')}": (0.05, 0.25)}  # bounds.key's name
    assert leader(_rows(values, lows), "aupro_30", aupro_ahead) == "ssim"
    assert leader(_rows(values, lows), "iou", aupro_ahead) is None  # IoU: never an interval
    nan = _rows([math.nan, 0.9, math.nan, math.nan], lows)
    assert leader(nan, "pixel_auroc", ahead) is None


def test_intervals_hold_every_ordered_pair(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    counts = {}
    for i, (name, m) in enumerate(MAPS.items()):
        c = rng.integers(0, 50, (2, 5, 2, 8))
        c[:, :, 1] = np.sort(c[:, :, 1], axis=-1) * (i + 1)  # more defect mass high up
        counts[f"{m.method}__{name}"] = c
    np.savez(tmp_path / "histograms.npz", seeds=np.array([0, 1]), **counts)
    box = intervals(tmp_path)
    for a in MAPS:
        for b in MAPS:
            if a != b:
                low, high = box[versus(a, b)]
                other_low, other_high = box[versus(b, a)]
                assert low <= high and math.isclose(low, -other_high, abs_tol=1e-12)



PAPER = {"l2": 0.70, "ssim": 0.85, "vae_kl": 0.60, "vae_rp": 0.72}  # the paper's four maps


def _long(trained=(), knn=0.9, aucs=PAPER):
    """A long table (collect's format) of one dataset 'd': the maps of ``aucs`` evaluated
    (3 seeds; the maps in ``trained`` with 2 trained, the others 3), any other map of MAPS
    a method that was not run (NaN, as collect writes it), and the kNN control."""
    import pandas as pd
    rows = [{"dataset": "d", "method": m.method, "map": name,
             "pixel_auroc": aucs.get(name, math.nan), "aupro_30": aucs.get(name, math.nan),
             "n_seeds": 3 if name in aucs else math.nan,
             "n_trained": (2 if name in trained else 3) if name in aucs else math.nan}
            for name, m in MAPS.items()]
    rows.append({"dataset": "d", "method": "reference", "map": "knn", "pixel_auroc": knn,
                 "aupro_30": 0.5, "n_seeds": 1})
    return pd.DataFrame(rows)


def _box(ssim_l2, leads=None, vae=(-0.1, 0.01), knn=(0.8, 0.95)):
    """Intervals as collect.intervals names them: SSIM minus l2, the VAE maps minus l2,
    the SSIM map's leads over the other maps evaluated, the kNN control."""
    box = {"ssim_minus_l2": ssim_l2, "vae_kl_minus_l2": vae, "vae_rp_minus_l2": vae, "knn": knn}
    for name in PAPER:
        if name != "ssim":
            box[versus("ssim", name)] = (leads or {}).get(name, ssim_l2)
    return box


def _claims(trained=(), **box):
    from reproduce.experiments.table_auc.claims import claims
    return claims(_long(trained), bounds={"d": _box(**box)} if box else None)


def test_claims_count_only_what_holds():
    from reproduce.experiments.table_auc.claims import DEFINITIONS
    held = _claims(ssim_l2=(0.05, 0.2))
    d = held["datasets"]["d"]
    assert d["ssim_beats_l2"] is True and d["ssim_best"] is True  # over the maps evaluated
    assert d["vae_kl_not_better_than_l2"] is True and d["vae_rp_beats_l2"] is False
    assert d["control_finds_defects"] is True and d["claim_tested"] is True
    summary = held["summary"]
    assert summary["n_ssim_beats_l2"] == summary["n_ssim_best"] == summary["n_claim_tested"] == 1
    assert summary["mean_ssim_minus_l2"] == 0.15 and summary["mean_ssim_minus_l2_over"] == ["d"]
    # a point lead whose interval reaches 0 does not count
    near = _claims(ssim_l2=(-0.01, 0.2))["datasets"]["d"]
    assert near["ssim_minus_l2"] > 0 and near["ssim_beats_l2"] is False
    assert near["ssim_best"] is False
    # nor one of an untrained model, and no mean over it
    untrained = _claims(trained=("ssim",), ssim_l2=(0.05, 0.2))
    d = untrained["datasets"]["d"]
    assert d["ssim_beats_l2"] is False and d["ssim_best"] is False and d["claim_tested"] is False
    assert untrained["summary"]["n_ssim_beats_l2"] == 0
    assert untrained["summary"]["mean_ssim_minus_l2"] is None
    # best only where the lead over EVERY other map holds and their models trained
    behind = _claims(ssim_l2=(0.05, 0.2), leads={"vae_rp": (-0.02, 0.1)})
    assert behind["datasets"]["d"]["ssim_best"] is False
    d = _claims(trained=("vae_kl", "vae_rp"), ssim_l2=(0.05, 0.2))["datasets"]["d"]
    assert d["ssim_best"] is False and d["vae_kl_not_better_than_l2"] is False
    # the VAE's "not better" needs the whole interval at or below the margin
    d = _claims(ssim_l2=(0.05, 0.2), vae=(-0.1, 0.03))["datasets"]["d"]
    assert d["vae_rp_not_better_than_l2"] is False
    # a control at chance: the dataset cannot test the claim
    untested = _claims(ssim_l2=(0.05, 0.2), knn=(0.45, 0.6))
    d = untested["datasets"]["d"]
    assert d["control_finds_defects"] is False and d["claim_tested"] is False
    # ... its lead holds but the claim does not: counted apart
    assert untested["summary"]["n_ssim_beats_l2"] == 1 and untested["summary"]["n_claim_holds"] == 0
    assert held["summary"]["n_claim_holds"] == 1
    # no intervals: nothing holds, and nothing is called false either
    none = _claims()
    d = none["datasets"]["d"]
    assert d["ssim_beats_l2"] is None and d["ssim_best"] is None
    assert none["summary"]["n_ssim_beats_l2"] == 0 and "claim_tested" not in none["datasets"]["d"]
    # every field is defined in the file ("<map>": ssim, vae_kl, vae_rp; vae_kl: likewise vae_rp)
    defined = {k.replace("summary.", "") for k in DEFINITIONS}
    for key in [*held["datasets"]["d"], *summary]:
        general = key.replace("vae_rp", "vae_kl")
        for name in ("ssim", "vae_kl"):
            general = general.replace(f"{name}_minus_l2", "<map>_minus_l2").replace(
                f"{name}_beats_l2", "<map>_beats_l2")
        assert key in defined or general in defined or key in (
            "n_datasets", "published_headline", "mean_ssim_minus_l2_over"), key


def test_verify_reads_the_claims_rules_as_table_auc_writes_them():
    from reproduce.experiments.table_auc.claims import VAE_MARGIN
    from reproduce.experiments.verify.claims import claimed_booleans
    rng = np.random.default_rng(1)
    verdicts = set()
    for _ in range(40):
        low = rng.uniform(-0.1, 0.1, 5)
        trained = [name for name in PAPER if rng.random() < 0.15]
        d = json.loads(json.dumps(_claims(
            trained, ssim_l2=(low[0], low[0] + 0.2), vae=(low[1], low[1] + 0.06),
            leads={"vae_kl": (low[2], 0.3), "vae_rp": (low[3], 0.3)},
            knn=(0.5 + low[4], 0.9))["datasets"]["d"]))
        expected = claimed_booleans(d, VAE_MARGIN)
        assert {k: d[k] for k in expected} == expected
        verdicts.add(tuple(expected.values()))
    assert len(verdicts) > 5  # the cases differ
