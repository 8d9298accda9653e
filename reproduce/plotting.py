"""What the figures share: matplotlib without a display, and a PNG written atomically."""
from __future__ import annotations

import io

from files import atomic_write_bytes



def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no window), imported on use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi=120) -> None:
    """A finished matplotlib figure as PNG, written under a temporary name and renamed,
    then closed (pyplot lets it go; the object stays readable)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    pyplot().close(fig)
