"""Where each method wins or loses: per sequence, its score minus the reference tracker's, for every
benchmark column of the main tables, drawn as a heat map (sequences x methods)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from srtrack.datasets import READERS
from srtrack.figures import pyplot, save_figure
from srtrack.report.runs import StudyRuns
from srtrack.report.tables import REFERENCES, Cell, Column, Table
from srtrack.report.uncertainty import seed_mean


@dataclass
class SequenceDifferences:
    """Points (x 100) by which each tracker (column) beats the reference on each sequence (row)."""

    column: Column
    reference: str
    frame: pd.DataFrame


def sequence_differences(table: Table, runs: StudyRuns) -> list[SequenceDifferences]:
    """Each benchmark's headline column of `table` against the first of REFERENCES it holds (full
    fine-tuning, else the untuned baseline); seeds averaged per sequence first. Columns whose runs
    lack per-sequence tables (or the metric) are left out."""
    found = []
    for column in (c for c in table.columns if c.mlflow is not None and c.metric == READERS[c.benchmark].headline):
        rows = {row.name: row.cells.get(column) for row in table.rows if row.kind != "published"}
        reference = next((name for name in REFERENCES if rows.get(name) is not None and rows[name].runs), None)
        base = _scores(rows[reference], column, runs) if reference else None
        if base is None:
            continue
        differences = {}
        for name, cell in rows.items():
            scores = _scores(cell, column, runs) if name != reference and cell is not None else None
            if scores is not None:
                differences[name] = (scores - base) * 100
        if differences:
            found.append(SequenceDifferences(column, reference, pd.DataFrame(differences)))
    return found


def _scores(cell: Cell, column: Column, runs: StudyRuns) -> pd.Series | None:
    tables = [runs.per_sequence(run_id) for run_id in cell.runs]
    if not tables or any(t is None for t in tables):
        return None
    profile, metric = column.mlflow.split("/", 1)
    return seed_mean(tables, metric, profile)


def sequence_heatmap(differences: SequenceDifferences, path: Path, max_sequences: int = 60) -> Path:
    """Sequences (rows, sorted by the mean difference over methods, best on top) x methods; red where
    the method loses to the reference, blue where it wins, symmetric colour scale. Above
    `max_sequences` rows, the best and the worst halves of that many are shown."""
    plt = pyplot()
    frame = differences.frame
    frame = frame.loc[frame.mean(axis=1).sort_values(ascending=False).index]
    shown = len(frame)
    if shown > max_sequences:
        frame = pd.concat([frame.head(max_sequences // 2), frame.tail(max_sequences // 2)])
    limit = float(frame.abs().max().max()) or 1.0
    fig, ax = plt.subplots(figsize=(2.2 + 0.9 * frame.shape[1], 1.6 + 0.2 * len(frame)), layout="constrained")
    image = ax.imshow(frame.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    if frame.size <= 150:  # few enough cells to print each value
        for (row, col), value in np.ndenumerate(frame.to_numpy()):
            ax.text(col, row, f"{value:+.1f}", ha="center", va="center", fontsize=6,
                    color="white" if abs(value) > 0.6 * limit else "black")
    ax.set_xticks(range(frame.shape[1]), frame.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(frame)), frame.index, fontsize=6)
    column = differences.column
    title = f"{column.header}: per sequence, minus {differences.reference}"
    ax.set_title(title + (f"\n(best and worst {max_sequences // 2} of {shown})" if shown > max_sequences else ""),
                 fontsize=9)
    fig.colorbar(image, ax=ax, label=f"difference ({column.metric} points)", shrink=0.8)
    return save_figure(fig, path, formats=("pdf",))
