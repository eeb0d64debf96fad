"""Raw tracking results in the plain per-sequence text format other toolkits read.

`<out>/<sequence>.txt`: one `x,y,w,h` line per frame (comma, 4 decimals, image pixels; frames before
the initial frame are `0,0,0,0`); `<out>/<sequence>_confidence.value`: one confidence per line
(VOT's file name). Both are written atomically, so a killed run never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srtrack.io import write_text_atomic


def write_raw_results(out_dir: Path, name: str, boxes: list[np.ndarray], confidences: list[float]) -> list[Path]:
    """Write one sequence's boxes and confidences; returns the two paths."""
    if len(boxes) != len(confidences):
        raise ValueError(f"{name}: {len(boxes)} boxes but {len(confidences)} confidences")
    box_path, conf_path = out_dir / f"{name}.txt", out_dir / f"{name}_confidence.value"
    write_text_atomic(box_path, "".join(",".join(f"{v:.4f}" for v in box) + "\n" for box in boxes))
    write_text_atomic(conf_path, "".join(f"{c:.6f}\n" for c in confidences))
    return [box_path, conf_path]


def read_raw_results(out_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) boxes and (N,) confidences written by write_raw_results."""
    boxes = np.loadtxt(out_dir / f"{name}.txt", delimiter=",", ndmin=2)
    confidences = np.loadtxt(out_dir / f"{name}_confidence.value", ndmin=1)
    return boxes, confidences
