"""Parse ground-truth and per-frame label files; every bad line is reported, none stops the scan.

Formats: comma `x,y,w,h` (LasHeR, RGBT234, VisEvent, COESOT,
FE108, VOT), whitespace or tab `x y w h` (GTOT init.txt), corners `x1 y1 x2 y2` (GTOT), VOT regions
(rectangle, polygon, or a single number / NaN = absent), and 0/1 flag files.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np

from srtrack.errors import ProblemLog, quote

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE)


def _read_lines(path: Path, log: ProblemLog) -> list[str] | None:
    if not path.is_file():
        log.error(path, "file is missing")
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        log.error(path, f"cannot be read as text: {exc}")
        return None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    if not lines:
        log.error(path, "file is empty (expected one row per frame)")
    return lines


def parse_fields(line: str) -> tuple[list[float] | None, str]:
    """The numbers of one row, comma separated (spaces around commas allowed) or whitespace separated.

    Returns (values, "") or (None, why): an empty field between commas, or a field that is not a
    plain decimal number (Python's float() would also take `1_1` as 11; files never mean that).
    """
    text = line.strip()
    fields = [f.strip() for f in text.split(",")] if "," in text else text.split()
    if any(not f for f in fields):
        return None, "an empty field between commas"
    bad = [f for f in fields if not _NUMBER.fullmatch(f)]
    if bad:
        field = bad[0] if len(bad[0]) <= 20 else f"{bad[0][:20]}..."
        return None, f"{field!r}{f' ({len(bad[0]):,} characters)' if len(bad[0]) > 20 else ''} is not a number"
    return [float(f) for f in fields], ""


def bad_column(line: str) -> int:
    """0-based column of the first field of a row that is empty or not a number (0 if none is)."""
    text = line.strip()
    separator = "," if "," in text else None
    position = 0
    for field in (text.split(",") if separator else re.split(r"(\s+)", text)):
        if separator or not field.isspace():
            stripped = field.strip()
            if not stripped or not _NUMBER.fullmatch(stripped):
                return position + (len(field) - len(field.lstrip()))
        position += len(field) + (1 if separator else 0)
    return 0


# what a file of plain numbers holds: digits, signs, points, exponents, nan/inf/infinity, separators
_TABLE_BYTES = b"0123456789.+-eE,\t naNAifIFtyTY\n"


def bulk_table(lines: list[str], columns: int) -> np.ndarray | None:
    """The rows of a well-formed file of numbers, parsed in bulk (LasHeR's 245 test files in a
    fifth of the line-by-line time); None when any line needs the line-by-line parser (a blank line,
    a character no number has, another column count, a field that is not a number), which then
    reports it. Where both apply they agree: `np.loadtxt` converts exactly the fields `parse_fields`
    accepts, the way float() does."""
    if not lines:
        return None
    text = "\n".join(lines)
    if text.encode("utf-8", "replace").translate(None, _TABLE_BYTES):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "input contained no data": blank lines only, the careful parser's case
            table = np.loadtxt(io.StringIO(text), delimiter="," if "," in text else None, ndmin=2, dtype=float)
    except (ValueError, UserWarning):
        return None
    return table if table.shape == (len(lines), columns) else None


def _parse_numbers(line: str) -> list[float] | None:
    return parse_fields(line)[0]


def read_boxes(path: Path, log: ProblemLog, *, what: str = "x,y,w,h") -> np.ndarray:
    """Read a 4-column box file (comma, space or tab separated) into an (N, 4) float64 array.

    Bad rows are logged with their line number and become NaN so that counting still works. Rows
    that say NaN are returned as NaN: the reader decides whether an absent flag covers them.

    Args:
        path: the GT file.
        log: collects the problems.
        what: the expected row format, for messages.
    """
    lines = _read_lines(path, log)
    if lines is None:
        return np.zeros((0, 4))
    rows = bulk_table(lines, 4)
    if rows is not None and not np.isinf(rows).any() and (np.isnan(rows).any(axis=1) == np.isnan(rows).all(axis=1)).all():
        return rows
    rows = np.full((len(lines), 4), np.nan)
    for i, line in enumerate(lines):
        if not line.strip():
            log.error(path, f"blank line (expected {what})", i + 1)
            continue
        values, why = parse_fields(line)
        if values is None:
            log.error(path, f"not numeric: {quote(line.strip(), bad_column(line))}: {why} (expected {what})", i + 1)
        elif len(values) != 4:
            log.error(path, f"{len(values)} values in {quote(line.strip())} (expected 4: {what})", i + 1)
        elif np.isinf(values).any():
            log.error(path, f"infinite value in {quote(line.strip())} (expected finite {what})", i + 1)
        elif np.isnan(values).any() and not np.isnan(values).all():
            log.error(path, f"NaN in some fields of {quote(line.strip())} (expected {what}, or NaN in every field "
                            "for an absent target)", i + 1)
        else:
            rows[i] = values
    return rows


def warn_negative_sizes(boxes: np.ndarray, path: Path, log: ProblemLog) -> None:
    """A box with w or h < 0 is no box: readers treat it as absent, so say which rows (LasHeR's train
    split has one such sequence); on the first frame it moves the tracker's start."""
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if not len(rows):
        return
    start = " (on the first frame: tracking starts at the first frame with a box)" if rows[0] == 0 else ""
    log.warning(path, f"{len(rows)} row(s) with a negative width or height, read as absent (first: line "
                      f"{rows[0] + 1}){start}")


def corners_to_xywh(corners: np.ndarray, width_rule: str) -> np.ndarray:
    """GTOT `x1 y1 x2 y2` rows to `x y w h`; `x2-x1` (rgbt's GTOT mode) or `x2-x1+1` (inclusive)."""
    extra = 1.0 if width_rule == "x2-x1+1" else 0.0
    out = corners.copy()
    out[:, 2] = corners[:, 2] - corners[:, 0] + extra
    out[:, 3] = corners[:, 3] - corners[:, 1] + extra
    return out


def read_flags(path: Path, log: ProblemLog, *, what: str) -> np.ndarray | None:
    """Read a one-0/1-per-line file (e.g. VisEvent absent_label.txt); None if it cannot be used."""
    lines = _read_lines(path, log)
    if lines is None:
        return None
    flags = np.zeros(len(lines), dtype=bool)
    ok = True
    for i, line in enumerate(lines):
        value = line.strip()
        if value not in ("0", "1"):
            log.error(path, f"{what}: {quote(value)} is not 0 or 1", i + 1)
            ok = False
        flags[i] = value == "1"
    return flags if ok else None


def read_vot_regions(path: Path, log: ProblemLog) -> tuple[np.ndarray, np.ndarray, int]:
    """Read a VOT `groundtruth.txt`: rectangles, polygons (to their bounding box) and special rows.

    Returns:
        boxes (N, 4) with NaN on absent rows, absent flags (N,), and the number of polygon rows.
    """
    lines = _read_lines(path, log)
    if lines is None:
        return np.zeros((0, 4)), np.zeros(0, dtype=bool), 0
    boxes = np.full((len(lines), 4), np.nan)
    absent = np.zeros(len(lines), dtype=bool)
    polygons = 0
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("m"):
            log.error(path, "mask regions are not supported (expected x,y,w,h, a polygon or NaN)", i + 1)
            continue
        values = _parse_numbers(text) if text else None
        if values is None:
            log.error(path, f"not numeric: {quote(text, bad_column(text))} (expected x,y,w,h, a polygon, or NaN for "
                            "absent)", i + 1)
        elif len(values) == 1 or np.isnan(values).any():
            absent[i] = True  # VOT "special" region: the target is not visible
        elif len(values) == 4:
            boxes[i] = values
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = np.asarray(values[0::2]), np.asarray(values[1::2])
            boxes[i] = [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
            polygons += 1
        else:
            log.error(path, f"{len(values)} values (expected 4 for x,y,w,h or an even number >= 6)", i + 1)
    return boxes, absent, polygons


def read_frame_values(path: Path, n_frames: int, log: ProblemLog) -> np.ndarray | None:
    """A VOT per-frame `.tag` (0/1) or `.value` (number) file, zero-padded to `n_frames` as VOT does."""
    lines = _read_lines(path, log)
    if lines is None:
        return None
    if len(lines) > n_frames:
        log.error(path, f"{len(lines)} rows for a sequence of {n_frames} frames")
        return None
    values = np.zeros(n_frames)
    for i, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        try:
            values[i] = float(text)
        except ValueError:
            log.error(path, f"not numeric: {quote(text)}", i + 1)
    return values
