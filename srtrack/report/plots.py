"""The plasticity-stability figures: what each tuned tracker gains on its modality against what it
keeps of RGB (a scatter), and the same along a study sweep (curves against the swept value)."""

from __future__ import annotations

from pathlib import Path

from srtrack.datasets import READERS
from srtrack.figures import pyplot, save_figure
from srtrack.metrics.plots import colours as label_colours
from srtrack.report.tables import RGB_TRACKER, Cell, Table
from srtrack.study import BASELINE, MODALITIES, SweepPoint

# a marker per tuned modality's plasticity table (rgbt, rgbd, rgbe, and the joint rgbx)
MARKERS = {f"plasticity_{modality}": marker for modality, marker in zip(MODALITIES, "osD^", strict=True)}


def plasticity_plot(tables: list[Table], path: Path) -> Path | None:
    """One point per (modality, label): x = RGB score retained, y = the modality's headline score,
    with error bars of one std over seeds. A colour per label and a marker per modality, both
    explained in the legend outside the axes (labels written beside the points overlap); the
    pretrained point is the untuned RGB-X tracker, and the dashed line the one-stream RGB tracker's
    own RGB score."""
    from matplotlib.lines import Line2D

    plt = pyplot()

    picked = [t for t in tables if t.key in MARKERS]
    if not picked:
        return None
    labels = list(dict.fromkeys(row.name for table in picked for row in table.rows if row.name != RGB_TRACKER))
    colours = label_colours(plt, [n for n in labels if n != BASELINE]) | {BASELINE: "0.35"}
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    reference = None
    for table in picked:
        gain, kept = table.columns
        for row in table.rows:
            if row.name == RGB_TRACKER:
                reference = row.cells[kept].value
                continue
            x, y = row.cells[kept], row.cells[gain]
            if x.value is None or y.value is None:
                continue
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


def tradeoff_plot(table: Table, points: list[SweepPoint], x_title: str, path: Path) -> Path | None:
    """A sweep's trade-off curves: the modality's headline score (left) and the RGB score retained
    (right) against the swept value, one line per swept label, bars of one std over seeds; dashed:
    the untuned RGB-X tracker (both panels) and, dotted, the one-stream RGB tracker on RGB (right)."""
    plt = pyplot()

    rows = {row.name: row for row in table.rows}
    labels = list(dict.fromkeys(p.label for p in points))
    colours = label_colours(plt, labels)
    values = [p.value for p in points]
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), layout="constrained")
    drawn = False
    for ax, column in zip(axes, table.columns):
        for label in labels:
            xs, ys, errs = [], [], []
            for point in (p for p in points if p.label == label):
                cell = rows[point.name].cells[column]
                if cell.value is not None:
                    xs.append(point.value)
                    ys.append(cell.value)
                    errs.append(cell.std or 0.0)
            if xs:
                drawn = True
                n = max(rows[p.name].cells[column].n for p in points if p.label == label)
                ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, color=colours[label], label=f"{label} ({n} seed{'s' if n != 1 else ''})")
        for name, style, text in ((BASELINE, "--", "pretrained (untuned)"), (RGB_TRACKER, ":", "RGB tracker on RGB")):
            reference = rows.get(name)
            if reference is not None and reference.cells.get(column, Cell(None)).value is not None:
                ax.axhline(reference.cells[column].value, color="0.35", linestyle=style, linewidth=1, label=text)
        if min(values) > 0 and max(values) / min(values) >= 4:
            ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(values)), [f"{v:g}" for v in sorted(set(values))])
        ax.set_xlabel(x_title)
        ax.set_ylabel(f"{column.header} (%)")
        ax.grid(alpha=0.3)
    if not drawn:
        plt.close(fig)
        return None
    axes[0].set_title("Plasticity: the tuned modality")
    axes[1].set_title("Stability: RGB tracking retained")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle(table.title)
    return save_figure(fig, path, formats=("pdf",))
