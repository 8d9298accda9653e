"""bf16: what stays float32, how ``auto`` is decided, and the verdict of the precision table."""
from pathlib import Path

import numpy as np
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


def test_the_precision_command_end_to_end_at_smoke_scale(tmp_path, monkeypatch):
    """Three trainings of each model on the same data, read back into one verdict."""
    import json

    from reproduce.__main__ import main
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    assert main(["precision", "--profile", "smoke", "--datasets", "fabric2",
                 "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "precision.json").read_text())
    assert len(result["runs"]) == 12 and len(result["comparison"]) == 4
    assert isinstance(result["safe"], bool) and "Verdict" in (tmp_path / "out" / "precision.md").read_text()
    for precision_, seed in precision.VARIANTS:
        info = json.loads((tmp_path / "out" / "precision" / f"fabric2_{precision_}_seed{seed}"
                           / "run.json").read_text())
        assert info["train_seed"] == seed and info["seeds"] == [0]  # same data, another training
        for folder in info["models"].values():
            model = json.loads((Path(folder) / "run.json").read_text())
            assert (model["seed"], model["data_seed"], model["profile"]["precision"]) == (seed, 0, precision_)
    # three different models per method: the seed and the precision are both in the key
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 9
