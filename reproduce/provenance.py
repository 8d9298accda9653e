"""What every run.json records: package versions, git commit, host; and atomic writes."""
from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        # -dirty: uncommitted edits of the code; results/ is what runs write, not code
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "") if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance() -> dict:
    import keras
    import numpy
    import tensorflow as tf
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    return {"git_commit": _git_commit(),
            "packages": {"tensorflow": tf.__version__, "keras": keras.__version__,
                         "numpy": numpy.__version__, "python": platform.python_version()},
            "host": {"cpu": _cpu_model(), "cores": os.cpu_count(), "gpus": gpus,
                     "platform": platform.platform()}}


def save_figure(fig, path, dpi=120) -> None:
    """A matplotlib figure as PNG, written under a temporary name and renamed."""
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def dataset_panels(n_panels, width, height):
    """A figure with one axes per dataset, three to a row; unused axes switched off.

    Returns (plt, fig, axes) with ``axes`` the first ``n_panels`` axes in reading order.
    """
    import math

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = max(n_panels, 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             constrained_layout=True)
    for ax in list(grid.flat)[n_panels:]:
        ax.axis("off")
    return plt, fig, list(grid.flat)[:n_panels]
