"""The budget study and the batch-size / learning-rate sweep (issue 21), at a tiny scale.

The budget's contract: a model measured at checkpoint 2 is the model of checkpoint 1
trained (c2 - c1) updates more on the continued patch stream, with its optimiser state,
whether the run went through in one piece or was stopped after checkpoint 1 and run
again; the run again measures only what is missing. The sweep's: every configuration
stops at its wall-clock budget (plus at most one batch). Checkpoints of 2 and 5 updates
at 2 updates per epoch also exercise a checkpoint inside an epoch.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest

from errors import InputError
from reproduce import experiment_options, profiles, runner
from reproduce.context import Context

C1, C2 = 2, 5


def _profile():
    return {**profiles.get("smoke"), "batch_size": 8, "patches_per_epoch": 16}  # 2 updates/epoch


def _ctx(out, messages):
    ctx = Context(out=out, profile=_profile(), datasets=["fabric1"])
    ctx.log = messages.append
    return ctx


def _args(**given):
    return type("Args", (), {dest: given.get(dest) for dest in experiment_options.OPTIONS})()


def test_options_are_checked_before_anything_runs():
    assert experiment_options.collect(_args(checkpoints="1280,640"), "budget") == {
        "checkpoints": [640, 1280]}
    assert experiment_options.collect(_args(sweep_minutes="2", batch_sizes="16,64"), "sweep") == {
        "sweep_minutes": 2.0, "batch_sizes": [16, 64]}
    for bad, only in [(dict(checkpoints="640,0"), "budget"), (dict(checkpoints="a"), "budget"),
                      (dict(checkpoints="640,640"), "budget"), (dict(checkpoints="640"), "sweep"),
                      (dict(sweep_minutes="1,2"), "sweep"), (dict(learning_rates="-1"), "sweep")]:
        with pytest.raises(InputError):
            experiment_options.collect(_args(**bad), only)
    before, evaluating, after = runner.plan("budget,sweep")
    assert [e.name for e in before] == ["sweep", "budget"] and not evaluating and not after


@pytest.mark.slow
def test_budget_resumes_and_continues_training(tmp_path, monkeypatch):
    import tensorflow as tf

    import textures
    import training
    from reproduce.experiments import budget
    from reproduce.experiments.budget import measure as measure_module
    from reproduce.experiments.budget.trainee import Trainee

    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    measured = []
    real = measure_module.measure
    monkeypatch.setattr(measure_module, "measure",
                        lambda trainee, *a: measured.append(trainee.updates) or real(trainee, *a))
    monkeypatch.setattr(budget, "PROGRESS_EVERY", 2)  # one epoch: segments train in pieces
    messages, out = [], tmp_path / "out"
    budget.study(_ctx(out, messages), (C1,), ("l2_ae",))  # "interrupted" after checkpoint 1
    folder = out / "budget" / "fabric1"
    first = pd.read_csv(folder / "checkpoints.csv")
    assert measured == [C1] and (folder / "run.json").exists()
    files = budget.study(_ctx(out, messages), (C1, C2), ("l2_ae",))  # run again, to checkpoint 2
    assert measured == [C1, C2]  # checkpoint 1 not measured again
    assert any(f"resumes at {C1}" in m for m in messages)
    assert any(f"at 4 of {C2} updates" in m for m in messages)  # a piece of the segment C1 -> C2
    rows = pd.read_csv(folder / "checkpoints.csv")
    assert list(rows.columns) == list(measure_module.ROW_COLUMNS)
    assert sorted(rows["updates"].unique()) == [C1, C2] and set(rows["map"]) == {"l2", "ssim"}
    pd.testing.assert_frame_equal(rows[rows["updates"] == C1].reset_index(drop=True), first,
                                  check_dtype=False)  # the same rows, not measured again
    assert (rows["pixel_auroc_low"] <= rows["pixel_auroc_high"]).all()
    from reproduce.experiments.budget.report import read_histograms
    assert len(read_histograms(folder)[0]) == 4  # l2 and ssim maps at both checkpoints, kept on resume
    curves = pd.read_csv(folder / "curves.csv")
    assert list(curves["updates"]) == [2, 4, 5] and curves["val_loss"].notna().all()
    for path in files:
        assert path.exists(), path
    table = pd.read_csv(out / "budget" / "table_budget.csv")
    assert set(table["map"]) == {"l2"} and list(table["updates"]) == [C1, C2]

    # the contract itself: the weights at checkpoint 2, restored from the resumed run's state,
    # (trained in pieces, PROGRESS_EVERY) equal one uninterrupted fit from update 0 to C2
    profile = _profile()
    ds = textures.load("fabric1", seed=0, small=True)
    val = training.validation_patches(ds.val, profile["patch_size"])
    saved = Trainee("l2_ae", ds, val, profile)
    saved.start(at_most=C2)
    assert saved.updates == C2
    tf.config.experimental.enable_op_determinism()
    straight = Trainee("l2_ae", ds, val, profile)
    straight.start(at_most=0)  # fresh: the saved state holds more updates
    straight.train_to(C2)
    for a, b in zip(saved.model.get_weights(), straight.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert math.isclose(straight.curve[-1]["val_loss"], rows.loc[rows["updates"] == C2, "val_loss"].iloc[0],
                        rel_tol=1e-5)


@pytest.mark.slow
def test_vae_state_is_saved_whole(tmp_path, monkeypatch):
    """The VAE's sampling noise (a random generator that Keras' save_weights leaves out),
    its optimiser and its weights come back as they were saved."""
    import textures
    import training
    from reproduce.experiments.budget.trainee import SEED_STATE, Trainee

    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    profile = _profile()
    ds = textures.load("fabric1", seed=0, small=True)
    val = training.validation_patches(ds.val, profile["patch_size"])
    trained = Trainee("vae", ds, val, profile)
    trained.start(at_most=0)
    trained.train_to(C1)
    trained.save()
    restored = Trainee("vae", ds, val, profile)
    restored.start(at_most=C1)
    assert restored.updates == C1 and restored.curve == trained.curve
    random = [v.numpy() for v in trained.model.variables if SEED_STATE in v.path]
    assert random and not np.array_equal(random[0], [1337, 0])  # it moved while training
    for a, b in zip(trained.model.variables, restored.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(trained.model.optimizer.variables, restored.model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.slow
def test_sweep_stops_at_its_time_budget(tmp_path):
    from reproduce.experiments import sweep

    seconds, messages = 3.0, []
    ctx = _ctx(tmp_path, messages)
    ctx.profile["precision"] = "bf16"  # kept through the configuration's fresh Keras session
    files = sweep.sweep(ctx, "fabric1", ("l2_ae",), (8,), (1e-3,), seconds)
    for path in files:
        assert path.exists(), path
    curves = pd.read_csv(tmp_path / "sweep" / "curves.csv")
    assert curves["seconds"].iloc[0] == 0 and curves["seconds"].is_monotonic_increasing
    # stopped at the first batch past the budget: within one batch of it (a batch of 8
    # patches takes well under a second), the validation pauses left out
    assert seconds <= curves["seconds"].iloc[-1] < seconds + 1.0
    assert len(curves) >= sweep.EVALUATIONS and curves["val_loss"].notna().all()
    table = pd.read_csv(tmp_path / "sweep" / "table_sweep.csv")
    assert list(table.columns) == list(sweep.TABLE_COLUMNS) and table["best"].tolist() == [True]
    assert table["val_loss"].iloc[0] == pytest.approx(curves["val_loss"].iloc[-1], rel=1e-5)
    assert table["updates"].iloc[0] == curves["updates"].iloc[-1] > 1
    info = json.loads((tmp_path / "sweep" / "run.json").read_text())
    assert info["configurations"][0]["dtype_policy"] == "mixed_bfloat16"


def _part(root, spec, updates, complete):
    """A dataset folder of the study as a run leaves it (rows of the l2-AE's two maps)."""
    from reproduce.experiments.budget.measure import ROW_COLUMNS
    folder = root / spec
    folder.mkdir(parents=True)
    rows = [{c: 0.5 for c in ROW_COLUMNS} | {"dataset": spec, "method": "l2_ae", "map": m,
                                              "updates": u, "patches": 32 * u, "fit_trained": True,
                                              "model_key": "k"}
            for u in updates for m in ("l2", "ssim")]
    pd.DataFrame(rows).to_csv(folder / "checkpoints.csv", index=False)
    pd.DataFrame({"method": "l2_ae", "updates": list(updates), "val_loss": 1.0}).to_csv(
        folder / "curves.csv", index=False)
    if complete:
        (folder / "run.json").write_text(json.dumps({"checkpoints": list(updates),
                                                     "git_commit": "abc", "host": {"cpu": "X"}}))


def test_parts_of_the_study_are_assembled(tmp_path):
    """A study run one dataset at a time: the last run's figure, table and run.json cover
    every dataset folder present, in the default run's order, incomplete ones flagged."""
    from reproduce.experiments.budget import report
    _part(tmp_path, "nanofibres", (640, 1280), complete=True)  # an earlier session's part
    _part(tmp_path, "fabric1", (640,), complete=False)  # this run's, still running
    (tmp_path / "notes").mkdir()  # a folder that is not a part
    assert report.shown(tmp_path, ["fabric1"]) == ["fabric1", "nanofibres"]
    files = report.write(tmp_path, report.shown(tmp_path, ["fabric1"]))
    assert all(f.exists() for f in files)
    table = pd.read_csv(tmp_path / "table_budget.csv")
    assert list(table["dataset"]) == ["fabric1", "nanofibres", "nanofibres"]
    md = (tmp_path / "table_budget.md").read_text()
    assert "## fabric1 (incomplete" in md and "## nanofibres\n" in md
    parts = report.parts(tmp_path, ["fabric1"])
    assert parts["nanofibres"]["complete"] and parts["nanofibres"]["git_commit"] == "abc"
    assert parts["nanofibres"]["checkpoints_measured"] == [640, 1280]
    assert not parts["fabric1"]["complete"] and "git_commit" not in parts["fabric1"]


def test_validation_loss_change_between_checkpoints():
    """The rule 'flattened' reads: relative change since the model's previous checkpoint,
    per dataset and map, negative where the loss fell (a negative ELBO too)."""
    from reproduce.experiments.budget import report
    table = pd.DataFrame({"dataset": ["a"] * 3 + ["b"] * 2, "map": ["l2"] * 3 + ["vae_rp"] * 2,
                          "updates": [640, 1280, 2560, 640, 1280],
                          "val_loss": [100.0, 50.0, 48.0, -1000.0, -1100.0]})
    change = report.with_change(table)["val_loss_change"].to_numpy()
    assert np.isnan(change[0]) and np.isnan(change[3])
    np.testing.assert_allclose(change[[1, 2, 4]], [-0.5, -0.04, -0.1])
    assert report._change(-0.04).endswith("(flat)") and not report._change(-0.1).endswith("(flat)")


def test_paired_lead_from_recorded_histograms(tmp_path):
    """The SSIM-AE - l2-AE row: the rows' AUC difference with a paired interval drawn from
    the per-image histograms; a map against an identical copy gives exactly [0, 0], a
    map whose defect pixels sit higher leads with an interval above 0, and a checkpoint
    without histograms (an older run's) has no row."""
    from reproduce.experiments.budget import report
    from reproduce.experiments.budget.measure import hist_key
    rng = np.random.default_rng(0)
    k, bins = 8, 16
    low = np.zeros((k, 2, bins), np.int64)
    low[:, 0] = rng.multinomial(500, np.ones(bins) / bins, size=k)
    low[:, 1] = rng.multinomial(50, np.ones(bins) / bins, size=k)
    high = low.copy()
    high[:, 1] = np.roll(low[:, 1], 6, axis=-1)
    high[:, 1, :6] = 0
    rows = pd.DataFrame([{"method": m, "map": n, "updates": u, "pixel_auroc": a, "model_key": m}
                         for u in (640, 1280) for m, n, a in (("l2_ae", "l2", 0.5), ("ssim_ae", "ssim", 0.8))])
    report.write_histograms(tmp_path, {hist_key("l2_ae", "l2", 640): low, hist_key("ssim_ae", "ssim", 640): high},
                            np.arange(k) // 2)
    (row,) = report.lead(tmp_path, rows)
    assert row["updates"] == 640 and row["ssim_minus_l2"] == pytest.approx(0.3)
    assert 0 < row["low"] <= row["high"]
    report.write_histograms(tmp_path, {hist_key("l2_ae", "l2", 640): low, hist_key("ssim_ae", "ssim", 640): low},
                            np.arange(k) // 2)
    (row,) = report.lead(tmp_path, rows)
    assert (row["low"], row["high"]) == (0.0, 0.0)
