"""``verify``: it passes on a real smoke reproduction, and it catches what it should.

One smoke reproduction (module-scoped, about 1.5 minutes; ``all`` runs verify as its last
stage) is verified as written, then copies of it are spoilt: a metrics.csv value moved by
0.05, a README number without a ref and one that differs from the value its ref names
(though another artefact holds it), a claim's verdict flipped. The AUPRO
re-implementation is also checked against a curve worked out by hand.
"""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from reproduce.experiments.verify.maps import aupro
from reproduce.__main__ import main

SPEC = "fabric1"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify_smoke")
    mp = pytest.MonkeyPatch()
    mp.setenv("SSIM_AE_CACHE", str(root / "cache"))
    out = root / "results"
    status = main(["all", "--profile", "smoke", "--datasets", SPEC, "--out", str(out)])
    yield out, status
    mp.undo()


@pytest.fixture
def copy(smoke_run, tmp_path):
    target = tmp_path / "results"
    shutil.copytree(smoke_run[0], target)
    (target / "verify.md").unlink()
    return target


@pytest.mark.slow
def test_smoke_run_verifies(smoke_run):
    out, status = smoke_run
    assert status == 0
    text = (out / "verify.md").read_text()
    assert "verify PASSED" in text
    for title in ("1a. pixel ROC AUC", "1b. AUPRO", "1c. image ROC AUC", "2a. pixel ROC AUC",
                  "3. table_auc.csv", "4a. claims.json"):
        row = next(line for line in text.splitlines() if title in line)
        assert int(row.split("|")[2]) > 0, row  # it compared something
    assert "no README.md" in text


@pytest.mark.slow
def test_a_changed_metric_is_named_with_its_file(copy, capsys):
    path = copy / "eval" / SPEC / "metrics.csv"
    table = pd.read_csv(path)
    row = table.index[(table["method"] == "ssim_ae") & (table["map"] == "ssim")][0]
    table.loc[row, "pixel_auroc"] += 0.05
    table.to_csv(path, index=False, float_format="%.7g")
    assert main(["verify", str(copy)]) == 1
    assert "FAILED" in capsys.readouterr().out
    text = (copy / "verify.md").read_text()
    wrong = [line for line in text.splitlines() if line.startswith("- ")
             and f"eval/{SPEC}/metrics.csv: ssim_ae/ssim seed 0 pixel_auroc" in line]
    assert len(wrong) == 2, text  # from the maps and from the histograms
    assert "table_auc.csv: fabric1 ssim_ae/ssim pixel_auroc" in text  # the mean moved too


@pytest.mark.slow
def test_a_readme_number_is_checked_against_the_value_its_ref_names(copy, tmp_path):
    auc = json.loads((copy / "claims.json").read_text())["datasets"][SPEC]["pixel_auroc"]
    assert auc["l2"] != auc["ssim"]
    ref = f"<!-- ref claims.json datasets.{SPEC}.pixel_auroc: ssim -->"
    # the right value, then the l2-AE's value (an artefact value too) under the SSIM ref
    (copy / "README.md").write_text(f"# Report\nSSIM-AE {auc['ssim']:.4f}{ref}, l2-AE 0.123456."
                                    f"\nSSIM-AE {auc['l2']:.4f}{ref}.\n")
    report_path = tmp_path / "elsewhere" / "verify.md"
    assert main(["verify", str(copy), "--report", str(report_path)]) == 1
    assert not (copy / "verify.md").exists()
    mismatches = [line for line in report_path.read_text().splitlines()
                  if line.startswith("- README.md")]
    assert mismatches[0] == "- README.md line 2: 0.123456 is untied: no ref after it on its line"
    assert mismatches[1].startswith(f"- README.md line 3: {auc['l2']:.4f} should be "
                                    f"{auc['ssim']:.6g} (claims.json")
    assert len(mismatches) == 2


def test_a_claim_said_to_hold_where_it_does_not_is_caught(copy):
    path = copy / "claims.json"
    claims = json.loads(path.read_text())
    d = claims["datasets"][SPEC]
    assert isinstance(d["ssim_beats_l2"], bool)  # the smoke run has intervals: a verdict
    d["ssim_beats_l2"] = not d["ssim_beats_l2"]
    path.write_text(json.dumps(claims))
    assert main(["verify", str(copy)]) == 1
    text = (copy / "verify.md").read_text()
    assert f"claims.json: {SPEC}.ssim_beats_l2: {d['ssim_beats_l2']!r}" in text
    assert "claims.json: summary.n_ssim_beats_l2" in text  # the count follows the verdicts


@pytest.mark.parametrize("setup", ["missing", "empty"])
def test_bad_folder_is_one_error_line(setup, tmp_path, capsys):
    folder = tmp_path / "results"
    if setup == "empty":
        (folder / "eval").mkdir(parents=True)
    assert main(["verify", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(folder) in err[0]


def test_aupro_by_hand():
    # one row: region A (2 px), a gap, region B (1 px); 3 defect-free pixels
    masks = np.array([[[1, 1, 0, 0, 1, 0]]], bool)
    scores = np.array([[[0.9, 0.5, 0.7, 0.1, 0.8, 0.2]]])
    # (FPR, PRO): (0, 0) (0, 1/4) (0, 3/4) (1/3, 3/4) (1/3, 1) (2/3, 1) (1, 1)
    assert aupro(scores, masks, 0.3) == pytest.approx(0.75)
    assert aupro(scores, masks, 0.5) == pytest.approx((1 / 3 * 0.75 + 1 / 6) / 0.5)
    scores[0, 0, 4] = 0.7  # B tied with a defect-free pixel: (0, 1/4) (1/3, 3/4), sloped
    at = 0.25 + 0.5 * 0.3 / (1 / 3)  # the curve at FPR 0.3, interpolated
    assert aupro(scores, masks, 0.3) == pytest.approx((0.25 + at) / 2)


def test_regions_are_8_connected_within_an_image_only():
    masks = np.zeros((2, 3, 3), bool)
    masks[0, 0, 0] = masks[0, 1, 1] = True   # diagonal neighbours: one region
    masks[1, 1, 1] = True                     # the same place in the next image: another
    scores = np.zeros((2, 3, 3))
    scores[0, 0, 0] = 1.0  # half of region 1 first: PRO 1/4 if one region of 2 px
    scores[1, 1, 1] = 0.5
    # (0, 1/4) (0, 3/4) (1, 1): the rest, one region pixel among them, all at 0
    # (4-connected or across images: 3 regions, (0, 1/3) (0, 2/3) (1, 1), 0.717)
    assert aupro(scores, masks, 0.3) == pytest.approx((0.75 + 0.825) / 2)
