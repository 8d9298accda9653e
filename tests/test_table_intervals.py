"""table_auc's intervals on every row (reproduce/experiments/table_auc/bounds.py) on a fake
evaluation folder whose answers are known, and verify's table check recomputing them.

The fake (tests/test_experiments.py ``_write_eval``: 4 test images, "cut" structural,
"swirl" not, "stain" without a mask) gets what an evaluation writes for the intervals,
two training seeds: histograms.npz and bootstrap.npz. Its l2-AE scored with the SSIM
residual is given the l2-AE's own maps, so the difference of the two is 0 in every
replicate, and the kNN control its masks for a map, every defect pixel above every other, so its
intervals are [1, 1]. Its maps.npz is then removed, as in a clone of the repository.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest

from methods import MAPS
from reproduce.context import Context
from tests.test_experiments import _write_eval

SPEC = "fakeA"


def _resampling_files(folder):
    """histograms.npz, bootstrap.npz and a metrics.csv row per seed for every row, the
    metrics computed from the maps (evaluation/metrics.py), as evaluate writes them."""
    from evaluation.metrics import aupro, image_auroc, image_scores, pixel_auroc
    from evaluation.uncertainty import (bin_edges, pixel_histograms, region_histograms,
                                        region_images)
    with np.load(folder / "maps.npz") as z:
        maps = {name: z[name] for name in MAPS}
        masks, has_mask, labels = z["masks"], z["has_mask"], z["labels"]
        types = z["defect_types"]
    noise = np.random.default_rng(5).random(masks.shape)
    seeds = {(m.method, name): [maps[name], maps[name] + noise] for name, m in MAPS.items()}
    seeds[("l2_ae", "ssim")] = seeds[("l2_ae", "l2")]   # the same maps as its own
    seeds[("ssim_ae", "l2")] = [maps["l2"] + 0.5 * noise, maps["l2"]]
    seeds[("reference", "knn")] = [masks.astype(np.float32)]  # perfect: defects above all
    hist, boot, rows = {}, {}, []
    for (method, name), stack in seeds.items():
        parts = {"": [], "__regions": [], "__image": []}
        for seed, m in enumerate(stack):
            edges = bin_edges(m, has_mask)
            parts[""].append(pixel_histograms(m, masks, has_mask, edges=edges))
            parts["__regions"].append(region_histograms(m, masks, has_mask, edges=edges))
            parts["__image"].append(image_scores(m))
            rows.append({"dataset": SPEC, "method": method, "map": name, "seed": seed,
                         "pixel_auroc": pixel_auroc(m, masks, has_mask),
                         "aupro_30": aupro(m, masks, has_mask),
                         "image_auroc": image_auroc(m, labels), "fit_trained": True})
        hist[f"{method}__{name}"] = np.stack(parts[""])
        boot.update({f"{method}__{name}{k}": np.stack(v) for k, v in parts.items() if k})
    np.savez(folder / "histograms.npz", seeds=np.array([0, 1]), defect_types=types, **hist)
    np.savez(folder / "bootstrap.npz", seeds=np.array([0, 1]), labels=labels,
             region_image=region_images(masks, has_mask), **boot)
    (folder / "maps.npz").unlink()
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False, float_format="%.7g")
    return maps, masks, has_mask, types


@pytest.fixture
def table(tmp_path):
    from reproduce.experiments import table_auc
    ctx = Context(out=tmp_path / "results", profile={"seeds": (0,), "small_data": True},
                  datasets=[SPEC])
    _write_eval(ctx.eval_dir(SPEC), SPEC, seed=0)
    truth = _resampling_files(ctx.eval_dir(SPEC))
    table_auc.run(ctx)
    return ctx, pd.read_csv(ctx.out / "table_auc.csv"), truth


def _row(df, method, name):
    return df[(df["method"] == method) & (df["map"] == name)].iloc[0]


def test_every_row_has_its_intervals_and_known_answers(table):
    ctx, df, (maps, masks, has_mask, types) = table
    for column in ("pixel_auroc", "aupro_30", "image_auroc", "pixel_auroc_structural"):
        assert (df[f"{column}_lo"] <= df[f"{column}_hi"]).all(), column
    same = _row(df, "l2_ae", "ssim")  # scored with its own maps: the difference is 0
    for metric in ("pixel_auroc", "aupro_30", "image_auroc"):
        assert (same[f"{metric}_minus_own"], same[f"{metric}_minus_own_lo"],
                same[f"{metric}_minus_own_hi"]) == (0, 0, 0), metric
    other = _row(df, "ssim_ae", "l2")
    assert other["pixel_auroc_minus_own_lo"] < other["pixel_auroc_minus_own_hi"]
    assert math.isnan(_row(df, "l2_ae", "l2")["pixel_auroc_minus_own"])  # main rows: none
    knn = _row(df, "reference", "knn")
    for metric in ("pixel_auroc", "aupro_30", "image_auroc", "pixel_auroc_structural"):
        assert knn[f"{metric}_lo"] == knn[f"{metric}_hi"] == 1, metric
    # by kind: the seed mean over the defect-free image and the one "cut" image
    from sklearn.metrics import roc_auc_score
    keep = np.isin(types, ["good", "cut"]) & has_mask
    noise = np.random.default_rng(5).random(masks.shape)
    for name, m in MAPS.items():
        expected = np.mean([roc_auc_score(masks[keep].ravel(), s[keep].ravel())
                            for s in (maps[name], maps[name] + noise)])
        got = _row(df, m.method, name)["pixel_auroc_structural"]
        assert got == pytest.approx(expected, abs=3e-3), name
    claims = json.loads((ctx.out / "claims.json").read_text())["datasets"][SPEC]
    assert claims["pixel_auroc_structural"]["l2"] == pytest.approx(
        _row(df, "l2_ae", "l2")["pixel_auroc_structural"], abs=1e-4)
    md = (ctx.out / "table_auc.md").read_text()
    assert md.split("## Loss")[0].count("descriptive (no interval)") == 1  # the intro's only


def test_without_bootstrap_npz_aupro_and_image_auroc_are_descriptive(tmp_path):
    from reproduce.experiments import table_auc
    ctx = Context(out=tmp_path / "results", profile={"seeds": (0,), "small_data": True},
                  datasets=[SPEC])
    _write_eval(ctx.eval_dir(SPEC), SPEC, seed=0)
    _resampling_files(ctx.eval_dir(SPEC))
    (ctx.eval_dir(SPEC) / "bootstrap.npz").unlink()
    table_auc.run(ctx)
    df = pd.read_csv(ctx.out / "table_auc.csv")
    assert df["pixel_auroc_lo"].notna().all() and df["pixel_auroc_structural_lo"].notna().all()
    assert df[["aupro_30_lo", "image_auroc_hi", "aupro_30_minus_own_lo"]].isna().all().all()
    md = (ctx.out / "table_auc.md").read_text()
    aupro = md.split("### AUPRO")[1].split("###")[0]
    assert aupro.count("descriptive (no interval)") == len(MAPS)


def test_verify_recomputes_the_new_columns_and_catches_a_changed_one(table):
    from reproduce.experiments.verify import verify
    ctx, df, _ = table
    report = verify(ctx.out)
    # every seed's pixel and image ROC AUC and AUPRO from the files, the table, the claims
    for key in ("histograms", "image_scores", "region_counts", "table", "claims"):
        assert report.checks[key].compared > 0 and report.checks[key].mismatches == [], key
    path = ctx.out / "table_auc.csv"
    spoilt = df.copy()
    spoilt.loc[(df["method"] == "ssim_ae") & (df["map"] == "l2"), "aupro_30_minus_own_hi"] += 0.01
    spoilt.to_csv(path, index=False, float_format="%.4f")
    mismatches = verify(ctx.out).checks["table"].mismatches
    assert len(mismatches) == 1 and "ssim_ae/l2 aupro_30_minus_own_hi" in mismatches[0]


def test_verify_binned_aupro_is_within_its_worst_case():
    """verify's AUPRO from counts against the exact one, on coarse bins (8) where the
    binning shows: never further off than the worst case it states, which is not loose."""
    from evaluation.metrics import aupro
    from evaluation.uncertainty import pixel_histograms, region_histograms
    from reproduce.experiments.verify.histograms import binned_aupro
    rng = np.random.default_rng(2)
    errors = []
    for trial in range(6):
        masks = np.zeros((6, 32, 32), bool)
        for k in range(1, 6):
            y, x = rng.integers(0, 20, 2)
            masks[k, y:y + 4 + k, x:x + 6] = True
        maps = rng.normal(size=masks.shape) + rng.uniform(0.5, 2) * masks
        has = np.ones(6, bool)
        counts = pixel_histograms(maps, masks, has, bins=8)
        regions = region_histograms(maps, masks, has, bins=8)
        value, error = binned_aupro(counts[:, 0].sum(0), regions)
        exact = aupro(maps, masks, has)
        assert abs(value - exact) <= error + 1e-12, (value, exact, error)
        errors.append((abs(value - exact), error))
    assert max(e for e, _ in errors) > 0.002 and max(w for _, w in errors) < 0.5
