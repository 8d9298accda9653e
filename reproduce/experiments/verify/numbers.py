"""verify, check 5: the numbers of a Markdown line and the references (refs) that tie them.

``line_items(line)`` returns the line's refs (``<!-- ref ... -->``, :class:`Ref`) and its
numbers (:class:`Number`), each with its column, so that readme.py can bind every number
to the ref that follows it on its line (and whether a code span runs on to the next
line). The ref syntax is documented in readme.py.

A number is written in digits: ``0.716``, ``+0.246``, ``-0.081`` (or with U+2212),
``1,024``, ``1e-3``, ``3.5x``. Its printed precision is half a unit of its last digit
(``0.716``: 0.0005; ``1,024``: 0.5; ``1e-3``: 0.5e-3). A ``+`` or ``-`` is its sign only
where it does not follow a letter, a digit or a closing bracket (``3-12`` is a range).

Not results, never counted (the rule, in full):
  - text in HTML comments, code spans (`...`, also over lines), fenced code blocks,
    link targets (``](...)``) and URLs; heading lines (``#``); a table's header row and
    delimiter row (``|---|``); a ref inside a code span is text, not a ref;
  - a number that is part of a word or name: after a letter, ``_``, ``^`` or ``.``
    (``fabric1``, ``bf16``, ``R^2``), after a hyphen that follows a letter (``AVX-512``,
    ``Table-1``), or followed by a letter other than a lone ``x`` (``2nd``, ``3D``);
  - dotted versions and section numbers (``3.1.3``, ``2.21.0``), dates (``2024-05-01``),
    a number after Section, Sec., Table, Figure, Fig., Eq., Equation, page, p., pp.,
    Chapter, Appendix, Algorithm, issue or ``#``, and an ordered list's marker (``1. ``);
  - a year: a four-digit whole number from 1900 to 2099 without a separator (``2021``).
Counts written in words (``three seeds``) contain no digits. Every other number is
a result (or a setting) and needs a ref, or a ``none`` ref that says why it has none.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from errors import InputError

REF = re.compile(r"<!--\s*ref\b(.*?)-->", re.DOTALL)
MASKS = (re.compile(r"\]\([^)]*\)"),                   # link targets
         re.compile(r"https?://\S+"),                  # URLs
         re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),         # dates
         re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}"))    # versions, section numbers
NUMBER = re.compile(r"(?P<sign>[-+\u2212]?)(?P<digits>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
                    r"(?P<exp>[eE][-+]?\d+)?(?P<x>x(?![A-Za-z]))?")
LABELS = re.compile(r"(?:\b(?:Section|Sec\.|Table|Figure|Fig\.|Eq\.|Equation|page|p\.|pp\.|"
                    r"Chapter|Appendix|Algorithm|issue)|#)\s*$", re.IGNORECASE)
LIST_MARKER = re.compile(r"^\s*\d+\.\s")


@dataclass
class Number:
    """A number as printed: its text, value, column and half a unit of its last digit."""
    text: str
    value: float
    column: int
    half_unit: float


@dataclass
class Ref:
    """``<!-- ref SOURCE [SELECTOR ...]: FIELD ... -->`` (readme.py), parsed."""
    text: str        # as written, between ``ref`` and ``-->``
    column: int      # where the comment starts
    end: int         # where it ends
    source: str      # a file of the results folder, ``paper``, ``code`` or ``none``
    selector: list   # the tokens between the source and the colon
    fields: list     # the tokens after the colon (``none``: the reason, one string)


def parse_ref(body: str, column: int = 0, end: int = 0) -> Ref:
    """The parts of a ref's body (the text between ``ref`` and ``-->``)."""
    head, colon, tail = body.partition(":")  # the first colon ends the selector
    head_tokens = _tokens(head, body)
    if not head_tokens:
        raise InputError(f"ref '{body.strip()}': no source (a file, paper, code or none)")
    if head_tokens[0] == "none":
        if not tail.strip():
            raise InputError(f"ref '{body.strip()}': a none ref says why, after a colon")
        return Ref(body.strip(), column, end, "none", [], [tail.strip()])
    if not colon:
        raise InputError(f"ref '{body.strip()}': no colon before the fields")
    fields = _tokens(tail, body)
    if not fields:
        raise InputError(f"ref '{body.strip()}': no fields after the colon")
    return Ref(body.strip(), column, end, head_tokens[0], head_tokens[1:], fields)


def _tokens(text: str, body: str) -> list[str]:
    """``text`` split as a shell would (quotes group); a bad quote is the ref's error."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise InputError(f"ref '{body.strip()}': {e}")


def _blank(text: str, pattern: re.Pattern) -> str:
    return pattern.sub(lambda m: " " * len(m.group()), text)


def parse_number(m: re.Match) -> tuple[float, float]:
    """The value and half a unit of the last printed digit of a NUMBER match."""
    digits = m.group("digits").replace(",", "")
    decimals = len(digits.partition(".")[2])
    exponent = int(m.group("exp")[1:]) if m.group("exp") else 0
    value = float(digits) * 10.0 ** exponent
    if m.group("sign") in ("-", "\u2212"):
        value = -value
    return value, 0.5 * 10.0 ** (exponent - decimals)


def numbers_in(text: str) -> list[float]:
    """Every number of an artefact's string value ("3/3" -> [3, 3]), plainly read."""
    return [parse_number(m)[0] for m in NUMBER.finditer(text.replace("\u2212", "-"))]


def is_delimiter_row(line: str) -> bool:
    """A Markdown table's delimiter row (``|---|---:|``)."""
    return bool(re.fullmatch(r"\|?[\s:|-]*-[\s:|-]*", line.strip()))


def line_items(line: str, in_code: str = "", header: bool = False):
    """The refs of one README line, its numbers that are results (module docstring), and
    the backticks of a code span still open at its end ("" if none). ``in_code``: those
    of a span open from the line before; ``header``: the line is a table's header row."""
    text, comments, in_code = _scan(line, in_code)
    refs = [parse_ref(m.group(1), start, end) for start, end in comments
            if (m := REF.fullmatch(line[start:end]))]
    if header or line.strip().startswith("#") or is_delimiter_row(line):
        return refs, [], in_code
    for pattern in MASKS:
        text = _blank(text, pattern)
    numbers = []
    for m in NUMBER.finditer(text):
        start = m.start("digits")
        sign = m.group("sign")
        before = text[m.start() - 1] if m.start() > 0 else " "
        if sign and (before.isalnum() or before in ")]_"):
            sign = ""  # a range's dash, not a sign: "3-12"
        if _not_a_result(text, m, start, sign):
            continue
        value, half = parse_number(m)
        if not sign and value < 0:
            value = -value
        numbers.append(Number(m.group()[len(m.group("sign")) - len(sign):],
                              value, start - len(sign), half))
    return refs, numbers, in_code


def _scan(line: str, in_code: str) -> tuple[str, list, str]:
    """Left to right, as Markdown reads them: code spans (a run of backticks to the next
    run of the same length, over lines if need be) and HTML comments, whichever opens
    first. Returns the line with both blanked, the comments' (start, end), and the run of
    backticks still open at the line's end ("" if none)."""
    chars, comments, i = list(line), [], 0
    opened_at = 0 if in_code else None
    while i < len(line):
        if opened_at is not None:
            m = re.compile(rf"(?<!`){in_code}(?!`)").search(line, i)
            end = m.end() if m else len(line)
            chars[opened_at:end] = " " * (end - opened_at)
            if not m:
                return "".join(chars), comments, in_code
            opened_at, in_code, i = None, "", end
            continue
        tick, comment = re.compile(r"`+").search(line, i), line.find("<!--", i)
        if comment >= 0 and (not tick or comment < tick.start()):
            end = line.find("-->", comment + 4)
            end = len(line) if end < 0 else end + 3
            comments.append((comment, end))
            chars[comment:end] = " " * (end - comment)
            i = end
        elif tick:
            opened_at, in_code, i = tick.start(), tick.group(), tick.end()
        else:
            break
    return "".join(chars), comments, in_code


def _not_a_result(text: str, m: re.Match, start: int, sign: str) -> bool:
    """The exclusion rule of the module docstring, for one NUMBER match."""
    prev = text[start - 1] if start > 0 else " "
    prev2 = text[start - 2] if start > 1 else " "
    after = text[m.end()] if m.end() < len(text) else " "
    if prev.isalpha() or prev in "_^." or (not sign and prev.isdigit()):
        return True
    if prev == "-" and prev2.isalpha():
        return True
    if after.isalpha() or after == "_" or (not m.group("x") and after.isdigit()):
        return True
    if LABELS.search(text[:start - len(sign)]) or (start == len(text) - len(text.lstrip())
                                                   and LIST_MARKER.match(text[:m.end() + 2])):
        return True
    digits = m.group("digits")
    return (not sign and not m.group("exp") and not m.group("x") and digits.isdigit()
            and len(digits) == 4 and 1900 <= int(digits) <= 2099)
