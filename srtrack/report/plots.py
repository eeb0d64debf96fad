"""The plasticity-stability scatter: what each tuned tracker gains on its modality against what it keeps of RGB."""

from __future__ import annotations

from pathlib import Path

from srtrack.datasets import READERS
from srtrack.figures import pyplot, save_figure
from srtrack.metrics.plots import colours as label_colours
from srtrack.report.tables import Table
from srtrack.study import BASELINE

MARKERS = {"plasticity_rgbt": "o", "plasticity_rgbd": "s", "plasticity_rgbe": "D"}


def plasticity_plot(tables: list[Table], path: Path) -> Path | None:
    """One point per (modality, label): x = RGB score retained, y = the modality's headline score,
    with error bars of one std over seeds. A colour per label and a marker per modality, both
    explained in the legend outside the axes (labels written beside the points overlap); the dashed
    line is the RGB tracker's own RGB score, the stability to keep."""
    from matplotlib.lines import Line2D

    plt = pyplot()

    picked = [t for t in tables if t.key in MARKERS]
    if not picked:
        return None
    labels = list(dict.fromkeys(row.name for table in picked for row in table.rows))
    colours = label_colours(plt, [n for n in labels if n != BASELINE]) | {BASELINE: "0.35"}
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    reference = None
    for table in picked:
        gain, kept = table.columns
        for row in table.rows:
            x, y = row.cells[kept], row.cells[gain]
            if x.value is None or y.value is None:
                continue
            if row.name == BASELINE:
                reference = x.value
            ax.errorbar(x.value, y.value, xerr=x.std, yerr=y.std, marker=MARKERS[table.key], color=colours[row.name],
                        markersize=7, capsize=3, linestyle="none")
    if reference is not None:
        ax.axvline(reference, color="0.35", linestyle="--", linewidth=1)
    handles = [Line2D([], [], color=colours[n], marker="o", linestyle="none", label=n) for n in labels]
    handles += [Line2D([], [], color="black", marker=MARKERS[t.key], linestyle="none", fillstyle="none",
                       label=f"{t.title.split(':')[0]} ({t.columns[0].header})") for t in picked]
    if reference is not None:
        handles.append(Line2D([], [], color="0.35", linestyle="--", label="RGB tracker on RGB"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    rgb = READERS[picked[0].columns[1].benchmark]
    ax.set_xlabel(f"RGB tracking retained: {rgb.title} {rgb.headline} (%)")
    ax.set_ylabel("tuned modality: headline score (%)")
    ax.set_title("Plasticity (up) vs stability (right); bars: std over seeds")
    ax.grid(alpha=0.3)
    return save_figure(fig, path, formats=("pdf",))
