"""Where the FM-AE's comparator F finds its weights (losses/feature_matching.py).

Nothing is downloaded. The weights are the file ``--fm-weights PATH`` names (the command
line puts it in $SSIM_AE_FM_WEIGHTS), else Keras' own cache, where
``keras.applications.VGG19(weights="imagenet", include_top=False)`` leaves them after a
download: ``$KERAS_HOME/models``, by default ``~/.keras/models`` (Keras' rule,
keras/src/backend/config.py). The file is either VGG19's weights without its classifier
(VGG19_NOTOP) or a whole comparator saved as ``.keras``.

No TensorFlow here: the command line and the model cache read these before it loads.
``missing_reason`` says in one line why the FM-AE cannot run (methods.py ``requires``);
``identity`` names the file by its content for the model cache key (methods.py
``key_inputs``), so that a model trained against one comparator is not reused for another.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

WEIGHTS_ENV = "SSIM_AE_FM_WEIGHTS"
VGG19_NOTOP = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def keras_cache_file() -> Path:
    """Where Keras keeps VGG19's downloaded weights without the classifier."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models" / VGG19_NOTOP


def weights_file() -> Path | None:
    """$SSIM_AE_FM_WEIGHTS if set, else Keras' cache file if it exists, else None."""
    chosen = os.environ.get(WEIGHTS_ENV)
    if chosen:
        return Path(chosen)
    cached = keras_cache_file()
    return cached if cached.is_file() else None


def missing_reason() -> str | None:
    """None where the FM-AE can run here, else why not and what to do, in one line."""
    path = weights_file()
    if path is None:
        return (f"no VGG19 weights (not in Keras' cache, {keras_cache_file()}); "
                "give --fm-weights PATH to run it")
    if not path.is_file():
        return f"its comparator {path} (${WEIGHTS_ENV}) is not a file"
    return None


def identity() -> dict:
    """{"comparator": the SHA-256 of the weights file (first 16 hex digits)}, or
    {"comparator": None} where there is none."""
    path = weights_file()
    if path is None or not path.is_file():
        return {"comparator": None}
    stat = path.stat()
    return {"comparator": _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)}


@functools.lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The file's hash, read once per path, size and modification time (80 MB for VGG19)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
