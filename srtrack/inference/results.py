"""Raw tracking results in the plain per-sequence text format other toolkits read.

`<out>/<sequence>.txt`: one `x,y,w,h` line per frame (comma, 4 decimals, image pixels; frames before
the initial frame are `0,0,0,0`); `<out>/<sequence>_confidence.value`: one confidence per line
(VOT's file name). Both are written atomically, so a killed run never leaves half a file. The
readers take what other trackers write too: commas, spaces or tabs, a BOM, blank lines; every
malformed line is reported with its number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srtrack.datasets.annotations import bad_column, bulk_table, parse_fields
from srtrack.errors import ProblemLog, quote
from srtrack.io import write_text_atomic


def result_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The box file and the confidence file of one sequence (or VOT anchor run)."""
    return out_dir / f"{name}.txt", out_dir / f"{name}_confidence.value"


def write_raw_results(out_dir: Path, name: str, boxes: list[np.ndarray], confidences: list[float]) -> list[Path]:
    """Write one sequence's boxes and confidences; returns the two paths."""
    if len(boxes) != len(confidences):
        raise ValueError(f"{name}: {len(boxes)} boxes but {len(confidences)} confidences")
    box_path, conf_path = result_paths(out_dir, name)
    write_text_atomic(box_path, "".join(",".join(f"{v:.4f}" for v in box) + "\n" for box in boxes))
    write_text_atomic(conf_path, "".join(f"{c:.6f}\n" for c in confidences))
    return [box_path, conf_path]


def read_result_boxes(path: Path, problems: ProblemLog) -> np.ndarray | None:
    """x,y,w,h rows separated by commas, spaces or tabs; a malformed line is reported with its number."""
    lines = _text_lines(path, problems, "x,y,w,h rows")
    if lines is None:
        return None
    bulk = bulk_table(lines, 4)
    if bulk is not None:
        return bulk
    rows, ok = [], True
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        values, why = parse_fields(line)
        if values is None or len(values) != 4:
            got = f"{quote(line.strip(), bad_column(line))} ({why})" if values is None else \
                f"{len(values)} in {quote(line.strip())}"
            problems.error(path, f"expected 4 numbers x,y,w,h, got {got}", number)
            ok = False
            continue
        rows.append(values)
    return np.array(rows, dtype=float).reshape(-1, 4) if ok else None


def read_confidence_file(path: Path, rows: int, problems: ProblemLog) -> np.ndarray | None:
    """One confidence per line (VOT's `<seq>_confidence.value`), as many as the box file has rows."""
    lines = _text_lines(path, problems, "one confidence per line")
    if lines is None:
        return None
    bulk = bulk_table(lines, 1)
    if bulk is not None and len(bulk) == rows:
        return bulk[:, 0]
    values, ok = [], True
    for number, line in enumerate(lines, 1):
        parsed, why = parse_fields(line) if line.strip() else (None, "a blank line")
        if parsed is None or len(parsed) != 1:
            problems.error(path, f"expected one number, got {quote(line.strip(), bad_column(line))}"
                           + (f" ({why})" if why else ""), number)
            ok = False
            continue
        values.append(parsed[0])
    if ok and len(values) != rows:
        problems.error(path, f"{len(values)} confidences for {rows} boxes in {path.name.replace('_confidence.value', '.txt')}")
        ok = False
    return np.array(values, dtype=float) if ok else None


def _text_lines(path: Path, problems: ProblemLog, what: str) -> list[str] | None:
    """The lines of a UTF-8 text file (a BOM is dropped); a binary or undecodable file is reported."""
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        problems.error(path, f"is a binary file (expected text: {what})")
        return None
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        problems.error(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start}; expected {what})")
        return None
