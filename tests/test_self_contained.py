"""The repository stands on its own: no tracked file points to notes outside it.

Earlier sessions of the project kept notes on the paper in a folder beside the
repository; a clone does not have that folder, so a tracked file that refers to it
(a relative path climbing out of the repository into it) points at nothing. The facts
the code relies on belong in docs/PAPER_NOTES.md instead.

Every tracked file is checked, none excluded; a file counts as text, as git decides it,
when its first 8,000 bytes hold no NUL byte. A tracked file deleted from the working
tree (someone is editing) is skipped.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Built in two pieces so that this file does not contain the pointer it looks for.
NEEDLE = ".." + "/shared"


def _tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout (no .git)")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True)
    return [name for name in listing.stdout.decode("utf-8", "surrogateescape").split("\0")
            if name]


def _is_text(data: bytes) -> bool:
    return b"\0" not in data[:8000]


def test_no_tracked_file_points_outside_the_repository():
    needle = NEEDLE.encode()
    offenders = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree, or a submodule
        data = path.read_bytes()
        if not _is_text(data) or needle not in data:
            continue
        lines = [number for number, line in enumerate(data.splitlines(), start=1)
                 if needle in line]
        offenders.append(f"{name} (line {', '.join(map(str, lines))})")
    assert not offenders, (
        f"tracked files refer to {NEEDLE!r}, a folder outside the repository that a "
        f"clone does not have; point to docs/PAPER_NOTES.md or state the fact in place: "
        + "; ".join(offenders))
