"""Generate the synthetic benchmarks: plan the sequences, render them, write them in real layouts.

Everything is a function of (`study.seed`, the `synth` config): the same inputs give byte-identical
files. Each benchmark is a folder of its own under the root (`layout.synth_dir`), with its own
manifest, so that a study renders only the benchmarks it reads and each can be made in its own job.
A folder appears atomically: it is written under `<folder>.partial` and swapped into place when
complete, so an interrupted run never leaves a half-written benchmark behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm import tqdm

from srtrack.config import to_plain
from srtrack.config.types import DatasetsConfig, SynthConfig, SynthSplit
from srtrack.datasets import READERS, BenchmarkReader
from srtrack import layout
from srtrack.synth.benchmarks import BENCHMARKS, SyntheticBenchmark
from srtrack.synth.events import EventCamera, render_event_frame
from srtrack.synth.layouts import WRITERS, SequenceWriter
from srtrack.synth.scene import SceneRenderer, SceneSpec


FORMAT = "srtrack-synth/2"  # one manifest per benchmark (1: one manifest for every benchmark)
SPLIT_CODES = {"train": 0, "test": 1}


def synthetic_reader(datasets: DatasetsConfig, name: str, out_root: Path) -> BenchmarkReader:
    """The real reader of benchmark `name`, pointed at its synthetic copy under `out_root`."""
    return READERS[name](dataclasses.replace(getattr(datasets, name), root=Path(layout.synth_dir(out_root, name))))


def splits_of(bench: SyntheticBenchmark, cfg: SynthConfig) -> dict[str, SynthSplit]:
    """The RGB data: pre-training (train) and held-out day-light test sequences; the modality
    benchmarks: train and test."""
    return {"train": cfg.pretrain, "test": cfg.rgb_test} if bench.name == "got10k" else {"train": cfg.train, "test": cfg.test}


def split_root(folder: Path, bench: SyntheticBenchmark, split: str) -> Path:
    """Where a split's sequence folders go: the benchmark folder, or its split folder (GOT-10k)."""
    return folder / READERS[bench.name].split_folders.get(split, "")  # type: ignore[call-overload]


def sequence_name(bench: SyntheticBenchmark, split: str, index: int) -> str:
    folder = READERS[bench.name].split_folders.get(split)  # type: ignore[call-overload]
    if folder:  # GOT-10k_Train_000001, GOT-10k_Val_000001
        return f"{bench.prefix}_{folder.capitalize()}_{index + 1:06d}"
    return f"{bench.prefix}_{split}_{index + 1:03d}"


def _pick(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """Exactly round(fraction * n) sequences get an attribute, so small sets keep the proportions."""
    chosen = np.zeros(n, bool)
    chosen[rng.permutation(n)[: int(round(fraction * n))]] = True
    return chosen


def plan_split(cfg: SynthConfig, bench: SyntheticBenchmark, split: str, size: SynthSplit, seed: int) -> list[SceneSpec]:
    """The SceneSpecs of one split, drawn from their own seed stream."""
    rng = np.random.default_rng([seed, bench.code, SPLIT_CODES[split], 1_000_000])
    n = size.sequences
    night = _pick(rng, n, 0.0 if bench.name == "got10k" else cfg.night_fraction)
    distract = _pick(rng, n, cfg.distractor_fraction)
    occlude = _pick(rng, n, cfg.occlusion_fraction)
    full = rng.random(n) < 0.5
    leave = _pick(rng, n, cfg.out_of_view_fraction)
    fast = _pick(rng, n, cfg.fast_motion_fraction)
    static = _pick(rng, n, bench.static_camera_share)
    width, height = cfg.frame_size
    return [
        SceneSpec(n_frames=size.frames, width=width, height=height, night=bool(night[i]),
                  n_distractors=int(rng.integers(1, 3)) if distract[i] else 0,
                  occlusion=("full" if full[i] else "partial") if occlude[i] else "none",
                  out_of_view=bool(leave[i]), fast_motion=bool(fast[i]), static_camera=bool(static[i]))
        for i in range(n)
    ]


def render_sequence(writer: SequenceWriter, spec: SceneSpec, rng: np.random.Generator, cfg: SynthConfig) -> dict:
    """Render one sequence into `writer`; returns its summary for the manifest."""
    renderer = SceneRenderer(spec, rng, thermal=writer.x_name == "thermal", depth=writer.x_name == "depth",
                             thermal_contrast=cfg.thermal_contrast)
    camera = EventCamera(rng, (spec.height, spec.width), threshold=cfg.event_threshold) if writer.x_name == "event" else None
    for index, frame in enumerate(renderer.frames()):
        if camera is not None:
            x = render_event_frame(camera.step(frame.intensity, low_light=spec.night))
        else:
            x = {"thermal": frame.thermal, "depth": frame.depth}.get(writer.x_name or "")
        writer.add(index, frame.rgb, x, frame.box, frame.absent, frame.tags)
    if writer.absent[0]:
        raise AssertionError(f"{writer.name}: the generator produced an absent first frame")
    attributes = renderer.attributes()
    writer.finish(attributes)
    return {"name": writer.name, "frames": spec.n_frames, "absent": int(sum(writer.absent)),
            "attributes": attributes, "spec": asdict(spec)}


def _render_task(task: tuple) -> dict:
    """One sequence (a worker process's unit): its writer, scene and own seed stream come with it."""
    bench_name, split, index, root, spec, seed, cfg = task
    bench = next(b for b in BENCHMARKS if b.name == bench_name)
    rng = np.random.default_rng([seed, bench.code, SPLIT_CODES[split], index])
    return render_sequence(WRITERS[bench_name](root, sequence_name(bench, split, index)), spec, rng, cfg)


def generate(cfg: SynthConfig, seed: int, out_root: Path, only: Iterable[str] | None = None, workers: int = 1) -> dict:
    """Write every synthetic benchmark (or those in `only`) in its folder under `out_root`, each with its
    manifest; returns {"benchmarks": {name: manifest}, "frames": all frames, "seconds": wall time}.

    Every sequence has its own seed stream, so `workers` processes write exactly the files one does,
    and a benchmark's files do not depend on which others are written with it."""
    wanted = set(only) if only else {b.name for b in BENCHMARKS}
    unknown = wanted - {b.name for b in BENCHMARKS}
    if unknown:
        raise ValueError(f"unknown synthetic benchmark(s) {sorted(unknown)}; known: {[b.name for b in BENCHMARKS]}")
    benches = [b for b in BENCHMARKS if b.name in wanted]
    started = time.perf_counter()
    partials = {b.name: _fresh(Path(layout.synth_dir(out_root, b.name) + ".partial")) for b in benches}
    tasks = []
    for bench in benches:
        for split, size in splits_of(bench, cfg).items():
            root = split_root(partials[bench.name], bench, split)
            root.mkdir(parents=True, exist_ok=True)
            tasks += [(bench.name, split, i, root, spec, seed, cfg)
                      for i, spec in enumerate(plan_split(cfg, bench, split, size, seed))]
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(workers)) if workers > 1 else None
        rendered = pool.map(_render_task, tasks, chunksize=4) if pool else map(_render_task, tasks)
        records = list(tqdm(rendered, total=len(tasks), desc="synth", unit="seq", disable=None, file=sys.stderr))
    splits: dict[str, dict[str, list[dict]]] = {b.name: {} for b in benches}
    for (bench_name, split, *_), record in zip(tasks, records):
        splits[bench_name].setdefault(split, []).append(record)
    manifests, settings = {}, to_plain(asdict(cfg))
    for bench in benches:
        folder = partials[bench.name]
        WRITERS[bench.name].write_lists(folder, {s: [r["name"] for r in recs] for s, recs in splits[bench.name].items()})
        manifests[bench.name] = {"format": FORMAT, "seed": seed, "config": settings, "benchmark": bench.name,
                                 "frames": sum(r["frames"] for recs in splits[bench.name].values() for r in recs),
                                 "splits": splits[bench.name]}
        (folder / layout.MANIFEST_FILE).write_text(json.dumps(manifests[bench.name], indent=2) + "\n")
        _swap_into_place(folder, Path(layout.synth_dir(out_root, bench.name)))
    return {"benchmarks": manifests, "frames": sum(m["frames"] for m in manifests.values()),
            "seconds": round(time.perf_counter() - started, 2)}


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _swap_into_place(partial: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
