"""The scoring of one benchmark's results with its evaluator profiles.

Each benchmark's default profiles, whether its evaluator reads absent flags and whether it is scored
from multistart anchor runs are facts of its reader (`srtrack.datasets`, class variables): LasHeR ->
`lasher_rgbt`, RGBT234 -> `rgbt234` (MPR/MSR over both GTs), GTOT -> `gtot`, VisEvent and COESOT ->
`otb_matlab` (absent frames count as misses) and, for COESOT, also `ostrack`, FE108 -> `ostrack`
(RSR/RPR), GOT-10k -> `got10k_otb`, DepthTrack -> VOT long-term Pr/Re/F, VOT-RGBD2022 -> VOT
multistart EAO/A/R plus the long-term measure of the full-sequence run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from srtrack.datasets import READERS
from srtrack.datasets.sequence import Sequence
from srtrack.metrics.longterm import LongTermSequence, evaluate_longterm
from srtrack.metrics.ope import SequenceBoxes, evaluate_subsets

IMAGE_SIZE_PROFILES = frozenset({"vot_longterm", "vot_multistart"})  # VOT bounds overlaps by the image


def profiles_for(benchmark: str, configured: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The evaluator profiles a benchmark is scored with: the configured ones, else its defaults."""
    return tuple(configured) if configured else READERS[benchmark].profiles


def with_anchor_runs(sequences: list[Sequence], profiles: tuple[str, ...] | list[str] | None = None) -> list[Sequence]:
    """The sequences, followed (for a multistart benchmark, unless `profiles` leave out the multistart
    one) by every anchor run as its own sequence."""
    if not sequences or not READERS[sequences[0].benchmark].multistart or \
            (profiles is not None and "vot_multistart" not in profiles):
        return sequences
    return [*sequences, *(proxy for seq in sequences for _, proxy, _ in anchor_runs(seq))]


def anchor_runs(seq: Sequence) -> list[tuple[str, Sequence, np.ndarray]]:
    """The multistart runs of a sequence: (result name `<seq>_<anchor:08d>`, the sequence re-indexed in
    run order, the original frame indices)."""
    from srtrack.metrics.multistart import anchors, run_frames

    values = seq.frame_tags.get("anchor")
    if values is None:
        return []
    forward, backward = anchors(values)
    runs = []
    for anchor, reverse in [(a, False) for a in forward] + [(a, True) for a in backward]:
        idx = run_frames(anchor, reverse, len(seq))
        name = f"{seq.name}_{anchor:08d}"
        proxy = dataclasses.replace(
            seq, name=name, frames={k: tuple(v[i] for i in idx) for k, v in seq.frames.items()},
            boxes=seq.boxes[idx], absent=seq.absent[idx],
            extra_boxes={k: v[idx] for k, v in seq.extra_boxes.items()},
            frame_tags={k: v[idx] for k, v in seq.frame_tags.items()})
        runs.append((name, proxy, idx))
    return runs


def score(benchmark: str, sequences: list[Sequence], results: dict[str, tuple[np.ndarray, np.ndarray]],
          image_sizes: dict[str, tuple[int, int]], profiles: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Each profile's numbers (default: the benchmark's defaults) for `results` ({name: (boxes,
    confidences)}) on `sequences`.

    Returns {profile: {"summary": {...}, "per_sequence": {...}, "curves": {...}}}.
    """
    out: dict[str, dict] = {}
    flags = READERS[benchmark].scores_absent_flags
    for profile in profiles_for(benchmark, profiles):
        if profile == "vot_multistart":
            r = _multistart(sequences, results, image_sizes)
            out[profile] = {"summary": {"profile": profile, "eao": r["eao"], "accuracy": r["accuracy"],
                                        "robustness": r["robustness"]},
                            "per_sequence": r["per_sequence"], "curves": {"eao": r["eao_curve"].tolist()}}
            continue
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
                               absent=s.absent if flags else None) for s in sequences]
        # each attribute: the same measure over the sequences that carry it, as the toolkits' attribute plots
        attributes = {a: [i for i, s in enumerate(sequences) if a in s.attributes]
                      for a in sorted({a for s in sequences for a in s.attributes})}
        r, by_attribute = evaluate_subsets(profile, boxes, attributes)
        out[profile] = {"summary": r.summary(), "per_sequence": r.per_sequence,
                        "curves": {"success": r.success_curve.tolist(), "precision": r.precision_curve.tolist(),
                                   "norm_precision": r.norm_precision_curve.tolist()},
                        "attributes": {a: {**by_attribute[a].summary(), "sequences": len(attributes[a])}
                                       for a in attributes}}
    return out


def _vot_gt(seq: Sequence) -> np.ndarray:
    """VOT ground truth as the toolkit reads the file: NaN rows (special regions) stay NaN, rows
    without area (`0,0,0,0`) stay boxes (visible but empty), whatever our absent flag says."""
    return seq.boxes.astype(float)


def _vot_gt_empty(gt: np.ndarray) -> np.ndarray:
    """The toolkit's `region.is_empty()`: a special region, or w <= 0 or h <= 0 (in float32, as it
    stores rectangles)."""
    gt = gt.astype(np.float32)
    with np.errstate(invalid="ignore"):
        return np.isnan(gt).any(axis=1) | (gt[:, 2] <= 0) | (gt[:, 3] <= 0)


def _multistart(sequences: list[Sequence], results: dict, image_sizes: dict) -> dict:
    from srtrack.metrics.boxes import iou_raster
    from srtrack.metrics.multistart import Run, evaluate_multistart

    table = {}
    for seq in sequences:
        gt = _vot_gt(seq)
        runs = []
        for name, _, idx in anchor_runs(seq):
            pred = results[name][0][: len(idx)].astype(float)
            pred[0] = np.nan  # the initialisation frame: the toolkit's `1`, an empty region
            runs.append(Run(iou_raster(pred, gt[idx], image_sizes[seq.name]), _vot_gt_empty(gt[idx])))
        table[seq.name] = (len(seq), runs)
    return evaluate_multistart(table)
