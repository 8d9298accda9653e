"""docs/walkthrough.py still runs and prints what it computes: the literate example uses
the project's own API (textures, the patch sampler, the Table-1 autoencoder, both losses,
the sliding-window maps, the validation threshold and the pixel AUROC), so a renamed
function or a changed signature breaks it. It runs here as ``python docs/walkthrough.py``
would run it (as ``__main__``, from the repository root), in this process, at a tiny size:
two training steps per model on the small 256 px data, windows at stride 64 (about 15 s on
two cores). The AUROCs of such a run mean nothing, but the printed numbers must be the
right computations on the walkthrough's own maps: pixel AUROC by scikit-learn, threshold by
the MVTec AD rule on the validation maps, IoU at it, each recomputed here.
"""
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.test_scoring import _mvtec_threshold

REPO = Path(__file__).resolve().parent.parent
TINY = {"WALKTHROUGH_EPOCHS": "1", "WALKTHROUGH_STEPS": "2", "WALKTHROUGH_BATCH": "4",
        "WALKTHROUGH_SMALL": "1", "WALKTHROUGH_STRIDE": "64"}
ROW = re.compile(r"^(l2-AE|SSIM-AE)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)


@pytest.mark.slow
def test_walkthrough_runs_and_prints_both_aurocs(tmp_path, monkeypatch, capsys):
    for key, value in {**TINY, "SSIM_AE_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    names = runpy.run_path(str(REPO / "docs" / "walkthrough.py"), run_name="__main__")
    printed = capsys.readouterr().out
    rows = {name: [float(v) for v in values] for name, *values in ROW.findall(printed)}
    assert set(rows) == {"l2-AE", "SSIM-AE"}, f"no result table in:\n{printed}"
    data, n_test = names["data"], names["n_test"]
    keep = data.has_mask
    for name, (auroc, threshold, iou) in rows.items():
        stacked = names["maps"][name]
        test, val = stacked[:n_test], stacked[n_test:]
        assert len(val) == len(data.val)
        assert auroc == pytest.approx(roc_auc_score(data.masks[keep].ravel(), test[keep].ravel()), abs=6e-4)
        t = _mvtec_threshold(val, 64)  # the walkthrough's 64 px minimum area
        assert threshold == pytest.approx(t, abs=6e-5), name
        predicted, truth = test[keep] > t, data.masks[keep]
        expected_iou = (predicted & truth).sum() / (predicted | truth).sum()
        assert iou == pytest.approx(expected_iou, abs=6e-4), name
