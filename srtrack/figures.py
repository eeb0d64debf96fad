"""Writing matplotlib figures: the one helper every stage's plots use."""

from __future__ import annotations

import io
from pathlib import Path

from srtrack.io import write_bytes_atomic


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display on cluster nodes), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, formats: tuple[str, ...] = (), dpi: int = 100) -> Path:
    """Write `fig` atomically to `path` (PNG), and beside it in every extra format (e.g. "pdf"),
    then close it; returns `path`. The page fits everything drawn, legends outside the axes too."""
    import matplotlib.pyplot as plt

    for suffix in (path.suffix.lstrip(".") or "png", *formats):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix, dpi=dpi, bbox_inches="tight")
        write_bytes_atomic(path.with_suffix(f".{suffix}"), buffer.getvalue())
    plt.close(fig)
    return path
