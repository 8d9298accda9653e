"""verify's report: what each check compared, its largest deviation, its mismatches.

Every check (one module of this package each) records its comparisons in a :class:`Check`
of the shared :class:`Report`, which becomes ``verify.md``: a table of the checks, each
mismatch with its file, notes, a check's own listing (the README's refs), and what
could not be checked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

MAP_TOL = 1e-6          # metrics.csv keeps 7 significant digits
TABLE_TOL = 0.5e-4      # table_auc.csv and claims.json keep 4 decimals
DIFF_TOL = 1e-4         # a difference of two numbers rounded to 4 decimals
EPS = 1e-9


@dataclass
class Check:
    """One check: how many values it compared, the largest deviation, its mismatches."""
    title: str
    tolerance: str
    compared: int = 0
    largest: float = 0.0
    widest: float = 0.0  # the largest tolerance used (where it varies per value)
    mismatches: list[str] = field(default_factory=list)

    def number(self, where: str, reported, expected, tol: float) -> None:
        """``reported`` (what the folder says) against ``expected`` (recomputed); NaN and
        None stand for 'no value' and match each other."""
        self.compared += 1
        self.widest = max(self.widest, tol)
        r, e = _float(reported), _float(expected)
        if math.isnan(r) and math.isnan(e):
            return
        deviation = abs(r - e) if not (math.isnan(r) or math.isnan(e)) else math.inf
        if math.isfinite(deviation):
            self.largest = max(self.largest, deviation)
        if not deviation <= tol + EPS:
            self.mismatches.append(f"{where}: {_show(reported)}, recomputed {_show(expected)} "
                                   f"(off by {deviation:.2g}, tolerance {tol:.2g})")

    def same(self, where: str, reported, expected) -> None:
        """A boolean, a string or None: must be equal."""
        self.compared += 1
        if reported != expected:
            self.mismatches.append(f"{where}: {reported!r}, expected {expected!r}")


@dataclass
class Report:
    folder: Path
    checks: dict[str, Check] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: dict[str, list[str]] = field(default_factory=dict)  # title -> its lines
    seconds: float = 0.0

    def check(self, key: str, title: str, tolerance: str) -> Check:
        return self.checks.setdefault(key, Check(title, tolerance))

    @property
    def mismatches(self) -> int:
        return sum(len(c.mismatches) for c in self.checks.values())

    @property
    def compared(self) -> int:
        return sum(c.compared for c in self.checks.values())

    def summary(self) -> str:
        verdict = "PASSED" if not self.mismatches else f"FAILED: {self.mismatches} mismatches"
        failing = [k for k, c in self.checks.items() if c.mismatches]
        where = f" (in {', '.join(failing)})" if failing else ""
        return (f"verify {verdict}{where}: {self.compared} values compared in "
                f"{len(self.checks)} checks, {self.seconds:.0f} s")

    def markdown(self) -> str:
        md = [f"# Verification of `{self.folder}`", "",
              "Independent recomputation by `python -m reproduce verify` "
              "(reproduce/experiments/verify/: scikit-learn, scipy and numpy, with the "
              "resampling of evaluation/uncertainty.py; each module's docstring states its "
              "rules and tolerances).", "", f"**{self.summary()}**", "",
              "| check | values compared | largest deviation | tolerance | mismatches |",
              "|---|---:|---:|---|---:|"]
        checks = sorted(self.checks.values(), key=lambda c: c.title)
        for c in checks:
            md.append(f"| {c.title} | {c.compared} | {c.largest:.2g} | "
                      f"{c.tolerance.format(widest=c.widest)} | "
                      f"{len(c.mismatches)} |")
        for c in checks:
            if c.mismatches:
                md += ["", f"## Mismatches: {c.title}", "", *[f"- {m}" for m in c.mismatches]]
        if self.notes:
            md += ["", "## Notes", "", *[f"- {n}" for n in self.notes]]
        for title, lines in self.sections.items():
            md += ["", f"## {title}", "", *([f"- {line}" for line in lines] or ["- (none)"])]
        md += ["", "## Not checked", ""]
        md += [f"- {line}" for line in self.not_checked] or ["- (nothing left out)"]
        return "\n".join(md) + "\n"


def _float(value) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    return float(value)


def _show(value) -> str:
    if value is None:
        return "missing"
    return f"{value:.7g}" if isinstance(value, float) else str(value)


def is_missing(value) -> bool:
    """None or NaN: no value."""
    return value is None or (isinstance(value, float) and math.isnan(value))
