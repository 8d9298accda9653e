"""Interruptions and determinism: a training run stopped by SIGINT (Ctrl-C), SIGTERM or
SIGKILL resumes where it stopped when the same command runs again, and ends with the
model an uninterrupted run gives; the same seed gives the same numbers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # every test here trains, in a subprocess
TRAIN = """
import json, sys
import textures
from reproduce import profiles, train
profile = dict(profiles.get("smoke"), epochs=4, patches_per_epoch=64, batch_size=16)
ds = textures.load("fabric1", seed=0, small=True)
folder = train.train(ds, "l2_ae", profile, seed=int(sys.argv[1]))
print(json.dumps({"folder": str(folder)}))
"""


def run_training(cache, seed=0):
    env = dict(os.environ, SSIM_AE_CACHE=str(cache), PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", TRAIN, str(seed)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Path(json.loads(proc.stdout.strip().splitlines()[-1])["folder"]), proc.stderr


def final_log(folder):
    lines = (folder / "log.csv").read_text().strip().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


# ------------------------------------------------ interruptions, through the real CLI
TRAIN_CLI = ["train", "--dataset", "fabric1", "--method", "l2_ae", "--profile", "smoke",
             "--epochs", "4"]


# The command line's main() with one callback added to every fit (training.EXTRA_CALLBACKS):
# after epoch N is backed up (it runs after the backup), write <work>/paused and wait
# there for the test's signal, so that an interruption lands at a known epoch whatever
# the machine's speed.
PAUSED_CLI = """
import sys, time
import keras, training
from reproduce.__main__ import main

class PauseAfter(keras.callbacks.Callback):
    def __init__(self, work, after):
        super().__init__()
        self.work, self.after = work, after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            (self.work / "paused").touch()
            time.sleep(600)

training.EXTRA_CALLBACKS.append(lambda work: PauseAfter(work, int(sys.argv[1])))
sys.exit(main(sys.argv[2:]))
"""


def start_cli(args, cache, pause_after=None, tf_log_level="2"):
    """The command line in a subprocess (``pause_after``: its main() with the pause above);
    ``tf_log_level`` None: the user sets no TF_CPP_MIN_LOG_LEVEL (the command line's
    default applies)."""
    env = dict(os.environ, SSIM_AE_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL=str(tf_log_level))
    if tf_log_level is None:
        env.pop("TF_CPP_MIN_LOG_LEVEL")
    env.pop("PYTHONPATH", None)
    command = ["-c", PAUSED_CLI, str(pause_after)] if pause_after else ["-m", "reproduce"]
    # Ctrl-C as in a terminal: a parent that ignores SIGINT (nohup, `cmd &`) would pass that on
    reset_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    return subprocess.Popen([sys.executable, *command, *map(str, args)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=reset_sigint)


def finish(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return err


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """One uninterrupted 4-epoch smoke training, shared by the interruption tests, with no
    TF_CPP_MIN_LOG_LEVEL set: its log and its stderr."""
    root = tmp_path_factory.mktemp("reference")
    err = finish(start_cli([*TRAIN_CLI, "--out", root / "model"], root / "cache", tf_log_level=None))
    return final_log(root / "model"), err


@pytest.fixture(scope="module")
def reference_log(reference_run):
    return reference_run[0]


def test_the_command_line_quiets_tensorflow_unless_asked(reference_run):
    """No TensorFlow C++ line (start-up, grappler) where the user set no log level; with a
    level set they are the user's (tests/test_quiet.py)."""
    import re
    err = reference_run[1]
    assert "absl::InitializeLog" not in err, err[-3000:]
    assert not re.search(r"^[IWE]\d{4} ", err, re.MULTILINE), err[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_training_resumes_to_the_same_model(sig, reference_log, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "model"
    # the training pauses after epoch 2 of 4 is backed up (PAUSED_CLI above)
    # and says so by a file: the signal lands there, whatever the machine's speed
    proc = start_cli([*TRAIN_CLI, "--out", out], cache, pause_after=2)
    while not list(cache.glob("models/*/work/paused")):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(sig)
    # A process the signal does not stop sleeps on in the pause (600 s); one that stops
    # takes seconds to shut down. 300 s tells the two apart on any machine, however slow.
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{sig.name} did not stop the training within 300 s") from None
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines[-1].startswith("error: interrupted"), lines[-5:]
        assert "run the same command again to resume" in lines[-1]
        assert sum(line.startswith("error") for line in lines) == 1, lines
    model_dirs = list((cache / "models").iterdir())
    assert len(model_dirs) == 1
    for folder in (model_dirs[0], out):  # nothing looks complete
        assert not (folder / "run.json").exists() and not (folder / "model.keras").exists()

    err = finish(start_cli([*TRAIN_CLI, "--out", out], cache))  # the same command again
    assert "resuming l2_ae on fabric1 after epoch" in err
    assert (model_dirs[0] / "run.json").exists() and not (model_dirs[0] / "work").exists()
    assert (out / "run.json").exists() and (out / "model.keras").stat().st_size > 0
    log = final_log(out)
    assert [row["epoch"] for row in log] == ["0", "1", "2", "3"]
    np.testing.assert_allclose([float(r["loss"]) for r in log],
                               [float(r["loss"]) for r in reference_log], rtol=1e-4)


def test_same_seed_same_model_other_seed_other_model(tmp_path):
    a, _ = run_training(tmp_path / "a", seed=0)
    b, _ = run_training(tmp_path / "b", seed=0)
    c, _ = run_training(tmp_path / "c", seed=1)
    loss = lambda folder: [float(r["loss"]) for r in final_log(folder)]
    assert loss(a) == loss(b)
    assert loss(a) != loss(c)


def test_evaluate_twice_gives_the_same_metrics(tmp_path):
    """The same `evaluate` command gives the same numbers to 1e-6: run again on the cached
    model, and with an empty cache (so the model is trained a second time)."""
    import pandas as pd

    def evaluate(cache, out):
        finish(start_cli(["evaluate", "--dataset", "fabric1", "--methods", "l2_ae",
                          "--profile", "smoke", "--out", out], cache))
        return pd.read_csv(out / "metrics.csv"), np.load(out / "maps.npz"), \
            json.loads((out / "run.json").read_text())["models"]["l2_ae/seed0"]

    first, maps, model = evaluate(tmp_path / "cache", tmp_path / "a")
    for cache, out in [(tmp_path / "cache", tmp_path / "b"),      # the cached model
                       (tmp_path / "cache2", tmp_path / "c")]:    # trained again
        again, maps_again, model_again = evaluate(cache, out)
        assert model_again.startswith(str(cache)) and Path(model_again, "run.json").exists()
        assert len(again) == len(first) > 0
        text = first.select_dtypes(exclude="number").columns
        pd.testing.assert_frame_equal(first[text], again[text])
        numbers = first.select_dtypes(include="number").columns
        np.testing.assert_allclose(again[numbers].to_numpy(float), first[numbers].to_numpy(float),
                                   rtol=0, atol=1e-6)
        for name in ("l2", "recon_l2_ae"):
            np.testing.assert_allclose(maps_again[name], maps[name], rtol=0, atol=1e-6)
