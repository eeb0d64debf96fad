"""Benchmark: OPE metric evaluation of a LasHeR-sized test set (245 sequences of about 1,000 frames,
synthetic trajectories), ours vs the peer toolkits' functions, in one run; and VOT long-term Pr/Re/F
of a DepthTrack-sized set (50 sequences of 1,000-2,000 frames) against vot-toolkit's functions.

    .venv/bin/python benchmarks/metrics_speed.py [--repeats 5] [--json out.json]

got10k: rect_iou + center_error + ExperimentOTB._calc_curves per sequence (the toolkit's own loop),
against our `got10k_otb` profile (the same numbers, checked here). rgbt (when installed): PR_LasHeR +
NPR + SR_LasHeR against our `lasher_rgbt` profile. vot-toolkit (when installed): its
calculate_overlaps + determine_thresholds + compute_tpr_curves per sequence (the functions its
PrecisionRecall analysis calls; regions parsed beforehand) against our `vot_longterm`. Best of
`--repeats` runs each (one run for the slow peers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "metrics"))
from test_ope_peers import got10k_otb, rgbt_call  # noqa: E402 (the peers' call sequences, shared with the tests)

from srtrack.metrics.ope import SequenceBoxes, evaluate  # noqa: E402


def lasher_sized(seed: int = 0) -> list[SequenceBoxes]:
    from test_ope_peers import trajectory

    rng = np.random.default_rng(seed)
    return [SequenceBoxes(f"s{i}", *trajectory(rng, int(rng.integers(700, 1300)), integer=True, adversarial=True))
            for i in range(245)]


def vot_longterm_speed(repeats: int) -> dict[str, float]:
    """Our vot_longterm vs the toolkit's own functions on the same DepthTrack-sized trajectories."""
    from types import SimpleNamespace

    from vot.analysis.longterm import compute_tpr_curves, determine_thresholds
    from vot.region import Special
    from vot.region.shapes import Rectangle

    from srtrack.metrics.longterm import LongTermSequence, evaluate_longterm

    rng, size = np.random.default_rng(1), (640, 480)
    seqs = []
    for i in range(50):
        n = int(rng.integers(1000, 2000))
        gt = np.abs(rng.normal([300, 200, 60, 50], [100, 80, 20, 15], (n, 4)))
        gt[rng.random(n) < 0.1] = np.nan
        pred = np.where(np.isnan(gt), 100.0, gt) + rng.normal(0, 8, (n, 4))
        seqs.append(LongTermSequence(f"s{i}", gt, pred, np.round(rng.random(n), 2), size))

    def regions(boxes: np.ndarray) -> list:
        return [Special(0) if np.isnan(b).any() else Rectangle(*b) for b in boxes]

    toolkit_input = [(regions(np.vstack([np.full((1, 4), np.nan), s.pred[1:]])), [0.0, *s.confidence[1:]],
                      SimpleNamespace(groundtruth=lambda g=regions(s.gt): g, size=size)) for s in seqs]

    def toolkit() -> float:
        taus = determine_thresholds([c for _, conf, _ in toolkit_input for c in conf], 100)
        curves = [compute_tpr_curves(traj, conf, seq, taus) for traj, conf, seq in toolkit_input]
        pr, re = np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)
        return float(np.max(2 * pr * re / np.where(pr + re > 0, pr + re, 1)))

    assert abs(toolkit() - evaluate_longterm(seqs)["f_score"]) < 1e-12  # the same numbers
    out = {"vot_frames": sum(len(s.gt) for s in seqs), "vot_toolkit_longterm_s": best_of(toolkit, 1),
           "ours_vot_longterm_s": best_of(lambda: evaluate_longterm(seqs), repeats)}
    out["speedup_vs_vot_toolkit"] = out["vot_toolkit_longterm_s"] / out["ours_vot_longterm_s"]
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    seqs = lasher_sized()
    frames = sum(len(s.gt) for s in seqs)
    ours, peer = evaluate("got10k_otb", seqs), got10k_otb(seqs)
    assert abs(ours.success_auc - peer[0]) < 1e-12 and abs(ours.precision - peer[1]) < 1e-12
    results = {"sequences": len(seqs), "frames": frames,
               "got10k_s": best_of(lambda: got10k_otb(seqs), args.repeats),
               "ours_got10k_otb_s": best_of(lambda: evaluate("got10k_otb", seqs), args.repeats)}
    results["speedup_vs_got10k"] = results["got10k_s"] / results["ours_got10k_otb_s"]
    try:
        import rgbt.metrics as rgbt_metrics

        def rgbt_lasher() -> None:
            for metric in (rgbt_metrics.PR_LasHeR(), rgbt_metrics.NPR(), rgbt_metrics.SR_LasHeR()):
                rgbt_call(metric, seqs, False)

        results["rgbt_lasher_s"] = best_of(rgbt_lasher, 1)
        results["ours_lasher_rgbt_s"] = best_of(lambda: evaluate("lasher_rgbt", seqs), args.repeats)
        results["speedup_vs_rgbt"] = results["rgbt_lasher_s"] / results["ours_lasher_rgbt_s"]
    except ImportError:
        pass
    try:
        results.update(vot_longterm_speed(args.repeats))
    except ImportError:
        pass
    results = {k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
