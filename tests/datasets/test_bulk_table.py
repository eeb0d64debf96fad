"""The bulk parser of number files agrees with the line-by-line one wherever it answers, and leaves
every line it cannot vouch for to it (which then reports it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srtrack.datasets.annotations import bulk_table, parse_fields, read_boxes
from srtrack.errors import ProblemLog
from srtrack.inference.results import read_result_boxes

ROWS = [
    "1,2,3,4", " 1, 2 ,3 ,4 ", "1 2 3 4", "1\t2  3 4", "1\t,2,3,4", "+nan,-inf,1E+05,3", "nAn,Infinity,+.5,5.",
    "1.,.5,+1,-2e-3", "NaN,NaN,NaN,NaN", "0,0,0,0", "12345678901234567890.5,1e-320,1e308,-0",
    # not one row of 4 numbers: the line-by-line parser must be the one to answer
    "1,,3,4", "1,2,3", "1,2,3,4,", ",1,2,3", "1 2,3,4,5", "1,2,3,4 5", ".,1,2,3", "-,1,2,3", "e,1,2,3", "1e,2,3,4",
    "ee,1,2,3", "1e1.5,1,2,3", "+-1,1,2,3", "inf inity,1,2,3", "1_0,2,3,4", "0x10,2,3,4", "１,2,3,4", "", "   ",
    "1;2;3;4", "1,2,3,4 # note",
]


def line_by_line(lines: list[str], columns: int) -> np.ndarray | None:
    """What the careful parser makes of the lines: every row, or None when any line is not `columns` numbers."""
    parsed = [parse_fields(line)[0] if line.strip() else None for line in lines]
    if any(values is None or len(values) != columns for values in parsed):
        return None
    return np.array(parsed, dtype=float).reshape(-1, columns)


@pytest.mark.parametrize("second", ROWS)
@pytest.mark.parametrize("first", ["1,2,3,4", "5 6 7 8"])
def test_bulk_rows_equal_the_line_by_line_rows_or_defer_to_them(first: str, second: str) -> None:
    lines = [first, second, first]
    bulk = bulk_table(lines, 4)
    careful = line_by_line(lines, 4)
    if bulk is not None:  # it may defer on valid files (a comma file with a space-separated line), never differ
        assert careful is not None and np.array_equal(bulk, careful, equal_nan=True)
        assert bulk.tobytes() == careful.tobytes()  # the same floats, bit for bit (-0 and NaN included)


def test_the_readers_report_what_the_bulk_parser_defers(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("1,2,3,4\n1,,3,4\n1,2,3,4\n")
    problems = ProblemLog()
    assert read_result_boxes(path, problems) is None
    assert [p.line for p in problems.errors] == [2]
    log = ProblemLog()
    path.write_text("1,2,3,4\ninf,2,3,4\nnan,2,3,4\n")  # parsed in bulk, then refused row by row
    boxes = read_boxes(path, log)
    assert [p.line for p in log.errors] == [2, 3] and np.isnan(boxes[1:]).all()


def test_a_large_well_formed_file_is_read_in_bulk_with_the_same_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(300, 100, (2000, 4))
    values[rng.random(2000) < 0.05] = np.nan
    lines = [",".join(f"{v:.4f}" for v in row) for row in values]
    assert bulk_table(lines, 4) is not None
    assert bulk_table(lines, 4).tobytes() == line_by_line(lines, 4).tobytes()
