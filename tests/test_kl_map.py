"""The kl_map experiment (reproduce/experiments/kl_map/) on a tiny untrained VAE.

A randomly initialised VAE (d = 8) and a small fake dataset: the formulas and the
bookkeeping are tested, not a trained model. The KL's two parts against the model's own
KL; the window AUROC and the per-kind summary on tables whose answer is counted by hand;
the placement check at about 0 for the project's map and far from 0 for a shifted one; the
whole experiment from a model in a fake cache to its four files; and the line a run without
cached models gives.
"""
import json

import keras
import numpy as np
import pytest

import training
from errors import InputError
from models.vae import build_vae, kl_divergence
from reproduce import profiles
from reproduce.context import Context
from reproduce.experiments import kl_map
from reproduce.experiments.kl_map import measure
from textures.dataset import TextureDataset

D, P, STRIDE = 8, 128, 32


@pytest.fixture(scope="module")
def vae():
    keras.utils.set_random_seed(5)
    return build_vae(latent_dim=D, patch_size=P)


def _dataset(spec="fakeA") -> TextureDataset:
    """3 test images 160 x 192 (defect-free, a 'cut' and a 'swirl' blob of radius 30), 2
    validation images; textures in [0, 1]."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:160, :192]
    test = rng.random((3, 160, 192), dtype=np.float32)
    masks = np.zeros(test.shape, bool)
    masks[1] = (yy - 70) ** 2 + (xx - 60) ** 2 < 30 ** 2
    masks[2] = (yy - 100) ** 2 + (xx - 140) ** 2 < 30 ** 2
    test[masks] = 0.5  # a flat blob
    return TextureDataset(spec, train=test[:1], val=rng.random((2, 160, 160), dtype=np.float32),
                          test=test, masks=masks, has_mask=np.ones(3, bool),
                          labels=np.array([0, 1, 1]), defect_types=["good", "cut", "swirl"],
                          test_names=["a", "b", "c"])


def test_the_two_parts_add_up_to_the_models_kl(vae):
    windows = np.random.default_rng(1).random((5, P, P), dtype=np.float32)
    mu, log_var = measure.posterior(vae, windows, batch=2)
    mean_part, var_part = measure.kl_parts(mu, log_var)
    own = np.asarray(kl_divergence(vae, windows[..., None]), np.float64)
    np.testing.assert_allclose(mean_part + var_part, own, rtol=1e-5)
    np.testing.assert_allclose(measure.closed_form_kl(mu, log_var), own, rtol=1e-5)
    assert (mean_part > 0).all() and (var_part > 0).all()  # neither part is trivially 0
    # every window of the table: its KL is the model's for that window, cut by hand
    t = measure.window_table(vae, _dataset(), P, STRIDE, batch=64)
    np.testing.assert_array_equal(t["kl"], t["mean_part"] + t["var_part"])
    ds = _dataset()
    k = np.flatnonzero(t["image"] == 1)[2]  # image 1, row start 0, column start 64
    by_hand = kl_divergence(vae, ds.test[1][None, 0:P, 64:64 + P, None])
    np.testing.assert_allclose(t["kl"][k], np.asarray(by_hand)[0], rtol=1e-5)
    assert t["share"][k] == pytest.approx(ds.masks[1][0:P, 64:64 + P].mean())


def test_window_auroc_and_summary_against_counts_by_hand():
    # 3 negatives, 2 positives: of the 6 pairs the positive wins 5 (1.5 loses to 2)
    assert measure.window_auroc([0, 1, 2], [1.5, 3]) == pytest.approx(5 / 6)
    assert measure.window_auroc([1, 1], [1]) == 0.5  # ties count half
    assert np.isnan(measure.window_auroc([1, 2], []))
    t = {"kind": np.array(["good"] * 3 + ["cut"] * 3 + ["swirl"] * 2),
         "clean": np.array([1, 1, 1, 0, 0, 0, 0, 0], bool),
         # the third cut window has too little defect in it: not counted
         "defective": np.array([0, 0, 0, 1, 1, 0, 1, 1], bool),
         "kl": np.array([10., 11, 12, 13, 9, 100, 10.5, 11.5]),
         "mean_part": np.array([1., 2, 3, 0, 0, 0, 5, 5]),
         "std": np.array([.2, .2, .2, .1, .3, .2, .2, .2]), "r2": np.ones(8)}
    t["var_part"] = t["kl"] - t["mean_part"]
    rows = {r["kind"]: r for r in measure.summary_rows(t)}
    assert list(rows) == [measure.CLEAN, "cut", "swirl", measure.ALL]
    assert [rows[k]["windows"] for k in rows] == [3, 2, 2, 4]
    assert rows["cut"]["kl"] == 11.0 and "auroc_kl" not in rows[measure.CLEAN]
    assert rows["cut"]["auroc_kl"] == pytest.approx(3 / 6)       # 13 wins 3, 9 wins 0
    assert rows["swirl"]["auroc_kl"] == pytest.approx(3 / 6)     # 10.5 wins 1, 11.5 wins 2
    assert rows["cut"]["auroc_mean_part"] == 0.0                 # both below every clean one
    assert rows["cut"]["auroc_neg_std"] == pytest.approx(3 / 6)  # std 0.1 lower, 0.3 higher
    assert rows[measure.ALL]["auroc_kl"] == pytest.approx(6 / 12)


def test_placement_finds_the_map_where_the_hand_computation_is(vae, monkeypatch):
    ds = _dataset()
    checks = measure.placement(vae, ds, P, STRIDE, batch=64)
    assert [c["kind"] for c in checks] == ["good", "cut", "swirl"]
    assert [(c["row"], c["col"]) for c in checks] == [(80, 96), (70, 60), (100, 140)]
    # 160 rows: starts 0, 32 (both cover every row); 192 columns: starts 0, 32, 64
    assert [c["windows"] for c in checks] == [6, 4, 4]
    assert max(c["abs_diff"] for c in checks) < 1e-3
    # a map shifted by one stride is caught
    real = measure.anomaly_maps
    monkeypatch.setattr(measure, "anomaly_maps", lambda *a, **k: {
        name: np.roll(m, STRIDE, axis=2) for name, m in real(*a, **k).items()})
    assert max(c["abs_diff"] for c in measure.placement(vae, ds, P, STRIDE, batch=64)) > 1e-2


def _smoke_ctx(tmp_path, monkeypatch, spec="fakeA"):
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    return Context(out=tmp_path / "results", profile=profiles.get("smoke"), datasets=[spec])


def test_the_experiment_from_a_cached_model_to_its_files(tmp_path, monkeypatch):
    """A bf16 VAE in a fake cache, recorded by a fake evaluation: every file written, the
    placement checked on its float32 copy (about 0) and as it computes (bf16: < 1 nat)."""
    ctx = _smoke_ctx(tmp_path, monkeypatch)
    folder = tmp_path / "cache" / "models" / "vae-fakeA-0123456789ab"
    folder.mkdir(parents=True)
    keras.utils.set_random_seed(6)
    training.set_precision("bf16")
    try:
        build_vae(latent_dim=D, patch_size=P).save(folder / "model.keras")
    finally:
        training.set_precision("float32")
    (folder / "run.json").write_text(json.dumps({
        "dataset": "fakeA", "git_commit": "abc", "profile": {"latent_dim": D, "patch_size": P,
                                                              "precision": "bf16"}}))
    ctx.eval_dir("fakeA").mkdir(parents=True)
    (ctx.eval_dir("fakeA") / "run.json").write_text(json.dumps(
        {"train_seeds": [0], "seeds": [0], "models": {"vae/seed0": "/elsewhere/" + folder.name}}))
    monkeypatch.setattr(kl_map.textures, "load", lambda spec, seed=0, small=False: _dataset(spec))
    written = kl_map.run(ctx)
    assert sorted(p.name for p in written) == ["fig_kl_map.png", "run.json", "table_kl_map.csv",
                                               "table_kl_map.md"]
    assert (ctx.out / "kl_map" / "fig_kl_map.png").stat().st_size > 1000
    record = json.loads((ctx.out / "kl_map" / "run.json").read_text())
    model = record["models"][0]
    assert model["cache_key"] == "0123456789ab" and model["current_code_key"] is False
    assert max(c["abs_diff"] for c in model["placement"]) < 1e-3
    assert max(c["abs_diff"] for c in model["placement_as_run"]) < 1.0
    text = (ctx.out / "kl_map" / "table_kl_map.md").read_text()
    assert "placed and averaged as specified" in text and "ranking follows" in text


def test_no_cached_model_is_left_out_and_none_at_all_is_an_error(tmp_path, monkeypatch, capsys):
    ctx = _smoke_ctx(tmp_path, monkeypatch, spec="fabric1")
    with pytest.raises(InputError, match="kl_map: no trained VAE of fabric1 in the model cache"):
        kl_map.run(ctx)
    assert "kl_map: fabric1 seed 0: no trained VAE at" in capsys.readouterr().err
    assert not (ctx.out / "kl_map" / "run.json").exists()
