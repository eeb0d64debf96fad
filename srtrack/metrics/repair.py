"""What each reference evaluator does with prediction rows it considers broken, and with short files.

Every rule below is the reference's own, read in its code; a profile names one (srtrack/metrics/ope.py).

| rule | reference | a row is replaced by the previous row when | order | rows the reference refuses | rows missing at the end |
|---|---|---|---|---|---|
| `lasher_rgbt` | rgbt 1.0.1 `PR_LasHeR`, `NPR`, `SR_LasHeR` | w <= 0 or h <= 0 (a NaN row is not: it stays a miss, and zero-size rows after it copy the NaN) | after frame 0 := GT | - | misses (rgbt itself fails on them) |
| `otb_matlab` | VisEvent / COESOT `calc_seq_err_robust.m` | the row has a NaN, or w <= 0 or h <= 0, and the GT row has no NaN | before frame 1 := GT | - | misses (MATLAB fails on them) |
| `pytracking` | pytracking and OSTrack `calc_seq_err_robust` | w == 0 or h == 0, and the GT row has no NaN | before frame 0 := GT | NaN, w < 0 or h < 0 (it raises): misses here | `0,0,0,0` rows, added after the repair (scored as boxes) |

"The previous row" is the previous row after its own repair (the references loop forward), so a run
of broken rows takes the last row before it that was kept, which may itself be a NaN row. A
sequence's first row is never replaced. Rows beyond the end of a short file are never repaired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def _nonpositive_size(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (pred[:, 2] <= 0) | (pred[:, 3] <= 0)


def _matlab_broken(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    # MATLAB: `if (sum(isnan(r)) | ~isreal(r) | r(3)<=0 | r(4)<=0) & (~isnan(r_anno))` is true only when
    # the scalar test holds and every GT coordinate is a number (an `if` on a vector needs all of it)
    return (np.isnan(pred).any(axis=1) | _nonpositive_size(pred, gt)) & ~np.isnan(gt).any(axis=1)


def _zero_size(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return ((pred[:, 2] == 0) | (pred[:, 3] == 0)) & ~np.isnan(gt).any(axis=1)


def _nan_or_negative(pred: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isnan(pred).any(axis=1) | (pred[:, 2] < 0) | (pred[:, 3] < 0)


@dataclass(frozen=True)
class RowRule:
    """One reference's handling of broken rows (see the module docstring)."""

    name: str
    broken: Callable[[np.ndarray, np.ndarray], np.ndarray]
    before_first_frame: bool
    refused: Callable[[np.ndarray], np.ndarray] | None = None
    pad_with_zeros: bool = False


RULES: dict[str, RowRule] = {r.name: r for r in (
    RowRule("lasher_rgbt", _nonpositive_size, before_first_frame=False),
    RowRule("otb_matlab", _matlab_broken, before_first_frame=True),
    RowRule("pytracking", _zero_size, before_first_frame=True, refused=_nan_or_negative, pad_with_zeros=True),
)}


def repair_rows(rule: RowRule, pred: np.ndarray, gt: np.ndarray, starts: np.ndarray,
                missing: np.ndarray) -> np.ndarray:
    """`pred` with every broken row replaced by the last kept row before it in its sequence.

    Args:
        pred, gt: (N, 4) rows of consecutive sequences.
        starts: index of each sequence's first row (never replaced).
        missing: rows beyond the end of their result file (never replaced).
    """
    broken = rule.broken(pred, gt) & ~missing
    broken[starts] = False
    if not broken.any():
        return pred
    index = np.where(broken, 0, np.arange(len(pred)))  # forward fill of the kept rows' indices
    np.maximum.accumulate(index, out=index)
    return pred.T[:, index].T
