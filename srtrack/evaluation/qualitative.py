"""Qualitative frames: a few frames of the sequences on which the trackers differ most, each
tracker's box and the ground truth drawn on the RGB image, one figure per benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from srtrack.datasets.sequence import Sequence
from srtrack.figures import pyplot, save_figure

FRAME_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # where in each sequence the frames are taken (frame 0 is the given box)
GROUND_TRUTH = "ground truth"


def most_disputed(tables: Mapping[str, pd.DataFrame | None], count: int) -> list[str]:
    """The `count` sequences whose first score column (of the first profile) differs most between
    trackers (max - min); `tables` are the trackers' per-sequence tables. Ties keep the files' order."""
    columns = []
    for name, table in tables.items():
        if table is None or table.empty:
            continue
        rows = table[table["profile"] == table["profile"].iloc[0]]
        metric = next(c for c in rows.columns if c not in ("sequence", "profile"))
        columns.append(rows.set_index("sequence")[metric].astype(float).rename(name))
    if not columns:
        return []
    scores = pd.concat(columns, axis=1)
    spread = (scores.max(axis=1) - scores.min(axis=1)).fillna(0.0)
    return list(spread.sort_values(ascending=False, kind="stable").index[:count])


def frame_numbers(length: int) -> list[int]:
    """The frames shown of a sequence of `length` frames (distinct, never the initial one)."""
    picked = [min(length - 1, max(1, round(f * length) - 1)) for f in FRAME_FRACTIONS]
    return list(dict.fromkeys(picked))


def draw_frames(sequences: list[Sequence], boxes: Mapping[str, Mapping[str, np.ndarray]],
                colours: Mapping[str, str], title: str, path: Path) -> Path:
    """One row per sequence, one panel per frame of `frame_numbers`: the RGB image, the ground truth
    (white, dashed) and each tracker's box (`boxes[tracker][sequence]`, xywh per frame)."""
    import cv2
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from srtrack.datasets.encodings import read_image

    plt = pyplot()
    rows = [(s, frame_numbers(len(s.boxes))) for s in sequences]
    width = max(len(frames) for _, frames in rows)
    fig, axes = plt.subplots(len(rows), width, figsize=(3.0 * width, 2.4 * len(rows) + 0.8), squeeze=False,
                             layout="constrained")
    for (sequence, frames), row in zip(rows, axes):
        for ax, frame in zip(row, frames):
            image = cv2.cvtColor(read_image(sequence.frames["rgb"][frame]), cv2.COLOR_BGR2RGB)
            ax.imshow(image)
            drawn = [(GROUND_TRUTH, sequence.boxes[frame], "white", "--")]
            drawn += [(name, found[sequence.name][frame], colours[name], "-")
                      for name, found in boxes.items() if sequence.name in found and frame < len(found[sequence.name])]
            for _, (x, y, w, h), colour, style in drawn:
                if np.all(np.isfinite([x, y, w, h])) and w > 0 and h > 0:
                    ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=colour, linestyle=style, linewidth=1.4))
            ax.set_title(f"{sequence.name} #{frame + 1}", fontsize=7)
        for ax in row:
            ax.set_axis_off()
    handles = [Line2D([], [], color="0.5", linestyle="--", label=f"{GROUND_TRUTH} (white, dashed)")]
    handles += [Line2D([], [], color=colours[name], label=name) for name in boxes]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
