"""Benchmark: synthetic-data generation rate and training pairs per second on one core.

    .venv/bin/python benchmarks/sampler_throughput.py [--pairs 400] [--frame-sizes 256x192 640x480 1280x720]
        [--gpu-type a100-80gb] [--json out.json]

Generates the smoke-size synthetic benchmarks in a temporary folder at each frame size (256 x 192 is
the embedded default; LasHeR stores 640 x 480, VisEvent 346 x 260 to 1280 x 720), then times the
PairDataset (decode, crop, jitter, augmentation, normalisation, score map) in one process with one
OpenCV/torch thread -- what one DataLoader worker does -- for the tiny default (64/128) and the
paper's sizes (128/256, 192/384), with a cold frame cache (every frame decoded from disk, as on a
real benchmark far larger than the cache) and a warm one. All rates are measured side by side in
one run. Beside them: the training samples/s one GPU of `--gpu-type` would consume for srtrack_base
at each size (srtrack.plan's FLOP-based default, bf16, not a measurement), and the DataLoader workers
per GPU that keep up with it at the cold rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
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


CROPS = ((64, 128), (128, 256), (192, 384))


def pair_rate(datasets: list, cfg, template: int, search: int, pairs: int, cache: str) -> float:
    """Training pairs per second of one process, with every frame decoded (cold) or cached (warm)."""
    data = PairDataset(datasets, [1] * len(datasets), cfg.sampler, template_size=template, search_size=search,
                       encoding=cfg.encoding, seed=0, samples_per_epoch=pairs)
    if cache == "warm":
        for i in range(pairs):
            data[i]
    else:
        data.cache.max_bytes = 0
    started = time.perf_counter()
    for i in range(pairs):
        data[i]
    return pairs / (time.perf_counter() - started)


def gpu_samples_per_s(cfg, gpu_type: str, template: int, search: int) -> float:
    """What one GPU trains of srtrack_base per second by srtrack.plan's FLOP-based default (bf16)."""
    from srtrack.costs import network_cost
    from srtrack.models.spec import spec_from_config
    from srtrack.plan import DEFAULT_UTILIZATION, GPU_PEAK_TFLOPS

    model = dataclasses.replace(cfg.model, template_size=template, search_size=search)
    flops = network_cost(spec_from_config(model, "srtrack_base")).train_flops(False)
    return GPU_PEAK_TFLOPS[gpu_type]["bf16"] * 1e12 * DEFAULT_UTILIZATION / flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--frame-sizes", nargs="+", default=["256x192", "640x480", "1280x720"])
    parser.add_argument("--gpu-type", default="a100-80gb", help="the GPU whose consumption the worker count is for")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    base = load_config([REPO / "config/config.yaml", REPO / "config/smoke.yaml"])
    results: dict = {}
    for size in args.frame_sizes:
        width, height = (int(v) for v in size.split("x"))
        cfg = dataclasses.replace(base, synth=dataclasses.replace(base.synth, frame_size=(width, height)))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "synthetic"
            started = time.perf_counter()
            manifest = generate(cfg.synth, 0, out)
            results[f"synth_frames_per_s_{size}"] = round(manifest["frames"] / (time.perf_counter() - started), 1)
            datasets = []
            for bench in BENCHMARKS[1:]:
                reader = synthetic_reader(cfg.datasets, bench.name, out)
                datasets.append([reader.read(n) for n in reader.sequence_names("train", ProblemLog())[0]])
            for template, search in CROPS:
                for cache in ("cold", "warm"):
                    results[f"pairs_per_s_{size}_{template}_{search}_{cache}"] = round(
                        pair_rate(datasets, cfg, template, search, args.pairs, cache), 1)
    for template, search in CROPS[1:]:
        gpu = gpu_samples_per_s(base, args.gpu_type, template, search)
        results[f"gpu_{args.gpu_type}_samples_per_s_{template}_{search}"] = round(gpu, 1)
        for size in args.frame_sizes:
            cold = results[f"pairs_per_s_{size}_{template}_{search}_cold"]
            results[f"workers_per_gpu_{size}_{template}_{search}"] = math.ceil(gpu / cold)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
