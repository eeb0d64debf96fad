"""The plasticity-stability scatter: what each tuned tracker gains on its modality against what it keeps of RGB."""

from __future__ import annotations

from pathlib import Path

from srtrack.figures import save_figure
from srtrack.report.tables import Table

MARKERS = {"plasticity_rgbt": "o", "plasticity_rgbd": "s", "plasticity_rgbe": "D"}


def plasticity_plot(tables: list[Table], path: Path) -> Path | None:
    """One point per (modality, method): x = RGB score retained, y = the modality's headline score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picked = [t for t in tables if t.key in MARKERS]
    if not picked:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for table in picked:
        gain, kept = table.columns
        points = [(row.name, row.cells[kept].value, row.cells[gain].value) for row in table.rows
                  if row.cells[kept].value is not None and row.cells[gain].value is not None]
        ax.scatter([p[1] for p in points], [p[2] for p in points], marker=MARKERS[table.key],
                   label=f"{table.title.split(':')[0]} ({gain.header})")
        for name, x, y in points:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("RGB tracking retained: success (%)")
    ax.set_ylabel("tuned modality: headline score (%)")
    ax.set_title("Plasticity (up) vs stability (right)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, formats=("pdf",))
