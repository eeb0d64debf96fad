"""Benchmark: what driving an srtrack tracker through TraX (`vot evaluate`) costs per frame, against
our own tracking loop in-process, on the same frames and checkpoint.

    .venv/bin/python benchmarks/trax_overhead.py [--frames 300] [--network srtrack_tiny] [--json out.json]

One synthetic VOT-RGBD sequence (textured colour and depth frames), a seeded network written as our
`model.pth`. TraX: `python -m vot evaluate` on the vot2021/rgbd stack runs the tracker from the
trackers.ini entry `python -m srtrack.trax_tracker ini` wrote; the per-frame time is the toolkit's
own record (`<seq>_001_time.value`: from sending a frame to receiving its box, so the protocol, the
image reads and the network). In-process: `SequenceTracker.run` on the same sequence (after one
warm-up run), total time over frames. Both on the CPU, one after the other.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "metrics")]
from test_trax import write_workspace  # noqa: E402 (the tests' VOT workspace)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--network", default="srtrack_tiny")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    from srtrack import trax_tracker
    from srtrack.config import load_config
    from srtrack.datasets import create_reader
    from srtrack.evaluation.runner import NetworkChoice, build_tracker
    from srtrack.models.files import save_tracker
    from srtrack.models.spec import NetworkSpec

    with tempfile.TemporaryDirectory(prefix="trax-overhead-") as tmp:
        work = Path(tmp)
        workspace = work / "workspace"
        (name,) = write_workspace(workspace, np.random.default_rng(0), args.frames)
        (workspace / "config.yaml").write_text("stack: vot2021/rgbd\nregistry:\n- ./trackers.ini\n")
        torch.manual_seed(0)
        spec = NetworkSpec(args.network, template_size=64, search_size=128)
        checkpoint = work / "model.pth"
        checkpoint.write_bytes(save_tracker(spec.build(), spec.to_dict(), "benchmark"))
        overlay = work / "site.yaml"
        overlay.write_text(yaml.safe_dump({"study": {"output_dir": str(work / "results")},
                                           "datasets": {"vot_rgbd22": {"root": str(workspace / "sequences")}}}))
        configs = ["--config", str(REPO / "config" / "config.yaml"), "--config", str(overlay)]
        trax_tracker.main(["ini", *configs, "--checkpoint", str(checkpoint), "--modality", "rgbd",
                           "--workspace", str(workspace), "--name", "srtrack"])
        subprocess.run([sys.executable, "-m", "vot", "evaluate", "--workspace", str(workspace), "srtrack"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MPLBACKEND": "Agg"})
        times = (workspace / "results/srtrack/rgbd-unsupervised" / name / f"{name}_001_time.value").read_text().split()
        trax_ms = 1e3 * float(np.mean([float(t) for t in times[1:]]))

        cfg = load_config([REPO / "config" / "config.yaml", overlay])
        tracker = build_tracker(cfg, NetworkChoice(None, args.network), checkpoint, "cpu")
        sequence = create_reader("vot_rgbd22", cfg.datasets).read(name)
        tracker.run([sequence])  # warm-up
        started = time.perf_counter()
        tracker.run([sequence])
        loop_ms = 1e3 * (time.perf_counter() - started) / (len(sequence) - 1)
    report = {"date": datetime.date.today().isoformat(), "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
              "network": args.network, "frames": args.frames, "trax_ms_per_frame": round(trax_ms, 2),
              "in_process_ms_per_frame": round(loop_ms, 2), "overhead_ms_per_frame": round(trax_ms - loop_ms, 2)}
    print(f"{args.network}, {args.frames} frames: TraX {trax_ms:.1f} ms per frame (the toolkit's timing), in-process "
          f"{loop_ms:.1f} ms: {trax_ms - loop_ms:+.1f} ms per frame")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
