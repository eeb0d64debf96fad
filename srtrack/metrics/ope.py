"""One-pass evaluation (success, precision, normalised precision) under each official evaluator's
conventions, vectorised over frames, thresholds and sequences.

A `Profile` names an evaluator and fixes every convention that moves the numbers
of the official toolkits: IoU variant, centre convention, first-frame rule,
which GT rows are invalid and what an invalid row scores, what happens to a prediction with w or
h <= 0, rounding and float precision, threshold grids, and whether sequences are averaged or frames
pooled. `evaluate(profile, sequences)` returns the headline numbers, the mean curves and the
per-sequence values. Every table cell records the profile it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from srtrack.metrics.boxes import center_errors, iou_continuous, iou_inclusive
from srtrack.metrics.repair import RULES, repair_rows

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=float)
NORM_THRESHOLDS = np.linspace(0, 0.5, 51)


@dataclass(frozen=True)
class Profile:
    """The conventions of one evaluator (see the module docstring)."""

    name: str
    description: str
    iou: str = "inclusive"                 # inclusive (+1) or continuous (got10k)
    inclusive_centers: bool = True         # x + (w-1)/2; False: x + w/2
    first_frame_gt: bool = True            # score frame 0 as the GT box
    invalid_gt: str = "none"               # none; any_nonpositive (a value <= 0; NaN is not: rgbt);
                                           # not_all_positive (a value not > 0, NaN too: MATLAB, pytracking);
                                           # wh_nonpositive (w or h not > 0: OSTrack)
    invalid_precision_hit: bool = False    # an invalid GT row counts as a precision hit (MATLAB, rgbt)
    invalid_norm_precision_hit: bool = True
    absent_is_miss: bool = True            # frames flagged absent: misses in every measure
    repair: str | None = None              # the reference's broken-row rule (srtrack/metrics/repair.py)
    round_predictions: bool = False        # predictions rounded half to even (rgbt's result loader)
    round_gt: bool = False                 # ground truth rounded too (rgbt's single-file GT loader: LasHeR)
    float32: bool = False                  # compute in float32 (rgbt loads files as float32)
    power_root: bool = False               # distance as (.)**0.5 (rgbt) instead of np.sqrt
    pooled: bool = False                   # GTOT: frames pooled over sequences, trapezoid AUC
    precision_thresholds: np.ndarray = field(default_factory=lambda: PRECISION_THRESHOLDS)
    precision_index: int = 20
    precision_strict: bool = False         # e < d (GTOT) instead of e <= d
    two_gt: bool = False                   # RGBT234/GTOT: best of the visible and thermal GT per frame
    score_rows_present: bool = False       # a short (non-empty) file scores only the frames it has: rgbt pairs
                                           # results with GT by zip (RGBT210/RGBT234/GTOT); else missing rows miss


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("got10k_otb", "got10k toolkit ExperimentOTB: continuous IoU, NaN rows miss, frame 0 := GT",
            iou="continuous"),
    Profile("lasher_rgbt", "LasHeR (rgbt PR_LasHeR/NPR/SR_LasHeR): any coordinate <= 0 is invalid (miss in SR, hit in PR "
            "and NPR); frame 0 := GT, then w/h <= 0 predictions repeat the previous row (NaN rows stay misses); "
            "predictions and GT rounded, float32",
            invalid_gt="any_nonpositive", invalid_precision_hit=True, repair="lasher_rgbt", round_predictions=True,
            round_gt=True, float32=True, power_root=True),
    Profile("rgbt210", "RGBT210 (rgbt PR/SR): boxes as they are, predictions rounded, float32; a short file "
            "scores the frames it has",
            round_predictions=True, float32=True, power_root=True, score_rows_present=True),
    Profile("rgbt234", "RGBT234 (rgbt MPR/MSR): best of visible/thermal GT per frame, first frame not replaced, "
            "predictions rounded, float32; a short file scores the frames it has",
            first_frame_gt=False, two_gt=True, round_predictions=True, float32=True, power_root=True,
            score_rows_present=True),
    Profile("gtot", "GTOT (rgbt MPR_GTOT/MSR_GTOT): two GTs, frames pooled, 5 px (strict) on a 0.5 px grid, "
            "trapezoid AUC, centres x + w/2; a short file scores the frames it has",
            first_frame_gt=False, two_gt=True, round_predictions=True, float32=True, power_root=True, pooled=True,
            precision_thresholds=np.linspace(0, 25, 51), precision_index=10, precision_strict=True,
            inclusive_centers=False, score_rows_present=True),
    Profile("otb_matlab", "OTB/LaSOT MATLAB as shipped with VisEvent and COESOT: any coordinate <= 0 invalid (miss "
            "in SR, hit in PR/NPR), absent frames misses; rows with a NaN or w/h <= 0 repeat the previous row "
            "(GT row without NaN), then frame 1 := GT",
            invalid_gt="not_all_positive", invalid_precision_hit=True, repair="otb_matlab"),
    Profile("pytracking", "pytracking: any coordinate <= 0 invalid (miss in SR and PR, hit in NPR); w/h == 0 rows "
            "repeat the previous row, NaN or negative-size rows (refused by pytracking) are misses, a short file "
            "is padded with 0,0,0,0 rows",
            invalid_gt="not_all_positive", repair="pytracking"),
    Profile("ostrack", "OSTrack/CEUTrack/FE108 analysis: w or h <= 0 invalid (miss in SR and PR, hit in NPR); "
            "rows as pytracking",
            invalid_gt="wh_nonpositive", repair="pytracking"),
)}


@dataclass
class SequenceBoxes:
    """One sequence's ground truth (N, 4), optional second GT, predictions, and absent flags."""

    name: str
    gt: np.ndarray
    pred: np.ndarray
    gt_x: np.ndarray | None = None
    absent: np.ndarray | None = None


@dataclass
class OpeResult:
    profile: str
    success_auc: float
    precision: float
    norm_precision: float
    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    per_sequence: dict[str, dict[str, float]]

    def summary(self) -> dict[str, float | str]:
        return {"profile": self.profile, "success_auc": self.success_auc, "precision": self.precision,
                "norm_precision": self.norm_precision, "success_rate_50": float(self.success_curve[10])}


BLOCK_FRAMES = 8192  # frames scored together: a block's arrays stay in the CPU cache (benchmarks/metrics_speed.py)


@dataclass
class _Frames:
    """Consecutive sequences concatenated: boxes as (N, 4) views of column-major (4, N) arrays (so
    every coordinate is contiguous), absent flags, where each sequence starts and its length."""

    gt: np.ndarray
    gt_x: np.ndarray | None
    pred: np.ndarray
    absent: np.ndarray | None
    missing: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def _columns(rows: list[np.ndarray], dtype: type) -> np.ndarray:
    """Stack (n_i, 4) arrays into one new (N, 4) array stored column by column."""
    return np.concatenate([r.T for r in rows], axis=1, dtype=dtype).T


def _scored_frames(profile: Profile, seq: SequenceBoxes) -> int:
    """How many of a sequence's frames are scored: all of them, or with `score_rows_present` those a
    short result file has (rgbt's zip stops at its end; an empty file, which gives rgbt NaN, misses all)."""
    frames, rows = len(np.asarray(seq.gt).reshape(-1, 4)), len(np.asarray(seq.pred).reshape(-1, 4))
    return min(frames, rows) if profile.score_rows_present and rows else frames


def _concatenate(profile: Profile, sequences: list[SequenceBoxes]) -> _Frames:
    """Align every result to its GT and stack them. A short file is completed with rows that are
    never repaired: NaN (misses), or `0,0,0,0` where the reference pads so (pytracking)."""
    dtype = np.float32 if profile.float32 else np.float64
    pad = 0.0 if profile.repair is not None and RULES[profile.repair].pad_with_zeros else np.nan
    gts, preds, gts_x, absents, missing = [], [], [], [], []
    for seq in sequences:
        scored = _scored_frames(profile, seq)
        gt = np.asarray(seq.gt).reshape(-1, 4)[:scored]
        pred = np.asarray(seq.pred).reshape(-1, 4)[:scored]
        missing.append(np.arange(len(gt)) >= len(pred))
        if len(pred) < len(gt):
            pred = np.vstack([pred, np.full((len(gt) - len(pred), 4), pad)])
        gts.append(gt), preds.append(pred)
        gts_x.append(None if seq.gt_x is None else np.asarray(seq.gt_x).reshape(-1, 4)[:scored])
        absents.append(np.zeros(len(gt), bool) if seq.absent is None else np.asarray(seq.absent, bool)[: len(gt)])
    lengths = np.array([len(g) for g in gts])
    if (lengths == 0).any():
        raise ValueError(f"empty ground truth: {[s.name for s, n in zip(sequences, lengths) if n == 0]}")
    two = profile.two_gt and all(g is not None for g in gts_x)
    return _Frames(_columns(gts, dtype), _columns(gts_x, dtype) if two else None, _columns(preds, dtype),
                   np.concatenate(absents) if any(s.absent is not None for s in sequences) else None,
                   np.concatenate(missing), np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)


def _clean_predictions(profile: Profile, frames: _Frames) -> np.ndarray:
    """Rounding, the reference's broken-row repair and frame 0 := GT, in the reference's order (in
    place: `frames.pred` is the block's own copy)."""
    pred = frames.pred.round(0) if profile.round_predictions else frames.pred
    rule = RULES[profile.repair] if profile.repair is not None else None
    if rule is not None and rule.before_first_frame:
        pred = repair_rows(rule, pred, frames.gt, frames.starts, frames.missing)
    if profile.first_frame_gt:
        pred[frames.starts] = frames.gt[frames.starts]
    if rule is not None and not rule.before_first_frame:
        pred = repair_rows(rule, pred, frames.gt, frames.starts, frames.missing)
    return pred


def _refused(profile: Profile, frames: _Frames) -> np.ndarray | None:
    """Rows the reference refuses to score (it raises): misses in every measure here."""
    rule = RULES[profile.repair] if profile.repair is not None else None
    if rule is None or rule.refused is None:
        return None
    refused = rule.refused(frames.pred) & ~frames.missing
    if profile.first_frame_gt:
        refused[frames.starts] = False
    return refused if refused.any() else None


def _measures(profile: Profile, gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """IoU, centre error, normalised centre error per frame (rgbt: float32 and `** 0.5`)."""
    iou = iou_inclusive(pred, gt) if profile.iou == "inclusive" else iou_continuous(pred, gt)
    return (iou, *center_errors(pred, gt, inclusive=profile.inclusive_centers, power_root=profile.power_root))


def _invalid(profile: Profile, gt: np.ndarray) -> np.ndarray:
    if profile.invalid_gt == "any_nonpositive":
        return (gt <= 0).any(axis=1)
    if profile.invalid_gt == "not_all_positive":
        return ~(gt > 0).all(axis=1)
    if profile.invalid_gt == "wh_nonpositive":
        return ~((gt[:, 2] > 0) & (gt[:, 3] > 0))
    return np.zeros(len(gt), dtype=bool)


def frame_measures(profile: Profile, frames: _Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame IoU, centre error and normalised centre error after the profile's rules; invalid
    rows carry -1 (a miss in success; a hit or, as +inf, a miss in the precisions), absent rows NaN."""
    refused = _refused(profile, frames)
    if profile.round_gt:
        frames.gt = frames.gt.round(0)
    pred = _clean_predictions(profile, frames)
    iou, err, nerr = _measures(profile, frames.gt, pred)
    if frames.gt_x is not None:
        iou_x, err_x, nerr_x = _measures(profile, frames.gt_x, pred)
        with np.errstate(invalid="ignore"):
            iou, err, nerr = np.fmax(iou, iou_x), np.fmin(err, err_x), np.fmin(nerr, nerr_x)
    invalid = _invalid(profile, frames.gt)
    iou = np.where(invalid, -1.0, iou)
    err = np.where(invalid, -1.0 if profile.invalid_precision_hit else np.inf, err)
    nerr = np.where(invalid, -1.0 if profile.invalid_norm_precision_hit else np.inf, nerr)
    if frames.absent is not None and profile.absent_is_miss:
        iou, err, nerr = (np.where(frames.absent, np.nan, a) for a in (iou, err, nerr))
    if refused is not None:
        iou, err, nerr = (np.where(refused, np.nan, a) for a in (iou, err, nerr))
    return iou, err, nerr


class Thresholds:
    """A sorted threshold grid and fast, exact `np.searchsorted` into it.

    For an evenly spaced grid (all of ours are) the position guessed from (v - g0) / step is off by
    at most one; it is corrected by comparing with the grid itself, so the result is exact (tested
    against searchsorted at and next to every grid point). Other grids use searchsorted."""

    def __init__(self, grid: np.ndarray):
        self.grid = np.asarray(grid, float)
        k = len(self.grid)
        self.step = (self.grid[-1] - self.grid[0]) / (k - 1) if k > 1 else 0.0
        self.uniform = k > 1 and bool(np.allclose(np.diff(self.grid), self.step, rtol=1e-9, atol=0))
        self.padded = np.concatenate([[-np.inf], self.grid, [np.inf]])  # padded[p] = grid[p - 1]

    def positions(self, values: np.ndarray, *, side: str) -> np.ndarray:
        """#(grid < v) (side "left") or #(grid <= v) ("right") for every finite or infinite value."""
        k = len(self.grid)
        if not self.uniform:
            return np.searchsorted(self.grid, values, side=side)
        guess = values - self.grid[0]
        guess /= self.step
        if side == "left":
            np.ceil(guess, out=guess)
        else:
            guess += 1
            np.floor(guess, out=guess)
        np.clip(guess, 0, k, out=guess)
        pos = guess.astype(np.intp)
        if side == "left":
            pos -= self.padded[pos] >= values
            pos += self.padded[pos + 1] < values
        else:
            pos -= self.padded[pos] > values
            pos += self.padded[pos + 1] <= values
        return np.clip(pos, 0, k, out=pos)  # -inf values

    def hit_counts(self, values: np.ndarray, seq_id: np.ndarray, n_seq: int, *, above: bool,
                   strict: bool) -> np.ndarray:
        """(n_seq, len(grid)) counts of frames with value > grid[j] (above) or value <= / < grid[j].

        O(frames): each value's position in the grid, one bincount per sequence and position, then
        a cumulative sum. NaN values are never hits."""
        k = len(self.grid)
        nan = np.isnan(values)
        has_nan = bool(nan.any())
        # above: hits for thresholds j < position; below: hits for j >= position;
        # position = #thresholds < value, or <= value for a strict "below"
        pos = self.positions(np.where(nan, 0.0, values) if has_nan else values,
                             side="right" if strict and not above else "left")
        if has_nan:
            pos[nan] = 0 if above else k + 1  # a bin that no threshold counts
        pos += seq_id * (k + 2)
        table = np.bincount(pos, minlength=n_seq * (k + 2)).reshape(n_seq, k + 2)
        if above:
            return np.cumsum(table[:, ::-1], axis=1)[:, ::-1][:, 1:k + 1]
        return np.cumsum(table[:, :k], axis=1)


def _blocks(lengths: np.ndarray, frames: int) -> list[tuple[int, int]]:
    """Consecutive sequence ranges [lo, hi) of about `frames` frames each (at least one sequence)."""
    bounds, lo, total = [], 0, 0
    for i, n in enumerate(lengths):
        total += int(n)
        if total >= frames:
            bounds.append((lo, i + 1))
            lo, total = i + 1, 0
    if lo < len(lengths):
        bounds.append((lo, len(lengths)))
    return bounds


def _sequence_counts(profile: Profile, sequences: list[SequenceBoxes]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-sequence lengths and hit counts (success, precision, normalised precision), block by block."""
    grids = (Thresholds(SUCCESS_THRESHOLDS), Thresholds(profile.precision_thresholds), Thresholds(NORM_THRESHOLDS))
    rules = ({"above": True, "strict": True}, {"above": False, "strict": profile.precision_strict},
             {"above": False, "strict": False})
    lengths = np.array([_scored_frames(profile, s) for s in sequences])
    counts = [np.zeros((len(sequences), len(g.grid)), np.int64) for g in grids]
    for lo, hi in _blocks(lengths, BLOCK_FRAMES):
        frames = _concatenate(profile, sequences[lo:hi])
        seq_id = np.repeat(np.arange(hi - lo), frames.lengths)
        for table, grid, rule, values in zip(counts, grids, rules, frame_measures(profile, frames)):
            table[lo:hi] = grid.hit_counts(values.astype(float, copy=False), seq_id, hi - lo, **rule)
    return lengths, counts


def evaluate(profile: Profile | str, sequences: list[SequenceBoxes]) -> OpeResult:
    """Success AUC, precision and normalised precision of a set of sequences under `profile`."""
    return evaluate_subsets(profile, sequences, {})[0]


def evaluate_subsets(profile: Profile | str, sequences: list[SequenceBoxes],
                     subsets: dict[str, list[int]]) -> tuple[OpeResult, dict[str, OpeResult]]:
    """`evaluate` on all sequences and on each named subset of them (indices into `sequences`; an
    attribute's sequences), measuring every frame once: a subset's numbers equal `evaluate` on it."""
    profile = PROFILES[profile] if isinstance(profile, str) else profile
    if not sequences:
        raise ValueError("no sequences to evaluate")
    lengths, counts = _sequence_counts(profile, sequences)
    whole = _result(profile, sequences, lengths, counts)
    return whole, {name: _result(profile, [sequences[i] for i in rows], lengths[rows], [c[rows] for c in counts])
                   for name, rows in subsets.items()}


def _result(profile: Profile, sequences: list[SequenceBoxes], lengths: np.ndarray, counts: list[np.ndarray]) -> OpeResult:
    """The numbers of `sequences` from their per-sequence lengths and hit counts."""
    per_seq_curves = [c / lengths[:, None] for c in counts]
    if profile.pooled:
        total = lengths.sum()
        success_curve, precision_curve, norm_curve = (c.sum(0) / total for c in counts)
        step = SUCCESS_THRESHOLDS[1]
        auc = float(((counts[0][:, 1:] * step).sum() + (counts[0][:, :-1] * step).sum()) / 2.0 / total)
    else:
        success_curve, precision_curve, norm_curve = (c.mean(0) for c in per_seq_curves)
        auc = float(per_seq_curves[0].mean())
    per_sequence = {
        seq.name: {"success_auc": float(per_seq_curves[0][i].mean()),
                   "precision": float(per_seq_curves[1][i][profile.precision_index]),
                   "norm_precision": float(per_seq_curves[2][i][20]), "frames": int(lengths[i])}
        for i, seq in enumerate(sequences)}
    return OpeResult(profile.name, auc, float(precision_curve[profile.precision_index]), float(norm_curve[20]),
                     success_curve, precision_curve, norm_curve, per_sequence)
