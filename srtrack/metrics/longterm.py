"""VOT long-term precision / recall / F-score (DepthTrack, CDTB / VOT-RGBD2019-21), as
vot-toolkit's `average_tpr` computes them:

1. thresholds: every confidence of every frame (NaN dropped), descending; more than 98 are thinned
   to 98 at `round(linspace(delta, n - delta, 98))`, `delta = floor(n / 98)`; +inf and -inf added;
2. per sequence and threshold tau, S = {t : conf_t >= tau}: Pr = mean of the overlaps over S (1 if S
   is empty), Re = sum over S / the number of frames whose GT is not absent (NaN);
3. Pr and Re averaged over sequences; F = 2 Pr Re / (Pr + Re); report the threshold with the best F.

Overlaps are rasterised and bounded by the image (srtrack.metrics.boxes.iou_raster); a NaN ground
truth row is the toolkit's special region (absent: not counted in Re's denominator), a `0,0,0,0` row
a visible region without pixels (counted, as the toolkit counts it). Frame 0 is vot's
initialisation marker (an empty region with confidence 0, as a result file from the toolkit has
it), unless `score_first_frame` is set (result files that put the GT box there score it).
Equal to vot-toolkit 0.9.0 itself to 1e-12 (tests/metrics/test_vot_toolkit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srtrack.metrics.boxes import iou_raster

RESOLUTION = 100


@dataclass
class LongTermSequence:
    name: str
    gt: np.ndarray          # (N, 4), NaN rows = target absent
    pred: np.ndarray        # (N, 4)
    confidence: np.ndarray  # (N,)
    size: tuple[int, int]   # image width, height


def thresholds(confidences: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """vot-toolkit's `determine_thresholds`."""
    scores = np.sort(confidences[~np.isnan(confidences)])[::-1]
    if len(scores) > resolution - 2:
        delta = len(scores) // (resolution - 2)
        scores = scores[np.round(np.linspace(delta, len(scores) - delta, resolution - 2)).astype(int)]
    return np.concatenate([[np.inf], scores, [-np.inf]])


def _overlaps_and_confidence(seq: LongTermSequence, score_first_frame: bool) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(seq.pred, float).copy()
    confidence = np.asarray(seq.confidence, float).copy()
    if not score_first_frame:  # the toolkit's `1` row: an empty region, and no confidence (read as 0)
        pred[0], confidence[0] = np.nan, 0.0
    return iou_raster(pred, np.asarray(seq.gt, float), seq.size), confidence


def evaluate_longterm(sequences: list[LongTermSequence], score_first_frame: bool = False) -> dict:
    """Pr, Re, F at the best threshold, and the averaged curves."""
    if not sequences:
        raise ValueError("no sequences to evaluate")
    prepared = [_overlaps_and_confidence(seq, score_first_frame) for seq in sequences]
    taus = thresholds(np.concatenate([c for _, c in prepared]))
    precision = np.zeros((len(sequences), len(taus)))
    recall = np.zeros_like(precision)
    for i, (seq, (overlaps, confidence)) in enumerate(zip(sequences, prepared)):
        visible = int((~np.isnan(np.asarray(seq.gt, float)).any(axis=1)).sum())
        with np.errstate(invalid="ignore"):
            subset = confidence[None, :] >= taus[:, None]  # (T, N); NaN confidences never selected
        count = subset.sum(1)
        sums = (subset * overlaps[None, :]).sum(1)
        precision[i] = np.where(count > 0, sums / np.maximum(count, 1), 1.0)
        recall[i] = np.where(count > 0, sums / max(visible, 1), 0.0)
    pr, re = precision.mean(0), recall.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(pr + re > 0, 2 * pr * re / (pr + re), 0.0)
    best = int(np.argmax(f))
    return {"precision": float(pr[best]), "recall": float(re[best]), "f_score": float(f[best]),
            "threshold": float(taus[best]), "pr_curve": pr, "re_curve": re, "f_curve": f,
            "per_sequence": {seq.name: {"precision": float(precision[i, best]), "recall": float(recall[i, best])}
                             for i, seq in enumerate(sequences)}}
