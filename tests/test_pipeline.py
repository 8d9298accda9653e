"""The pipeline end to end at smoke scale, the model cache, and the CLI's bad-input errors.

One smoke reproduction on one built-in dataset (module-scoped, about a minute; the tests
that use it are marked slow) feeds the checks: every expected file written; the saved
maps equal maps recomputed by hand from the cached models (windows cut, reconstructed,
scored and folded in a loop), the metrics equal scikit-learn's on them, the threshold is
the MVTec AD rule's on validation maps recomputed the same way; the table carries the
metrics.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from errors import InputError
from reproduce import profiles, runner
from reproduce.__main__ import main
from reproduce.experiments import REGISTRY
from reproduce.cache import model_dir
from reproduce.train import resolve_precision

SPEC = "fabric1"
FIGURES = ["fig_datasets.png", "fig_ssim_components.png", "fig_roc.png", "fig_training.png",
           f"fig_qualitative_{SPEC}.png"]
TABLES = ["table1.csv", "table1.md", "table_auc.csv", "table_auc.md", "fig_ssim_components.csv"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    cache = root / "cache"
    mp = pytest.MonkeyPatch()
    mp.setenv("SSIM_AE_CACHE", str(cache))
    out = root / "results"
    assert main(["all", "--profile", "smoke", "--datasets", SPEC, "--out", str(out)]) == 0
    yield out
    mp.undo()


@pytest.mark.slow
def test_smoke_run_writes_every_file(smoke_run):
    for name in FIGURES + TABLES + ["run.json", "claims.json"]:
        assert (smoke_run / name).stat().st_size > 0, name
    run = json.loads((smoke_run / "run.json").read_text())
    assert run["profile"]["name"] == "smoke" and run["datasets"] == [SPEC]
    assert set(run["seconds_per_stage"]) >= {"table1", f"evaluate {SPEC}", "table_auc"}
    assert run["git_commit"] and run["packages"]["tensorflow"]
    table = pd.read_csv(smoke_run / "table_auc.csv")
    metric_cols = ["pixel_auroc", "aupro_30", "image_auroc", "iou", "f1", "f1_max"]
    assert np.isfinite(table[metric_cols].to_numpy(float)).all()
    assert set(table["map"]) >= {"l2", "ssim", "vae_kl", "vae_rp"}
    # the table carries the evaluation's metrics (one seed: the seed mean is the value;
    # metrics.csv is checked against the maps below), rounded to 4 decimals
    metrics = pd.read_csv(smoke_run / "eval" / SPEC / "metrics.csv")
    merged = table.merge(metrics, on=["dataset", "method", "map"], suffixes=("", "_eval"))
    assert len(merged) == len(table)
    for col in metric_cols:
        np.testing.assert_allclose(merged[col], merged[f"{col}_eval"], rtol=0, atol=5.1e-5, err_msg=col)
    for experiment in REGISTRY.values():  # each writes what the registry says it writes
        if experiment.in_full_run:
            for pattern in experiment.outputs:
                assert list(smoke_run.glob(pattern)), (experiment.name, pattern)


def test_only_takes_any_registered_name_and_runs_three_phases():
    names = lambda experiments: [e.name for e in experiments]  # noqa: E731
    before, evaluating, after = runner.plan("fig_roc,bench,table1")
    assert (names(before), evaluating, names(after)) == (["table1", "bench"], True, ["fig_roc"])
    before, evaluating, after = runner.plan("bench,table1")
    assert (names(before), evaluating, names(after)) == (["table1", "bench"], False, [])
    assert runner.plan("verify")[1:] == (False, [REGISTRY["verify"]])  # reads the folder only
    assert runner.plan("evaluate") == ([], True, [])
    before, evaluating, after = runner.plan(None)  # a full run: the benchmark only on request
    assert "bench" not in names(before) and evaluating and names(after)[-1] == "verify"
    assert set(names(before + after)) == {e.name for e in REGISTRY.values() if e.in_full_run}
    with pytest.raises(InputError, match="unknown experiment 'nosuch': choose from table1"):
        runner.plan("table1,nosuch")


def _by_hand(model, name, images):
    """The map ``name`` of a smoke model, by hand: every window cut (in a loop), all of an
    image's windows reconstructed in one batch, each scored by its definition and folded by
    accumulating and counting (tests/test_maps.py); the KL map from the encoder's posterior
    of every window."""
    from tests.test_maps import _starts, fold_by_hand, one_minus_ssim
    profile = profiles.get("smoke")
    patch, stride = profile["patch_size"], profile["kl_stride" if name == "vae_kl" else "stride"]
    out = []
    for image in images:
        rows, cols = _starts(image.shape[0], patch, stride), _starts(image.shape[1], patch, stride)
        windows = np.stack([image[r:r + patch, c:c + patch] for r in rows for c in cols]).astype(np.float64)
        x = windows[..., None].astype(np.float32)
        if name == "vae_kl":  # closed-form KL of N(mu, exp(log_var)) against N(0, I)
            mu, log_var = (np.asarray(a, np.float64).reshape(len(x), -1)
                           for a in model.encoder(x, training=False))
            values = 0.5 * np.sum(mu ** 2 + np.exp(log_var) - 1.0 - log_var, axis=1)
        else:
            x_hat = np.asarray(model(x, training=False), np.float64)[..., 0]
            values = ((windows - x_hat) ** 2 if name == "l2"
                      else [one_minus_ssim(w, r) for w, r in zip(windows, x_hat)])
        scored = iter(values)  # fold_by_hand visits the windows in the same (row-major) order
        out.append(fold_by_hand(image, lambda window: next(scored), patch, stride))
    return np.stack(out)


@pytest.mark.slow
def test_saved_maps_and_metrics_match_an_independent_recomputation(smoke_run, monkeypatch):
    import textures
    import training
    from evaluation.uncertainty import aupro_from_counts
    from tests.test_scoring import _mvtec_threshold
    monkeypatch.setenv("SSIM_AE_CACHE", str(smoke_run.parent / "cache"))
    folder = smoke_run / "eval" / SPEC
    maps = np.load(folder / "maps.npz")
    metrics = pd.read_csv(folder / "metrics.csv")
    extra, histograms = np.load(folder / "bootstrap.npz"), np.load(folder / "histograms.npz")
    keep = maps["has_mask"]
    labels = maps["masks"][keep].ravel()
    val = textures.load(SPEC, seed=0, small=True).val  # smoke: every validation image
    models = {method: training.load_model(model_dir(SPEC, 0, method, profiles.get("smoke")))
              for method in ("l2_ae", "ssim_ae", "vae")}
    for name, method in [("l2", "l2_ae"), ("ssim", "ssim_ae"), ("vae_kl", "vae"), ("vae_rp", "vae")]:
        assert maps[name].shape == maps["images"].shape
        row = metrics[(metrics["method"] == method) & (metrics["map"] == name)].iloc[0]
        expected = roc_auc_score(labels, maps[name][keep].ravel())
        assert row["pixel_auroc"] == pytest.approx(expected, abs=1e-5)
        # bootstrap.npz: the inputs of the AUPRO and image ROC AUC intervals give the metrics
        key = f"{method}__{name}"
        assert roc_auc_score(maps["labels"], extra[f"{key}__image"][0]) == pytest.approx(
            row["image_auroc"], abs=1e-6)
        negatives = histograms[key][0, :, 0].sum(axis=0)
        assert aupro_from_counts(negatives, extra[f"{key}__regions"][0]) == pytest.approx(
            row["aupro_30"], abs=5e-3)
        assert float(maps[f"threshold_{name}"]) == pytest.approx(row["threshold"], rel=1e-5)
        if name == "vae_rp":  # sampled: its formula is tests/test_vae_maps.py's
            continue
        k = int(np.argmax(maps["labels"]))  # the first defective test image
        by_hand = _by_hand(models[method], name, maps["images"][k:k + 1])[0]
        np.testing.assert_allclose(maps[name][k], by_hand, rtol=1e-4, atol=1e-5, err_msg=name)
        val_maps = _by_hand(models[method], name, val)
        min_area = profiles.get("smoke")["min_defect_area"]
        assert row["threshold"] == pytest.approx(_mvtec_threshold(val_maps, min_area), rel=1e-4), name
    for method in ("l2_ae", "ssim_ae", "vae"):
        assert (folder / "logs" / f"{method}.csv").stat().st_size > 0


@pytest.mark.slow
def test_every_training_seeds_log_is_kept(smoke_run, monkeypatch, tmp_path):
    """logs/<method>.csv for the first training seed, logs/<method>_seed<k>.csv for each
    further one, each its model's log.csv. Seed 1 here is the cached seed-0 model with
    another log: nothing is trained."""
    from reproduce import evaluate as evaluation
    from reproduce import train as training
    monkeypatch.setenv("SSIM_AE_CACHE", str(smoke_run.parent / "cache"))
    cached = training.train

    def train(ds, method, profile, seed=0, data_seed=None):
        folder = cached(ds, method, profile, seed=0)
        if seed:
            folder = shutil.copytree(folder, tmp_path / f"{method}-{seed}")
            (folder / "log.csv").write_text("epoch,loss\n0,0.5\n")
        return folder

    monkeypatch.setattr(training, "train", train)
    profile = dict(profiles.get("smoke"), seeds=(0, 1))
    evaluation.evaluate(SPEC, ["l2_ae"], profile, tmp_path / "eval", log=lambda m: None)
    logs = tmp_path / "eval" / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["l2_ae.csv", "l2_ae_seed1.csv"]
    first = json.loads((tmp_path / "eval" / "run.json").read_text())["models"]["l2_ae/seed0"]
    assert (logs / "l2_ae.csv").read_bytes() == (Path(first) / "log.csv").read_bytes()
    assert (logs / "l2_ae_seed1.csv").read_text() == "epoch,loss\n0,0.5\n"


@pytest.mark.slow
def test_cached_models_are_reused_and_keyed_by_settings(smoke_run, monkeypatch, tmp_path):
    monkeypatch.setenv("SSIM_AE_CACHE", str(smoke_run.parent / "cache"))
    profile = profiles.get("smoke")
    folder = model_dir(SPEC, 0, "ssim_ae", profile)
    assert (folder / "run.json").exists() and (folder / "model.keras").exists()
    assert not (folder / "work").exists()
    other = dict(profile, learning_rate=1e-3)
    assert model_dir(SPEC, 0, "ssim_ae", other) != folder
    assert model_dir(SPEC, 1, "ssim_ae", profile) != folder
    # another training seed on the same data is yet another model; the default data seed
    # (the training seed) leaves the key as it was
    assert model_dir(SPEC, 0, "ssim_ae", profile, data_seed=0) == folder
    assert len({model_dir(SPEC, 1, "ssim_ae", profile, data_seed=0), model_dir(SPEC, 1, "ssim_ae", profile),
                folder}) == 3
    # precision "auto" is decided before the key: never cached under "auto" itself
    assert model_dir(SPEC, 0, "ssim_ae", resolve_precision(dict(profile, precision="auto"))) in {
        folder, model_dir(SPEC, 0, "ssim_ae", dict(profile, precision="bf16"))}
    stamp = (folder / "model.keras").stat().st_mtime
    assert main(["train", "--dataset", SPEC, "--method", "ssim_ae", "--profile", "smoke",
                 "--out", str(tmp_path / "m")]) == 0
    assert (folder / "model.keras").stat().st_mtime == stamp  # not retrained
    assert (tmp_path / "m" / "model.keras").exists()


@pytest.mark.slow
def test_segment_writes_overlays_and_masks(smoke_run, monkeypatch, tmp_path):
    from PIL import Image
    monkeypatch.setenv("SSIM_AE_CACHE", str(smoke_run.parent / "cache"))
    assert main(["train", "--dataset", SPEC, "--method", "l2_ae", "--profile", "smoke",
                 "--out", str(tmp_path / "m")]) == 0
    image = (np.load(smoke_run / "eval" / SPEC / "maps.npz")["images"][-1] * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    assert main(["segment", "--model", str(tmp_path / "m"), "--images", str(tmp_path / "x.png"),
                 "--out", str(tmp_path / "seg")]) == 0
    mask = np.array(Image.open(tmp_path / "seg" / "x_mask.png"))
    assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 255}
    assert (tmp_path / "seg" / "x_overlay.png").stat().st_size > 0


@pytest.mark.parametrize("argv, needle", [
    (["evaluate", "--dataset", "nosuch", "--out", "{tmp}/o"], "unknown dataset 'nosuch'"),
    (["evaluate", "--dataset", "fabric1", "--methods", "l2_ae,foo", "--out", "{tmp}/o"], "unknown method 'foo'"),
    (["evaluate", "--dataset", "fabric1", "--methods", ",", "--out", "{tmp}/o"], "names no method"),
    (["evaluate", "--dataset", "fabric1", "--profile", "huge", "--out", "{tmp}/o"], "unknown profile 'huge'"),
    (["evaluate", "--dataset", "folder:{tmp}/missing", "--profile", "smoke", "--out", "{tmp}/o"], "missing"),
    (["all", "--only", "fig_nothing", "--out", "{tmp}/o"], "unknown experiment 'fig_nothing'"),
    (["evaluate", "--dataset", "fabric1", "--out", "/proc/forbidden"], "/proc/forbidden"),
    (["segment", "--model", "{tmp}", "--images", "x.png", "--out", "{tmp}/o"], "not a trained model folder"),
])
def test_bad_input_is_one_error_line_and_status_2(argv, needle, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not (tmp_path / "o" / "metrics.csv").exists()


def test_datasets_export_and_show_through_the_cli(tmp_path):
    assert main(["datasets", "export", "brick", str(tmp_path / "brick"), "--small"]) == 0
    assert (tmp_path / "brick" / "train" / "good").is_dir()
    assert main(["datasets", "show", f"folder:{tmp_path / 'brick'}", "--small",
                 "--out", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 10_000


@pytest.mark.slow
def test_datasets_evaluated_in_parallel_equal_one_at_a_time(tmp_path, monkeypatch):
    """The smoke profile evaluates two datasets at once in worker processes; the models
    they train land in the shared cache, and evaluating them again in this process gives
    the same numbers."""
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    assert profiles.get("smoke")["jobs"] == 2
    assert main(["all", "--profile", "smoke", "--only", "evaluate", "--datasets", "brick,grass",
                 "--out", str(tmp_path / "par")]) == 0
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 6
    for spec in ("brick", "grass"):
        assert main(["evaluate", "--dataset", spec, "--profile", "smoke", "--out", str(tmp_path / spec)]) == 0
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "par" / "eval" / spec / "metrics.csv"),
                                      pd.read_csv(tmp_path / spec / "metrics.csv"), atol=1e-6)
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 6  # nothing retrained
