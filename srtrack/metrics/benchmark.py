"""Which evaluator profile scores which benchmark, and the scoring of one benchmark's results.

Defaults (../shared/reference/benchmarks.md, section 0 and 6): LasHeR -> `lasher_rgbt`, RGBT234 ->
`rgbt234` (MPR/MSR over both GTs), GTOT -> `gtot`, VisEvent and COESOT -> `otb_matlab` (their MATLAB
toolkits; absent frames count as misses) and, for COESOT, also `ostrack` (CEUTrack's analysis),
FE108 -> `ostrack` (RSR/RPR), GOT-10k -> `got10k_otb`, DepthTrack and VOT-RGBD2022 -> VOT long-term
Pr/Re/F (VOT-RGBD2022's EAO/A/R multistart protocol is not implemented yet; its long-term
measure is reported instead and labelled so).
"""

from __future__ import annotations

import numpy as np

from srtrack.datasets.sequence import Sequence
from srtrack.metrics.longterm import LongTermSequence, evaluate_longterm
from srtrack.metrics.ope import SequenceBoxes, evaluate

PROFILES_BY_BENCHMARK: dict[str, tuple[str, ...]] = {
    "lasher": ("lasher_rgbt",), "rgbt234": ("rgbt234",), "gtot": ("gtot",), "visevent": ("otb_matlab",),
    "coesot": ("otb_matlab", "ostrack"), "fe108": ("ostrack",), "got10k": ("got10k_otb",),
    "depthtrack": ("vot_longterm",), "vot_rgbd22": ("vot_longterm",),
}
ABSENT_FLAG_BENCHMARKS = frozenset({"visevent", "coesot"})  # evaluators that read an absent-flag file


def score(benchmark: str, sequences: list[Sequence], results: dict[str, tuple[np.ndarray, np.ndarray]],
          image_sizes: dict[str, tuple[int, int]]) -> dict[str, dict]:
    """Every default profile's numbers for `results` ({name: (boxes, confidences)}) on `sequences`.

    Returns {profile: {"summary": {...}, "per_sequence": {...}, "curves": {...}}}.
    """
    out: dict[str, dict] = {}
    for profile in PROFILES_BY_BENCHMARK[benchmark]:
        if profile == "vot_longterm":
            lt = [LongTermSequence(s.name, _vot_gt(s), results[s.name][0], results[s.name][1], image_sizes[s.name])
                  for s in sequences]
            r = evaluate_longterm(lt)
            out[profile] = {"summary": {"profile": profile, "precision": r["precision"], "recall": r["recall"],
                                        "f_score": r["f_score"]},
                            "per_sequence": r["per_sequence"],
                            "curves": {"precision": r["pr_curve"].tolist(), "recall": r["re_curve"].tolist()}}
            continue
        boxes = [SequenceBoxes(s.name, s.boxes, results[s.name][0], gt_x=s.extra_boxes.get("thermal"),
                               absent=s.absent if benchmark in ABSENT_FLAG_BENCHMARKS else None) for s in sequences]
        r = evaluate(profile, boxes)
        out[profile] = {"summary": r.summary(), "per_sequence": r.per_sequence,
                        "curves": {"success": r.success_curve.tolist(), "precision": r.precision_curve.tolist(),
                                   "norm_precision": r.norm_precision_curve.tolist()},
                        "attributes": by_attribute(profile, sequences, boxes)}
    return out


def by_attribute(profile: str, sequences: list[Sequence], boxes: list[SequenceBoxes]) -> dict[str, dict]:
    """The profile's numbers on the sequences that carry each attribute (as the toolkits' attribute
    plots compute them: the same measure over that subset), with the subset's size."""
    names = sorted({a for s in sequences for a in s.attributes})
    out = {}
    for attribute in names:
        subset = [b for s, b in zip(sequences, boxes) if attribute in s.attributes]
        out[attribute] = {**evaluate(profile, subset).summary(), "sequences": len(subset)}
    return out


def _vot_gt(seq: Sequence) -> np.ndarray:
    """VOT ground truth: absent frames as NaN rows (how the toolkit reads them)."""
    gt = seq.boxes.astype(float).copy()
    gt[seq.absent] = np.nan
    return gt
