"""``verify``'s check 5: each README number against the ONE artefact value its ref names.

A tiny results folder (two rows of table_auc.csv, a claims.json, a run.json) and a README
written per test; the check runs alone (no TensorFlow, no evaluation folders). A number
equal to ANOTHER artefact value of its dataset must fail: chance matches cannot pass.
"""
import json

import pytest

from reproduce.experiments.verify.numbers import line_items
from reproduce.experiments.verify.readme import check_readme
from reproduce.experiments.verify.report import Report

TABLE = ("dataset,method,map,pixel_auroc,pixel_auroc_lo,pixel_auroc_hi,n_trained,n_seeds\n"
         "fabric1,l2_ae,l2,0.7155,0.6782,0.7446,3.0000,3.0000\n"
         "fabric1,ssim_ae,ssim,0.9618,0.9313,0.9846,3.0000,3.0000\n")
CLAIMS = {"datasets": {"fabric1": {"ssim_minus_l2": 0.2463, "trained": {"l2": "3/3"},
                                   "ssim_minus_l2_interval": [0.2091, 0.2749]}}}
RUN = {"profile": {"epochs": 20, "patches_per_epoch": 1024, "batch_size": 32},
       "stats": [{"spec": "a", "share": 0.83}, {"spec": "b", "share": 0.41}]}
L2 = ("<!-- ref table_auc.csv dataset=fabric1 method=l2_ae: pixel_auroc pixel_auroc_lo "
      "pixel_auroc_hi -->")


def check(tmp_path, readme: str) -> Report:
    (tmp_path / "table_auc.csv").write_text(TABLE)
    (tmp_path / "claims.json").write_text(json.dumps(CLAIMS))
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    (tmp_path / "README.md").write_text(readme)
    report = Report(tmp_path)
    check_readme(tmp_path, report)
    return report


def mismatches(report: Report) -> list[str]:
    return report.checks["readme"].mismatches


def test_a_readme_with_refs_passes(tmp_path):
    report = check(tmp_path, f"# Report\n\n| fabric1 | 0.716 [0.68, 0.74]{L2} |\n\n"
                             "The lead: +0.246 [+0.209, +0.275]<!-- ref claims.json "
                             "datasets.fabric1: ssim_minus_l2 ssim_minus_l2_interval -->, "
                             "(3/3)<!-- ref claims.json: datasets.fabric1.trained.l2 -->.\n")
    assert mismatches(report) == []
    assert report.checks["readme"].compared == 8
    listed = report.sections["README.md: each ref's numbers and values"]
    assert listed[0].startswith("line 3: 0.716 = 0.7155, 0.68 = 0.6782")


def test_another_artefact_value_in_its_place_fails(tmp_path):
    # the SSIM-AE's AUROC, a value of the same dataset's artefacts, in the l2-AE's place
    report = check(tmp_path, f"l2-AE 0.962 [0.68, 0.74]{L2}\n")
    assert mismatches(report) == [
        "README.md line 1: 0.962 should be 0.7155 (table_auc.csv dataset=fabric1 "
        "method=l2_ae: pixel_auroc), off by 0.25, more than 0.0005"]


@pytest.mark.parametrize("printed, passes", [("0.716", True), ("0.715", True),
                                             ("0.717", False), ("0.72", True), ("0.7", True),
                                             ("0.71", False)])
def test_rounding_at_the_printed_precision(tmp_path, printed, passes):
    ref = "<!-- ref table_auc.csv dataset=fabric1 method=l2_ae: pixel_auroc -->"
    report = check(tmp_path, f"l2-AE {printed}{ref}\n")  # the value: 0.7155
    assert (mismatches(report) == []) == passes, mismatches(report)


@pytest.mark.parametrize("ref, message", [
    ("table_auc.csv dataset=fabric9 method=l2_ae: pixel_auroc",
     "table_auc.csv: dataset=fabric9 method=l2_ae picks 0 rows, not one"),
    ("table_auc.csv dataset=fabric1: pixel_auroc",
     "table_auc.csv: dataset=fabric1 picks 2 rows, not one"),
    ("table_auc.csv dataset=fabric1 method=l2_ae: aupro",
     "table_auc.csv has no column 'aupro'"),
    ("claims.json datasets.fabric9: ssim_minus_l2", "no 'fabric9' at 'datasets'"),
    ("run.json stats.spec=c: share", "no 'spec=c' at 'stats'; a list of 2"),
    ("budget/table_budget.csv dataset=fabric1: pixel_auroc",
     "budget/table_budget.csv does not exist in"),
    ("table_auc.csv dataset=fabric1 method=l2_ae: pixel_auroc pixel_auroc_lo",
     "takes 1 numbers (0.716) but names 2 values"),
])
def test_a_ref_that_reads_nothing_fails_clearly(tmp_path, ref, message):
    report = check(tmp_path, f"l2-AE 0.716<!-- ref {ref} -->\n")
    assert len(mismatches(report)) == 1 and message in mismatches(report)[0], mismatches(report)
    assert mismatches(report)[0].startswith("README.md line 1: ref `")


def test_an_untied_number_is_reported(tmp_path):
    report = check(tmp_path, f"l2-AE 0.716{L2[:-4].replace('pixel_auroc_lo pixel_auroc_hi', '')}"
                             "-->, and 0.5 after it.\nNo ref here: 42 images.\n")
    assert mismatches(report) == ["README.md line 1: 0.5 is untied: no ref after it on its line",
                                  "README.md line 2: 42 is untied: no ref after it on its line"]


def test_a_none_ref_is_listed_not_passed_silently(tmp_path):
    report = check(tmp_path, "16 times the budget<!-- ref none: a run that left no artefact -->\n")
    assert mismatches(report) == []
    assert report.not_checked == ["README.md line 1: 16 not tied: a run that left no artefact"]


def test_json_lists_paper_code_percent_and_arithmetic(tmp_path):
    report = check(tmp_path, (
        "640 updates<!-- ref run.json profile: {epochs}*{patches_per_epoch}/{batch_size} -->"
        " of 83 %<!-- ref run.json stats.spec=a: share% --> (41 %<!-- ref run.json: "
        "stats.spec=b.share% -->), the paper's 0.688 / 0.966"
        "<!-- ref paper HEADLINE: l2-AE SSIM-AE -->, 1,000 replicates<!-- ref code "
        "evaluation/uncertainty.py: REPLICATES -->, 0.9<!-- ref code "
        "evaluation/trainedness.py: MAX_LOSS_RATIO -->.\n"))
    assert mismatches(report) == []
    assert report.checks["readme"].compared == 7


def test_numbers_that_are_not_results():
    line = ("fabric1, bf16, R^2, AVX-512, Section 3.1.3, Table 1, Eq. 3, (Rybkin et al., "
            "2021), v2.21.0, 2024-05-01, `--seeds 0,1`, [a](eval/fabric1/run.json), 2nd")
    assert line_items(line)[1] == []
    assert line_items("1. the first item")[1] == []
    assert line_items("## 4 datasets 0.5")[1] == []
    assert [n.text for n in line_items("3-12 widths, -0.081 and +0.2, 1e-3, 3.5x, 1,024")[1]] \
        == ["3", "12", "-0.081", "+0.2", "1e-3", "3.5x", "1,024"]
    assert [n.half_unit for n in line_items("0.716 1,024 1e-3 2e4")[1]] \
        == pytest.approx([0.0005, 0.5, 0.0005, 5000])


def test_code_spans_comments_and_table_headers_hold_no_result(tmp_path):
    report = check(tmp_path, "run `evaluate --seeds\n0,1 --out x` here\n\n"
                             "| dataset | SSIM - l2 [95 %] |\n|---|---:|\n"
                             "write `0.5<!-- ref run.json: x -->` <!-- a note: 0.5 -->\n")
    assert mismatches(report) == []
    assert report.checks["readme"].compared == 0


def test_a_ref_with_no_number_before_it_fails(tmp_path):
    report = check(tmp_path, "text<!-- ref none: why --> and<!-- ref run.json profile: epochs -->\n")
    assert len(mismatches(report)) == 2
    assert all("has no number before it on its line" in m for m in mismatches(report))
