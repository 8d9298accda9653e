"""verify, check 5: every number of the README found among the folder's artefacts.

Every number with at least two decimals in README.md must be a value of an artefact of
the folder (any .csv, .json or .md file other than README.md and verify.md); where its
table row, or its paragraph of text, names datasets, of those datasets' artefacts or of
artefacts that name no dataset (``artefact_values`` says how a value is tied to one). As
printed: |value - number| <= half a unit of its last digit, a signed number (``+0.227``,
``-0.081``) with its sign. No differences or other derived numbers: one the README
computes itself is reported, to be checked by hand. The report's note says how often a
number would match some value by chance.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from reproduce.experiments.verify.report import EPS, Report

ARTEFACTS = (".csv", ".json", ".md")
NUMBER = re.compile(r"(?<![\w.])([-+\u2212]?)(\d+\.\d{2,})(?!\d|\.\d)")
ANY_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def artefact_values(root: Path, skip: set, datasets=()) -> tuple[np.ndarray, dict]:
    """Every number written in the folder's .csv, .json and .md files (sorted), and the
    same numbers by dataset: {name: values of that dataset's artefacts or of artefacts that
    name no dataset}. A value belongs to a dataset when its file lies in a folder of that
    name (eval/fabric1/...), its csv or md line names it (a table row), or it sits under
    a JSON key of that name (claims.json's "datasets")."""
    everything, general, tied = [], [], {name: [] for name in datasets}
    for path in sorted(root.rglob("*")):
        if path.suffix not in ARTEFACTS or not path.is_file() or path.resolve() in skip:
            continue
        text = path.read_text(errors="replace")
        found = ANY_NUMBER.findall(text)
        everything += found
        owners = [d for d in datasets if d in path.relative_to(root).parts[:-1]]
        if owners:
            for d in owners:
                tied[d] += found
        elif path.suffix == ".json":
            try:
                _walk_json(json.loads(text), None, general, tied)
            except ValueError:
                general += found
        else:
            for line in text.splitlines():
                named = _named(line, datasets)
                for d in named or [None]:
                    (tied[d] if d else general).extend(ANY_NUMBER.findall(line))
    general = np.array(general, dtype=float)
    by_dataset = {d: np.unique(np.concatenate([general, np.array(v, dtype=float)])) for d, v in tied.items()}
    return np.unique(np.array(everything, dtype=float)), by_dataset


def _walk_json(node, owner, general: list, tied: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _walk_json(value, key if key in tied else owner, general, tied)
    elif isinstance(node, list):
        for value in node:
            _walk_json(value, owner, general, tied)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        (tied[owner] if owner else general).append(float(node))
    elif isinstance(node, str):
        (tied[owner] if owner else general).extend(ANY_NUMBER.findall(node))


def _paragraph(lines: list[str], i: int) -> str:
    """The text paragraph (lines between blank lines or table rows) around line i."""
    def prose(j):
        return lines[j].strip() and not lines[j].lstrip().startswith("|")
    start, end = i, i
    while start > 0 and prose(start - 1):
        start -= 1
    while end + 1 < len(lines) and prose(end + 1):
        end += 1
    return " ".join(lines[start:end + 1])


def _named(line: str, datasets) -> list[str]:
    """The datasets a line names, as whole words."""
    return [d for d in datasets if re.search(rf"(?<![\w-]){re.escape(d)}(?![\w-])", line)]


def check_readme(root: Path, report: Report, own_report: Path | None) -> None:
    path = root / "README.md"
    if not path.exists():
        report.not_checked.append("no README.md: its numbers not traced")
        return
    check = report.check("readme", "5. README.md numbers found in the artefacts (of the datasets "
                         "its line names)", "half a unit of the printed last digit")
    skip = {path.resolve()} | ({own_report.resolve()} if own_report else set())
    datasets = sorted({p.parent.name for p in root.rglob("metrics.csv")})
    values, by_dataset = artefact_values(root, skip | {(root / "verify.md").resolve()}, datasets)
    decimals, scoped = set(), 0
    lines = path.read_text().splitlines()
    for line_no, line in enumerate(lines, 1):
        named = _named(line if line.lstrip().startswith("|") else _paragraph(lines, line_no - 1),
                       datasets)
        pool = np.unique(np.concatenate([by_dataset[d] for d in named])) if named else values
        for sign, digits in NUMBER.findall(line):
            x = float(digits) * (-1 if sign in "-\u2212" and sign else 1)
            decimals.add(len(digits.split(".")[1]))
            near = _distance(pool, np.array([x]))[0]
            check.compared += 1
            scoped += bool(named)
            if near <= _half_unit(digits) + EPS:
                check.largest = max(check.largest, near)
            else:
                where = f" of {', '.join(named)}" if named else ""
                check.mismatches.append(f"README.md line {line_no}: {sign}{digits} is in no "
                                        f"artefact{where} (nearest value off by {near:.2g})")
    report.notes.append(
        f"README rule's strength: {scoped} of {check.compared} numbers sit in a table row or "
        f"paragraph that names a dataset and were traced to that dataset's artefacts (or to artefacts of no dataset); "
        f"the rest to any of {len(values)} distinct values, which match by chance " + ", ".join(
            f"{_coverage(values, d):.0%} of all {d}-decimal numbers in [0, 1]" for d in sorted(decimals))
        + ". A wrong number is caught only where no eligible value happens to round to it.")


def _distance(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Distance from each x to the nearest of the sorted ``values`` (inf: none)."""
    values = np.concatenate([[-np.inf], values, [np.inf]])
    i = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    return np.minimum(abs(values[i] - x), abs(values[i - 1] - x))


def _half_unit(digits: str) -> float:
    return 0.5 * 10.0 ** -len(digits.split(".")[1])


def _coverage(values: np.ndarray, d: int) -> float:
    """Share of the numbers k / 10^d in [0, 1] that some value matches by the README rule."""
    grid = np.arange(10 ** d + 1) / 10 ** d
    return float(np.mean(_distance(values, grid) <= 0.5 * 10.0 ** -d + EPS))
