"""bf16: what stays float32, how ``auto`` is decided, and the verdict of the bf16 check."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import training
from reproduce import bf16_check, profiles, train


@pytest.mark.slow  # a training step in bfloat16, emulated where the CPU lacks it
@pytest.mark.parametrize("method", ["l2_ae", "ssim_ae", "vae"])
def test_a_bf16_model_has_float32_finite_loss_and_maps(method):
    import keras

    import textures
    from evaluation.maps import anomaly_maps
    from textures.patches import patch_dataset
    profile = dict(profiles.get("smoke"), precision="bf16", latent_dim=8)
    try:
        training.set_precision("bf16")
        keras.utils.set_random_seed(0)
        model = training.build(method, profile)
        ds = textures.load("fabric1", seed=0, small=True)
        x = next(iter(patch_dataset(ds.train, 128, 8, seed=0)))
        logs = model.train_on_batch(x, None if method == "vae" else x, return_dict=True)
        assert all(np.isfinite(float(v)) for v in logs.values()), logs
        assert model(x).dtype == "float32"  # the reconstruction leaves the model in float32
        maps = anomaly_maps(model, method, ds.test[:1], stride=64, batch=8, kl_stride=64, rp_samples=2)
        for name, values in maps.items():
            assert values.dtype == np.float32 and np.isfinite(values).all(), name
        # the convolutions themselves did run in bfloat16
        convs = [layer for layer in model.encoder.layers if "conv" in layer.name]
        assert convs[0].compute_dtype == "bfloat16"
    finally:
        training.set_precision("float32")


def test_auto_is_decided_once_from_the_hardware(monkeypatch):
    smoke = profiles.get("smoke")
    assert train.resolve_precision(smoke) is smoke  # explicit values pass unchanged
    for native, expected in ((True, "bf16"), (False, "float32")):
        monkeypatch.setattr(train, "native_bf16", lambda native=native: (native, "because"))
        got = train.resolve_precision(dict(smoke, precision="auto"))
        assert got["precision"] == expected and got["precision_requested"] == "auto"
        assert got["precision_reason"] == "because"
        assert train.resolve_precision(got) == got  # idempotent
    monkeypatch.undo()
    native, how = train.native_bf16()  # this machine: read from its CPU flags (no GPU here)
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    assert native == ("avx512_bf16" in flags or "amx_bf16" in flags or how.startswith("GPU")), how


def _fabricate(folder: Path, auc_shift: float, aupro: list[float], seeds=(0, 1, 2), k=6, bins=16):
    """An evaluation folder of one dataset: metrics.csv, histograms.npz, run.json. Each
    image's defect pixels sit ``auc_shift`` of the bins above its defect-free pixels."""
    import json
    from methods import MAPS, default_methods
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)  # the same draws in every folder
    rows, hist = [], {}
    run = default_methods()  # a default run: the maps of its methods
    for name, method in [(name, m.method) for name, m in MAPS.items() if m.method in run]:
        counts = np.zeros((len(seeds), k, 2, bins), np.int64)
        for s in range(len(seeds)):
            for i in range(k):
                counts[s, i, 0] = rng.multinomial(2000, np.ones(bins) / bins)
                lift = int(round(auc_shift * bins)) + rng.integers(0, 2)
                counts[s, i, 1] = np.roll(counts[s, i, 0] // 10, lift)
                counts[s, i, 1, :lift] = 0  # no wrap-around: the defect sits higher
        hist[f"{method}__{name}"] = counts
        for s, seed in enumerate(seeds):
            from evaluation.uncertainty import auroc_from_counts
            rows.append({"dataset": "d", "method": method, "map": name, "seed": seed,
                         "pixel_auroc": float(auroc_from_counts(counts[s].sum(0))),
                         "aupro_30": aupro[s], "image_auroc": 0.7, "fit_trained": s != 2})
    rows.append(dict(rows[0], method="l2_ae", map="ssim", pixel_auroc=0.99))  # a cross row
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    np.savez(folder / "histograms.npz", seeds=np.array(seeds), **hist)
    (folder / "run.json").write_text(json.dumps({
        "profile": {"name": "cpu", "precision": "bf16" if "extra" not in str(folder) else "float32"},
        "test_images": k, "dataset_source": "fabricated", "models": {}}))


def test_the_runs_differ_only_beyond_noise(tmp_path):
    """Same histograms and AUPROs: within noise. A companion whose defects sit far higher
    (pixel AUROC clearly above) or whose AUPRO moved by 15 standard errors: not within."""
    same = tmp_path / "same"
    _fabricate(same / "eval" / "d", 0.25, [0.50, 0.52, 0.51])
    _fabricate(bf16_check.companion_root(same, "float32") / "eval" / "d", 0.25, [0.50, 0.52, 0.51])
    result = bf16_check.summarise(same, ["d"])
    assert result["default_precision"] == "bf16" and result["safe"] is True
    rows = result["datasets"]["d"]
    assert [r["map"] for r in rows] == ["l2", "ssim", "vae_kl", "vae_rp"]  # no cross row
    for row in rows:
        low, high = row["pixel_auroc_diff_interval"]
        assert low <= 0 <= high and abs(row["pixel_auroc_diff"]) < 0.02
        assert (row["trained_bf16"], row["seeds_bf16"]) == (2, 3)
        assert row["pixel_auroc_hist_diff"] == pytest.approx(row["pixel_auroc_diff"], abs=1e-9)

    far = tmp_path / "far"
    _fabricate(far / "eval" / "d", 0.25, [0.50, 0.52, 0.51])
    _fabricate(bf16_check.companion_root(far, "float32") / "eval" / "d", 0.6, [0.20, 0.22, 0.21])
    result = bf16_check.summarise(far, ["d"])
    assert result["safe"] is False
    for row in result["datasets"]["d"]:
        low, high = row["pixel_auroc_diff_interval"]
        assert high < -0.1 and row["pixel_auroc_diff"] < -0.1  # bf16 below float32
        assert row["aupro_30_diff"] == pytest.approx(0.30) and not row["aupro_30_within_noise"]
    md = bf16_check.markdown(result)
    assert md.count("**no**") == 4 and "NOT within run-to-run noise" in md
    assert "| l2-AE | 2/3 / 2/3 |" in md


@pytest.mark.slow
def test_the_precision_command_end_to_end_at_smoke_scale(tmp_path, monkeypatch):
    """The plumbing, for one method: a default run (smoke: float32), then the command trains
    its bf16 companion on the same data and seeds, and compares the two."""
    import json

    from reproduce.__main__ import main
    from reproduce.evaluate import evaluate
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["precision", "--datasets", "nanofibres", "--out", str(out)]) == 2  # no default run yet
    evaluate("nanofibres", ("l2_ae",), profiles.get("smoke"), out / "eval" / "nanofibres", log=lambda m: None)
    assert main(["bf16-check", "--profile", "cpu", "--datasets", "nanofibres", "--out", str(out)]) == 2
    assert main(["bf16-check", "--datasets", "nanofibres", "--out", str(out)]) == 0
    result = json.loads((out / "bf16_check.json").read_text())
    assert result["default_precision"] == "float32" and list(result["datasets"]) == ["nanofibres"]
    (row,) = result["datasets"]["nanofibres"]
    companion = out / "extra" / "bf16_default" / "eval" / "nanofibres"
    metrics = {p: pd.read_csv(f / "metrics.csv") for p, f in
               (("float32", out / "eval" / "nanofibres"), ("bf16", companion))}
    for p, table in metrics.items():  # the row's numbers are the evaluations' metrics
        hit = table[(table["method"] == "l2_ae") & (table["map"] == "l2")]
        assert row[f"pixel_auroc_{p}"] == pytest.approx(hit["pixel_auroc"].mean(), abs=1e-6)
    info = json.loads((companion / "run.json").read_text())
    for folder in info["models"].values():
        model = json.loads((Path(folder) / "run.json").read_text())
        assert (model["seed"], model["profile"]["precision"]) == (0, "bf16")
    assert row["pixel_auroc_hist_diff"] == pytest.approx(row["pixel_auroc_diff"], abs=0.01)  # binning
    assert "## nanofibres" in (out / "bf16_check.md").read_text()
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 2  # precision is in the key


def test_a_stale_evaluation_is_recognised(tmp_path):
    """The companion (or the default run) counts only if its models are the ones this
    checkout trains: the model key in each folder name hashes the code and settings."""
    from reproduce import cache
    profile = {**profiles.get("cpu"), "precision": "float32"}
    current = {f"{m}/seed{s}": str(tmp_path / cache.model_dir("fabric1", s, m, profile, data_seed=0).name)
               for m in ("l2_ae", "ssim_ae") for s in profile["seeds"]}
    assert not bf16_check.stale({"models": current}, "fabric1", profile)
    assert bf16_check.stale({"models": current}, "fabric1", {**profile, "epochs": 21})
    assert bf16_check.stale({"models": current}, "fabric1", {**profile, "precision": "bf16"})
    old = dict(current, **{"l2_ae/seed1": "/cache/models/l2_ae-fabric1-000000000000"})
    assert bf16_check.stale({"models": old}, "fabric1", profile)
