"""Interruptions and determinism: a killed training run resumes where it stopped and ends
with the same model an uninterrupted run gives; the same seed gives the same numbers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TRAIN = """
import json, sys
import textures
from reproduce import profiles, train
profile = dict(profiles.get("smoke"), epochs=4, patches_per_epoch=64, batch_size=16)
ds = textures.load("fabric1", seed=0, small=True)
folder = train.train(ds, "l2_ae", profile, seed=int(sys.argv[1]))
print(json.dumps({"folder": str(folder)}))
"""


def run_training(cache, seed=0, kill_after_epoch=None):
    env = dict(os.environ, SSIM_AE_CACHE=str(cache), PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(seed)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after_epoch is None:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        return Path(json.loads(out.strip().splitlines()[-1])["folder"]), err
    deadline = time.time() + 600
    while time.time() < deadline:
        metas = list(Path(cache).glob("models/*/work/backup/training_metadata.json"))
        if metas and json.loads(metas[0].read_text() or "{}").get("epoch", 0) >= kill_after_epoch:
            break
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None, ""


def final_log(folder):
    lines = (folder / "log.csv").read_text().strip().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def test_killed_training_resumes_to_the_same_model(tmp_path):
    clean, _ = run_training(tmp_path / "clean")
    run_training(tmp_path / "killed", kill_after_epoch=2)
    model_dirs = list((tmp_path / "killed" / "models").iterdir())
    assert len(model_dirs) == 1
    assert not (model_dirs[0] / "run.json").exists()       # nothing looks complete
    assert not (model_dirs[0] / "model.keras").exists()
    resumed, err = run_training(tmp_path / "killed")
    assert "resuming l2_ae on fabric1 after epoch" in err
    assert (resumed / "run.json").exists() and not (resumed / "work").exists()
    log, reference = final_log(resumed), final_log(clean)
    assert [row["epoch"] for row in log] == ["0", "1", "2", "3"]
    np.testing.assert_allclose([float(r["loss"]) for r in log],
                               [float(r["loss"]) for r in reference], rtol=1e-4)


def test_same_seed_same_model_other_seed_other_model(tmp_path):
    a, _ = run_training(tmp_path / "a", seed=0)
    b, _ = run_training(tmp_path / "b", seed=0)
    c, _ = run_training(tmp_path / "c", seed=1)
    loss = lambda folder: [float(r["loss"]) for r in final_log(folder)]
    assert loss(a) == loss(b)
    assert loss(a) != loss(c)
