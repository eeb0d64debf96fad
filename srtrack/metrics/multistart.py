"""VOT multistart (anchor-based) EAO, accuracy and robustness, as vot-toolkit's `multistart_*`
analyses compute them for VOT-RGBD2022.

A sequence's anchors (`anchor.value` > 0: run forward to the end; < 0: run backward to frame 0) each
start one run; a run's frame 0 is the initialisation (overlap 0). Per run, scanning its frames, a
counter of `grace` = 10 is decremented on each frame with overlap <= 0.1 and a non-empty GT and reset
otherwise; at 0 the run failed at `progress = j + 1 - grace`. Per sequence: A = sum of overlaps
before progress / sum of progress, R = sum of progress / sum of run lengths; over sequences A is
weighted by sum of progress and R by sequence length. EAO: per run (overlaps after a failure set to
0), for j = 1 .. high - 1: the mean of overlaps 1..j while j < run length, else (failed runs only)
the sum of overlaps 1..len-1 divided by (j - 1) -- vot-toolkit's formula; pooled over runs by their
active counts; EAO = mean of the curve over [low, high].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRACE, THRESHOLD, LOW, HIGH = 10, 0.1, 115, 755


@dataclass
class Run:
    """One anchor's run: overlaps in run order (index 0 = the anchor frame) and which GT frames are empty."""

    overlaps: np.ndarray
    gt_empty: np.ndarray


def anchors(values: np.ndarray) -> tuple[list[int], list[int]]:
    """Forward (value > 0) and backward (value < 0) anchor frames."""
    values = np.asarray(values, float)
    return np.flatnonzero(values > 0).tolist(), np.flatnonzero(values < 0).tolist()


def run_frames(anchor: int, reverse: bool, length: int) -> np.ndarray:
    """The sequence frames a run visits, in order."""
    return np.arange(anchor, -1, -1) if reverse else np.arange(anchor, length)


def progress(run: Run, grace: int = GRACE, threshold: float = THRESHOLD) -> int:
    """Frames tracked before the failure (the run length without one)."""
    counter = grace
    for j, (overlap, empty) in enumerate(zip(run.overlaps, run.gt_empty)):
        if overlap <= threshold and not empty:
            counter -= 1
            if counter == 0:
                return j + 1 - grace
        else:
            counter = grace
    return len(run.overlaps)


def eao_partial(runs: list[Run], high: int = HIGH) -> tuple[np.ndarray, np.ndarray]:
    """One sequence's EAO curve sums and active counts (vot-toolkit `compute_eao_partial`)."""
    phi, active = np.zeros(high), np.zeros(high)
    for run in runs:
        p = progress(run)
        o = run.overlaps.astype(float).copy()
        failed = p < len(o)
        o[p:] = 0.0
        j = np.arange(1, high)
        inside = j < len(o)
        running = np.cumsum(o)  # running[j] = o[0] + ... + o[j]
        phi[1:][inside] += (running[j[inside]] - o[0]) / j[inside]
        active[1:][inside] += 1
        if failed:
            beyond = ~inside
            phi[1:][beyond] += (o[1:].sum()) / (j[beyond] - 1)
            active[1:][beyond] += 1
    return phi, active


def evaluate_multistart(sequences: dict[str, tuple[int, list[Run]]], low: int = LOW, high: int = HIGH) -> dict:
    """EAO, A, R over `{name: (sequence length, runs)}` and the EAO curve."""
    if not sequences:
        raise ValueError("no sequences to evaluate")
    total_acc = weight_acc = total_rob = weight_rob = 0.0
    curve_sum, curve_weight = np.zeros(high), np.zeros(high)
    per_sequence = {}
    for name, (length, runs) in sequences.items():
        if not runs:
            raise ValueError(f"{name}: no anchors (anchor.value has no non-zero entry)")
        progresses = [progress(run) for run in runs]
        robustness = float(sum(progresses))
        accuracy_sum = float(sum(run.overlaps[:p].sum() for run, p in zip(runs, progresses)))
        runs_total = float(sum(len(run.overlaps) for run in runs))
        accuracy = accuracy_sum / robustness if robustness > 0 else 0.0
        robust = robustness / runs_total
        per_sequence[name] = {"accuracy": accuracy, "robustness": robust, "runs": len(runs)}
        total_acc += accuracy * robustness
        weight_acc += robustness
        total_rob += robust * length
        weight_rob += length
        phi, active = eao_partial(runs, high)
        curve = np.where(active > 0, phi / np.maximum(active, 1), 0.0)
        curve_sum += curve * active
        curve_weight += active
    curve = np.where(curve_weight > 0, curve_sum / np.maximum(curve_weight, 1), 0.0)
    return {"eao": float(curve[low:high + 1].mean()), "accuracy": total_acc / weight_acc if weight_acc else 0.0,
            "robustness": total_rob / weight_rob, "eao_curve": curve, "per_sequence": per_sequence}
