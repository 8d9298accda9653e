"""What every run.json records: package versions, git commit, host.

``REPO`` is the repository's root, ``cpu_field`` reads this machine's /proc/cpuinfo.
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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


def cpu_field(name: str) -> str:
    """The value of the first ``name : value`` line of /proc/cpuinfo ("flags", "cpu MHz",
    "model name"); "" where there is none (another system)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _cpu_model() -> str:
    return cpu_field("model name") or platform.processor() or "unknown"


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

