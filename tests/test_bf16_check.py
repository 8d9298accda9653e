"""bf16: what stays float32, how ``auto`` is decided, and the verdict of the precision table."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reproduce import precision, profiles, train


@pytest.mark.parametrize("method", ["l2_ae", "ssim_ae", "vae"])
def test_a_bf16_model_has_float32_finite_loss_and_maps(method):
    import keras

    import textures
    from evaluation.maps import anomaly_maps
    from textures.patches import patch_dataset
    profile = dict(profiles.get("smoke"), precision="bf16", latent_dim=8)
    try:
        train.set_precision("bf16")
        keras.utils.set_random_seed(0)
        model = train.build(method, profile)
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
        train.set_precision("float32")


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


def _rows(ref, seed1, bf16, metric_offset=0.0):
    rows = []
    for (p, s), value in zip(precision.VARIANTS, (ref, seed1, bf16)):
        for name in ("l2", "ssim", "vae_kl", "vae_rp"):
            rows.append({"dataset": "d", "precision": p, "train_seed": s, "map": name,
                         "pixel_auroc": value, "aupro_30": value + metric_offset})
    return rows


def test_bf16_is_within_noise_only_when_no_farther_than_another_seed():
    same = precision.compare(_rows(0.80, 0.75, 0.77))  # bf16 0.03 off, seed 0.05 off
    assert all(row["within_noise"] for row in same) and len(same) == 4
    far = precision.compare(_rows(0.80, 0.79, 0.70))  # bf16 0.10 off, seed only 0.01
    assert not any(row["within_noise"] for row in far)
    assert far[0]["pixel_auroc_bf16_diff"] == pytest.approx(-0.10)
    floor = precision.compare(_rows(0.80, 0.80, 0.805))  # identical seeds: the 0.01 floor
    assert all(row["within_noise"] for row in floor)
    nan = precision.compare(_rows(0.80, 0.80, float("nan")))  # undefined is not "within"
    assert not any(row["within_noise"] for row in nan)


def _table(md: str, spec: str) -> list[list[str]]:
    """The cells of the markdown table under ``## spec`` (header and rule left out)."""
    lines = md.splitlines()
    at = lines.index(f"## {spec}")
    table = []
    for line in lines[at + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, rule, *rows = table
    assert len(header) == len(rule) == 12 and set(rule) == {"---"}
    assert all(len(row) == 12 for row in rows), rows
    return rows


def test_the_precision_table_from_fabricated_rows():
    """Two datasets, four maps each, every run a different number: each row of each table
    shows its own map's three runs, the differences and the verdict; one map out of noise
    on one metric turns the whole verdict."""
    from reproduce.context import MAPS
    rows = []
    for d, spec in enumerate(("dA", "dB")):
        for m, name in enumerate(MAPS):
            ref = 0.5 + 0.1 * m + 0.01 * d
            values = {("float32", 0): ref, ("float32", 1): ref - 0.02, ("bf16", 0): ref + 0.016}
            for (p, seed), value in values.items():
                jump = 0.185 if (spec, name, p) == ("dB", "vae_kl", "bf16") else 0.0
                rows.append({"dataset": spec, "precision": p, "train_seed": seed, "map": name,
                             "pixel_auroc": value + jump, "aupro_30": value / 2})  # AUROC only
    seconds = {precision._label(spec, p, k): 10.0 * (i + 1)
               for spec in ("dA", "dB") for i, (p, k) in enumerate(precision.VARIANTS)}
    result = precision.summarise(profiles.get("smoke"), ["dA", "dB"], rows, seconds, False, "no AVX512-BF16")
    assert result["safe"] is False and len(result["comparison"]) == 8
    assert [(c["dataset"], c["map"]) for c in result["comparison"] if not c["within_noise"]] == [("dB", "vae_kl")]
    bad = next(c for c in result["comparison"] if c["map"] == "vae_kl" and c["dataset"] == "dB")
    assert not bad["pixel_auroc_within_noise"] and bad["aupro_30_within_noise"]

    md = precision.markdown(result)
    for d, spec in enumerate(("dA", "dB")):
        table = _table(md, spec)
        assert [row[0] for row in table] == [label for _, label in MAPS.values()]
        for m, row in enumerate(table):
            ref = 0.5 + 0.1 * m + 0.01 * d
            bf16 = ref + 0.016 + (0.185 if (spec, m) == ("dB", 2) else 0.0)
            assert row[1:6] == [f"{ref:.3f}", f"{ref - 0.02:.3f}", f"{bf16:.3f}", "-0.020",
                                f"{bf16 - ref:+.3f}"]
            assert row[6:11] == [f"{ref / 2:.3f}", f"{(ref - 0.02) / 2:.3f}", f"{(ref + 0.016) / 2:.3f}",
                                 "-0.010", "+0.008"]
            assert row[11] == ("**no**" if (spec, m) == ("dB", 2) else "yes")
    assert "emulated (no AVX512-BF16)" in md
    assert "float32 seed 0 10 s, float32 seed 1 20 s, bf16 seed 0 30 s" in md
    assert "**Verdict: bf16 is NOT within run-to-run noise" in md
    fine = [dict(r, pixel_auroc=r["pixel_auroc"] - 0.185) if (r["dataset"], r["map"], r["precision"])
            == ("dB", "vae_kl", "bf16") else r for r in rows]  # back to +0.016
    result = precision.summarise(profiles.get("smoke"), ["dA", "dB"], fine, seconds, True, "AMX")
    assert result["safe"] is True
    md = precision.markdown(result)
    assert "**Verdict: bf16 is within run-to-run noise" in md and "native (AMX)" in md
    assert all(row[11] == "yes" for spec in ("dA", "dB") for row in _table(md, spec))


def test_the_precision_command_end_to_end_at_smoke_scale(tmp_path, monkeypatch):
    """The command's plumbing, for one method (the table's logic is tested above on
    fabricated rows): three trainings of the l2-AE on the same data, read back into one
    verdict."""
    import json

    from reproduce.__main__ import main
    from reproduce.context import MAPS
    monkeypatch.setattr(precision, "METHODS", ("l2_ae",))
    monkeypatch.setattr(precision, "MAPS", {"l2": MAPS["l2"]})
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    assert main(["precision", "--profile", "smoke", "--datasets", "nanofibres",
                 "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "precision.json").read_text())
    assert [(r["precision"], r["train_seed"], r["map"]) for r in result["runs"]] == [
        (p, k, "l2") for p, k in precision.VARIANTS]
    assert len(result["comparison"]) == 1 and result["datasets"] == ["nanofibres"]
    for precision_, seed in precision.VARIANTS:  # the rows are the evaluations' metrics
        folder = tmp_path / "out" / "precision" / f"nanofibres_{precision_}_seed{seed}"
        metrics = pd.read_csv(folder / "metrics.csv")
        hit = metrics[(metrics["method"] == "l2_ae") & (metrics["map"] == "l2")]
        assert len(hit) == 1  # one training seed per evaluation
        run = next(r for r in result["runs"] if (r["precision"], r["train_seed"]) == (precision_, seed))
        for m in precision.METRICS:
            assert run[m] == pytest.approx(float(hit[m].iloc[0]), abs=1e-6)
        info = json.loads((folder / "run.json").read_text())
        train_seeds = info["train_seeds"] if "train_seeds" in info else [info["train_seed"]]
        assert train_seeds == [seed] and info["seeds"] == [0]  # same data, another training
        for name in info["models"].values():
            model = json.loads((Path(name) / "run.json").read_text())
            assert (model["seed"], model["data_seed"], model["profile"]["precision"]) == (seed, 0, precision_)
    assert result["safe"] == result["comparison"][0]["within_noise"]
    assert result["comparison"][0]["pixel_auroc_bf16_diff"] == pytest.approx(
        result["runs"][2]["pixel_auroc"] - result["runs"][0]["pixel_auroc"], abs=1e-12)
    md = (tmp_path / "out" / "precision.md").read_text()
    assert len(_table(md, "nanofibres")) == 1
    # three different models: the seed and the precision are both in the key
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 3
