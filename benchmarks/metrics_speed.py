"""Benchmark: OPE metric evaluation of a LasHeR-sized test set (245 sequences of about 1,000 frames,
synthetic trajectories), ours vs the peer toolkits' functions, in one run.

    .venv/bin/python benchmarks/metrics_speed.py [--repeats 5] [--json out.json]

got10k: rect_iou + center_error + ExperimentOTB._calc_curves per sequence (the toolkit's own loop),
against our `got10k_otb` profile (the same numbers, checked here). rgbt (when installed): PR_LasHeR +
NPR + SR_LasHeR against our `lasher_rgbt` profile. Best of `--repeats` runs each.
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
    results = {k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
