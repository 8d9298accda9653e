"""verify, check 5: the values a ref names, read from its source (syntax: readme.py).

``expected(ref, root)`` returns one (label, value) per number the ref's fields stand for:
a number field one, a list field (an interval) each of its numbers, a string field each
number written in it (``"3/3"``: two). Sources:

  a .csv of the results folder  the selector's ``column=value`` pairs pick exactly one row
                                 (cells compared as written); fields are column names
  a .json of the results folder the selector, if any, is a path to the node the fields'
                                 paths start from
  ``paper``                      reproduce/published.py's constants (the paper's numbers)
  ``code PATH``                  a Python file of the repository: its module-level
                                 constants (``NAME = literal``), read with ``ast`` (never
                                 imported)

A path is keys joined by dots (``datasets.fabric1.pixel_auroc.l2``); a key that itself holds
a dot is matched whole. In a list, a segment is an index (``0``, ``-1``) or ``key=value``
pairs joined by commas, which must pick exactly one element (``method=l2_ae,precision=bf16``;
the path may go on after it: ``datasets.spec=nanofibres.kinds``);
in a string, an index picks one of the numbers written in it (``models_trained.1``: 36 of
"31/36").
A field ending in ``%`` is its value times 100. A field holding ``{path}`` is arithmetic
(``+ - * / **`` and parentheses) on the single numbers of those paths:
``{profile.epochs}*{profile.patches_per_epoch}/{profile.batch_size}``. Anything that cannot
be read (a missing file, a selector that picks no row or several, a missing key) raises
:class:`SourceError` with a message that says what and where.
"""
from __future__ import annotations

import ast
import json
import math
import operator
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from reproduce.experiments.verify.numbers import Ref, numbers_in

REPO = Path(__file__).resolve().parents[3]
PAPER = "reproduce/published.py"
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
       ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
       ast.UAdd: operator.pos}


class SourceError(Exception):
    """A ref whose value cannot be read: the message says why."""


def expected(ref: Ref, root: Path) -> list[tuple[str, float]]:
    """(label, value) for every number the ref's fields stand for, in order."""
    source, selector = ref.source, list(ref.selector)
    if source == "paper":
        node, name = _code(REPO / PAPER), "paper"
    elif source == "code":
        if not selector:
            raise SourceError("a code ref names its file: 'code PATH: NAMES'")
        path = selector.pop(0)
        node, name = _code(REPO / path), path
    else:
        path = root / source
        if not path.is_file():
            raise SourceError(f"{source} does not exist in {root} (has the stage that "
                              "writes it been run?)")
        name = source
        if path.suffix == ".csv":
            return [(f"{name} {' '.join(ref.selector)}: {f}", v) for f in ref.fields
                    for v in _csv_values(path, selector, f)]
        if path.suffix != ".json":
            raise SourceError(f"{source}: a ref reads a .csv or .json file, paper or code")
        node = _json(path)
    if selector:
        if len(selector) > 1:
            raise SourceError(f"{name}: one path as selector, not {selector}")
        node = walk(node, selector[0])
        name = f"{name} {selector[0]}"
    return [(f"{name}: {f}", v) for f in ref.fields for v in field_values(node, f)]


def clear() -> None:
    """Forget the files read (a second verify in one process reads them afresh)."""
    for cached in (_csv, _json, _code):
        cached.cache_clear()


def field_values(node, field: str) -> list[float]:
    """The numbers one field of a JSON or code node stands for (module docstring)."""
    if PLACEHOLDER.search(field):
        def one(m):
            values = _numbers(walk(node, m.group(1)), m.group(1))
            if len(values) != 1:
                raise SourceError(f"{{{m.group(1)}}} holds {len(values)} numbers, not one")
            return repr(values[0])
        return [_arithmetic(PLACEHOLDER.sub(one, field), field)]
    scale = 100.0 if field.endswith("%") else 1.0
    path = field[:-1] if field.endswith("%") else field
    return [scale * v for v in _numbers(walk(node, path), path)]


def walk(node, path: str):
    """The node a dotted path leads to (module docstring)."""
    segments, at = path.split("."), []
    while segments:
        for n in range(len(segments), 0, -1):
            key = ".".join(segments[:n])
            found, value = _step(node, key)
            if found:
                node, at, segments = value, at + [key], segments[n:]
                break
        else:
            keys = (f"; keys: {', '.join(map(str, list(node)[:12]))}" if isinstance(node, dict)
                    else f"; a list of {len(node)}" if isinstance(node, (list, tuple)) else "")
            raise SourceError(f"no '{segments[0]}' at '{'.'.join(at) or '(top)'}'{keys}")
    return node


def _step(node, key: str):
    if isinstance(node, dict):
        return (True, node[key]) if key in node else (False, None)
    if isinstance(node, str) and re.fullmatch(r"-?\d+", key):  # "31/36".1 -> 36
        found, i = numbers_in(node), int(key)
        return (True, found[i]) if -len(found) <= i < len(found) else (False, None)
    if not isinstance(node, (list, tuple)):
        return False, None
    if re.fullmatch(r"-?\d+", key):
        i = int(key)
        return (True, node[i]) if -len(node) <= i < len(node) else (False, None)
    if "=" not in key:
        return False, None
    wanted = dict(pair.split("=", 1) for pair in key.split(","))
    hits = [e for e in node if isinstance(e, dict)
            and all(str(e.get(k)) == v for k, v in wanted.items())]
    if not hits:  # perhaps a shorter key: 'spec=a.share' is 'spec=a', then 'share'
        return False, None
    if len(hits) > 1:
        raise SourceError(f"'{key}' picks {len(hits)} elements of a list of {len(node)}, "
                          "not one")
    return True, hits[0]


def _numbers(value, path: str) -> list[float]:
    if isinstance(value, bool):
        raise SourceError(f"'{path}' is a boolean ({value}), not a number")
    if isinstance(value, (int, float)):
        if math.isnan(value):
            raise SourceError(f"'{path}' is NaN: no value")
        return [float(value)]
    if isinstance(value, str):
        found = numbers_in(value)
        if not found:
            raise SourceError(f"'{path}' is the text {value!r}, which holds no number")
        return found
    if isinstance(value, (list, tuple)):
        return [v for e in value for v in _numbers(e, path)]
    kind = "null" if value is None else type(value).__name__
    raise SourceError(f"'{path}' is {kind}, not a number")


def _csv_values(path: Path, selector: list, column: str) -> list[float]:
    table = _csv(path)
    rows = table
    for condition in selector:
        key, eq, value = condition.partition("=")
        if not eq or key not in table.columns:
            raise SourceError(f"{path.name}: the selector '{condition}' is not column=value "
                              f"of a column ({', '.join(table.columns[:12])}, ...)")
        rows = rows[rows[key] == value]
    if len(rows) != 1:
        raise SourceError(f"{path.name}: {' '.join(selector) or '(no selector)'} picks "
                          f"{len(rows)} rows, not one")
    scale = 100.0 if column.endswith("%") else 1.0
    column = column.rstrip("%")
    if column not in table.columns:
        raise SourceError(f"{path.name} has no column '{column}'")
    cell = rows.iloc[0][column]
    if not cell.strip():
        raise SourceError(f"{path.name}: {' '.join(selector)}: '{column}' is empty")
    return [scale * v for v in _numbers(_cell(cell), column)]


def _cell(text: str):
    try:
        return float(text)
    except ValueError:
        return text


@lru_cache(maxsize=64)
def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@lru_cache(maxsize=64)
def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise SourceError(f"{path.name} is not JSON: {e}")


@lru_cache(maxsize=16)
def _code(path: Path) -> dict:
    """A Python file's module-level constants (``NAME = literal``, ``A, B = 1, 2``)."""
    if not path.is_file():
        raise SourceError(f"{path} does not exist")
    out = {}
    for stmt in ast.parse(path.read_text()).body:
        target = getattr(stmt, "targets", [getattr(stmt, "target", None)])[0]
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
            continue
        try:
            value = ast.literal_eval(stmt.value)
        except (ValueError, TypeError, SyntaxError):
            continue
        if isinstance(target, ast.Name):
            out[target.id] = value
        elif isinstance(target, ast.Tuple) and isinstance(value, tuple):
            out.update({t.id: v for t, v in zip(target.elts, value) if isinstance(t, ast.Name)})
    return out


def _arithmetic(expression: str, field: str) -> float:
    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in OPS:
            return OPS[type(node.op)](ev(node.operand))
        raise SourceError(f"'{field}': only numbers, {{paths}}, + - * / ** and brackets")
    try:
        return float(ev(ast.parse(expression, mode="eval").body))
    except SyntaxError:
        raise SourceError(f"'{field}' is not arithmetic")
