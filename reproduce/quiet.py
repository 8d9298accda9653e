"""TensorFlow imported once, without its start-up lines: what the commands that need it call.

While it loads, TensorFlow 2.21 writes lines from C++ straight to file descriptor 2
("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
"I0000 ... oneDNN custom operations are on ...") whatever TF_CPP_MIN_LOG_LEVEL says. At
level 3, the command line's default (reproduce/__main__.py), ``import_tensorflow`` hides
them too: descriptor 2 points to a temporary file during ``import tensorflow``, and what
the file caught is written out only if the import fails. At a lower level, which only the
user sets, nothing is hidden. Python's own errors and warnings after the import are never
hidden.
"""
from __future__ import annotations

import os
import sys
import tempfile


def _level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def import_tensorflow():
    """The ``tensorflow`` module, imported now if it is not yet."""
    if "tensorflow" in sys.modules or _level() < 3:
        import tensorflow
        return tensorflow
    sys.stderr.flush()
    stderr = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            _restore(stderr)
            caught.seek(0)
            _write(caught.read())  # why it failed may be among the lines
            raise
        _restore(stderr)
    return tensorflow


def _restore(stderr: int) -> None:
    sys.stderr.flush()
    os.dup2(stderr, 2)
    os.close(stderr)


def _write(data: bytes) -> None:
    while data:
        data = data[os.write(2, data):]
