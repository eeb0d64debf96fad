"""Benchmark: tracking speed (frames per second) of the inference tracker, decode and crops included.

    .venv/bin/python benchmarks/tracker_fps.py [--threads 2] [--device cpu] [--json out.json]

Random-weight networks (speed does not depend on the weights) track synthetic sequences written to a
temporary folder: tiny variants at 64/128 and ViT-B variants at 128/256, one sequence at a time and
eight in lockstep (batched forward passes). All rows come from one run, side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from srtrack.config import load_config
from srtrack.datasets.sequence import Sequence
from srtrack.inference.tracker import SequenceTracker
from srtrack.models import create_tracker

REPO = Path(__file__).resolve().parent.parent
CASES = [("ostrack_tiny", 64, 128, 40), ("srtrack_tiny", 64, 128, 40), ("ostrack_base", 128, 256, 6),
         ("srtrack_base", 128, 256, 4)]


def write_sequence(root: Path, n: int) -> Sequence:
    rgb, aux, boxes = [], [], []
    for i in range(n):
        image = np.random.default_rng(i).integers(0, 255, size=(192, 256, 3), dtype=np.uint8)
        for folder, paths in (("rgb", rgb), ("x", aux)):
            path = root / folder / f"{i:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
            paths.append(path)
        boxes.append([100 + i, 80, 30, 24])
    return Sequence(root.name, "bench", "rgbt", {"rgb": tuple(rgb), "thermal": tuple(aux)}, np.array(boxes, float),
                    np.zeros(n, bool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(REPO / "config/config.yaml")
    results = {"device": args.device, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        for name, template, search, frames in CASES:
            net = create_tracker(name, template_size=template, search_size=search)
            tracker = SequenceTracker(net, cfg.sampler, cfg.encoding, template_size=template, search_size=search,
                                      device=args.device)
            for batch in (1, 8) if "tiny" in name or args.device != "cpu" else (1,):
                sequences = [write_sequence(Path(tmp) / f"{name}-{batch}-{i}", frames + 1) for i in range(batch)]
                tracker.run([s for s in sequences[:1]])  # warm-up
                started = time.perf_counter()
                tracker.run(sequences)
                rate = batch * frames / (time.perf_counter() - started)
                results[f"{name}_{template}_{search}_batch{batch}_fps"] = round(rate, 1)
                print(f"{name:14s} {template}/{search} batch {batch}: {rate:7.1f} frames/s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
