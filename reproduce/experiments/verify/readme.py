"""verify, check 5: every number of README.md against the one artefact value it reports.

Each number that reports a result (or a setting) carries a reference, an HTML comment
that Markdown does not render, written right after the number or group of numbers::

    0.716 [0.68, 0.74]<!-- ref table_auc.csv dataset=fabric1 method=l2_ae map=l2: pixel_auroc pixel_auroc_lo pixel_auroc_hi -->

How to write a ref (``<!-- ref SOURCE [SELECTOR ...]: FIELD ... -->``, on one line):

- It binds, in order, the numbers between the previous ref of its line (or the line's
  start) and itself, to its fields' values: every number of the line before it that no
  earlier ref took. The counts must agree. In a table, put a ref in each cell that holds
  numbers (it takes that cell's numbers), or one at the row's end (it takes them all).
- SOURCE is a file of the results folder (``table_auc.csv``, ``claims.json``,
  ``eval/fabric1/metrics.csv``, ``eval/fabric1/run.json``, ``run.json``,
  ``budget/table_budget.csv``, ``sweep/table_sweep.csv``, ``nanofibres_stats.json``,
  ``bf16_check.json``, ``benchmark.json``, any folder under ``extra/``), ``paper`` (the
  paper's numbers, reproduce/published.py) or ``code PATH`` (a module-level constant of a
  file of the repository, for settings: ``code evaluation/uncertainty.py: REPLICATES``).
- SELECTOR: for a .csv, ``column=value`` pairs that pick exactly ONE row (verify fails
  on none or several); for JSON, paper and code, one path to the node the fields start
  from (``claims.json datasets.fabric1: ssim_minus_l2 ssim_minus_l2_interval``).
- FIELD: a column of the row, or a dotted path (``pixel_auroc_interval.l2``; a list
  element by index ``0`` or by ``key=value``); a list stands for all its numbers (an
  interval: two), a string for the numbers written in it (``"3/3"``: two). ``NAME%`` is
  the value times 100; ``{a}*{b}/{c}`` is arithmetic on single values of the same source,
  for a derived number (write it without spaces, or quote it). sources.py has the details.
- ``<!-- ref none: REASON -->`` takes the numbers before it without tying them: for a number
  no artefact holds. verify lists each one, with its reason, under "Not checked".
- A number needs no ref where numbers.py's rule says it is not a result: in code spans,
  link targets, headings or a table's header row, part of a name (``fabric1``, ``R^2``),
  a version or section number, a date, a year, after Table/Section/Eq./Figure, an
  ordered list's marker. Counts written in words (``three seeds``) hold no digit.

Compared as printed: a number passes when it lies within half a unit of its last printed
digit of the value (``0.716`` for 0.7155 passes, ``0.717`` fails; ``1,024`` within 0.5),
with its sign; it fails when it differs, whatever other artefact value it equals. verify
fails on every number no ref takes ("untied"), a ref whose source, selector or field
cannot be read, and a count that differs.
"""
from __future__ import annotations

from pathlib import Path

from errors import InputError
from reproduce.experiments.verify import sources
from reproduce.experiments.verify.numbers import is_delimiter_row, line_items
from reproduce.experiments.verify.report import EPS, Report

FENCE = "```"


def check_readme(root: Path, report: Report) -> None:
    path = root / "README.md"
    if not path.exists():
        report.not_checked.append("no README.md: its numbers not traced")
        return
    check = report.check("readme", "5. README.md numbers against the one value each ref "
                         "names", "half a unit of the printed last digit")
    sources.clear()
    tied, refs, listed, untied_by_none = 0, 0, [], 0
    fenced, in_code = False, ""
    lines = path.read_text().splitlines()
    for line_no, line in enumerate(lines, 1):
        if line.lstrip().startswith(FENCE):
            fenced = not fenced
        if fenced or line.lstrip().startswith(FENCE) or not line.strip():
            in_code = ""  # a code span ends with its paragraph
            continue
        header = line_no < len(lines) and is_delimiter_row(lines[line_no])
        try:
            line_refs, numbers, in_code = line_items(line, in_code, header)
        except InputError as e:
            check.mismatches.append(f"README.md line {line_no}: {e}")
            continue
        start = 0
        for ref in line_refs:
            bound = [n for n in numbers if start <= n.column < ref.column]
            start = ref.end
            refs += 1
            where = f"README.md line {line_no}"
            if ref.source == "none" and bound:
                untied_by_none += len(bound)
                report.not_checked.append(f"{where}: {', '.join(n.text for n in bound)} "
                                          f"not tied: {ref.fields[0]}")
                continue
            tied += _compare(check, where, ref, bound, root, listed)
        for n in numbers:
            if n.column >= start:
                check.compared += 1
                check.mismatches.append(f"README.md line {line_no}: {n.text} is untied: no "
                                        "ref after it on its line")
    report.notes.append(
        f"README: {tied} numbers tied by {refs} refs, each to the one value its ref names "
        f"(equal to another artefact value does not pass); {untied_by_none} declared "
        "untied by a `none` ref (Not checked). Each ref's comparison: the section below.")
    report.sections["README.md: each ref's numbers and values"] = listed


def _compare(check, where: str, ref, bound: list, root: Path, listed: list) -> int:
    """One ref: its numbers against its values; returns how many numbers it tied."""
    label = f"ref `{ref.text}`"
    if not bound:
        check.mismatches.append(f"{where}: {label} has no number before it on its line")
        return 0
    try:
        values = sources.expected(ref, root)
    except sources.SourceError as e:
        check.compared += len(bound)
        check.mismatches.append(f"{where}: {label}: {e}")
        return 0
    if len(values) != len(bound):
        check.compared += len(bound)
        check.mismatches.append(
            f"{where}: {label} takes {len(bound)} numbers ({', '.join(n.text for n in bound)})"
            f" but names {len(values)} values ({', '.join(f'{v:.6g}' for _, v in values)})")
        return 0
    shown = []
    for n, (field, value) in zip(bound, values):
        check.compared += 1
        deviation = abs(n.value - value)
        tol = n.half_unit + EPS * max(1.0, abs(value))
        shown.append(f"{n.text} = {value:.6g}")
        if deviation <= tol:
            check.largest = max(check.largest, deviation)
        else:
            check.mismatches.append(f"{where}: {n.text} should be {value:.6g} ({field}), off "
                                    f"by {deviation:.2g}, more than {n.half_unit:.2g}")
    listed.append(f"{where.removeprefix('README.md ')}: {', '.join(shown)} ({ref.text})")
    return len(bound)
