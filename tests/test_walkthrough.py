"""docs/walkthrough.py still runs: the literate example uses the project's own API
(textures, the patch sampler, the Table-1 autoencoder, both losses, the sliding-window
maps, the validation threshold and the pixel AUROC), so a renamed function or a changed
signature breaks it. Here it runs as a student would (``python docs/walkthrough.py``
from the repository root) at a tiny size: two training steps per model on the small
256 px data, windows at stride 64. That is about 15 s on two cores. The AUROCs of such a
run mean nothing; the test checks only that both are printed and are numbers in [0, 1].
"""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = {"WALKTHROUGH_EPOCHS": "1", "WALKTHROUGH_STEPS": "2", "WALKTHROUGH_BATCH": "4",
        "WALKTHROUGH_SMALL": "1", "WALKTHROUGH_STRIDE": "64"}
ROW = re.compile(r"^(l2-AE|SSIM-AE)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)


def test_walkthrough_runs_and_prints_both_aurocs(tmp_path):
    env = dict(os.environ, **TINY, SSIM_AE_CACHE=str(tmp_path / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "docs/walkthrough.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"walkthrough failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    rows = {name: values for name, *values in ROW.findall(proc.stdout)}
    assert set(rows) == {"l2-AE", "SSIM-AE"}, f"no result table in:\n{proc.stdout}"
    for name, (auroc, threshold, iou) in rows.items():
        assert 0.0 <= float(auroc) <= 1.0, f"{name}: pixel AUROC {auroc}"
        assert math.isfinite(float(threshold)), f"{name}: threshold {threshold}"
        assert 0.0 <= float(iou) <= 1.0, f"{name}: IoU {iou}"
