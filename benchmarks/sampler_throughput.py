"""Benchmark: synthetic-data generation rate and training pairs per second on one core.

    .venv/bin/python benchmarks/sampler_throughput.py [--pairs 400] [--json out.json]

Generates the smoke-size synthetic benchmarks in a temporary folder, then times the PairDataset
(crop, jitter, augmentation, normalisation, score map) in one process with one OpenCV/torch
thread, for the tiny default (64/128) and the paper's sizes (128/256), with a cold frame cache
(every frame decoded from disk) and a warm one. All rates are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import torch

from srtrack.config import load_config
from srtrack.datasets.loader import PairDataset
from srtrack.errors import ProblemLog
from srtrack.synth.generate import BENCHMARKS, generate, synthetic_reader

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    cfg = load_config([REPO / "config/config.yaml", REPO / "config/smoke.yaml"])
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "synthetic"
        started = time.perf_counter()
        manifest = generate(cfg.synth, 0, out)
        results["synth_frames_per_s"] = round(manifest["frames"] / (time.perf_counter() - started), 1)
        datasets = []
        for bench in BENCHMARKS[1:]:
            reader = synthetic_reader(cfg.datasets, bench.name, out)
            datasets.append([reader.read(n) for n in reader.sequence_names("train", ProblemLog())[0]])
        for template, search in ((64, 128), (128, 256)):
            for cache in ("cold", "warm"):
                data = PairDataset(datasets, [1, 1, 1], cfg.sampler, template_size=template, search_size=search,
                                   encoding=cfg.encoding, seed=0, samples_per_epoch=args.pairs)
                if cache == "warm":
                    for i in range(args.pairs):
                        data[i]
                else:
                    data.cache.max_bytes = 0
                started = time.perf_counter()
                for i in range(args.pairs):
                    data[i]
                rate = args.pairs / (time.perf_counter() - started)
                results[f"pairs_per_s_{template}_{search}_{cache}"] = round(rate, 1)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
