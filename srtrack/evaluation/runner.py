"""Track batches of test sequences with one network per process and write their raw results.

Sequences are split into batches of `evaluate.batch` (tracked in lockstep: one batched forward per
frame; `auto` sizes it from the GPU's memory, see `lockstep_batch`); with `workers > 1` the batches
go to spawned processes that each load the tracker once (worker i on GPU i mod the GPU count when
there are GPUs). Each finished sequence's files are written atomically, so an interrupted
evaluation resumes with the sequences still missing.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from srtrack.config import Config
from srtrack.errors import ConfigError

if TYPE_CHECKING:  # the spec module's package imports torch
    from srtrack.models.spec import NetworkSpec

_WORKER: dict = {}
# evaluate.batch auto without a GPU: on CPU cores 8 sequences in lockstep track 1.5-1.8x the frames/s of one
# (benchmarks/tracker_fps.py), and more only hold more frames in memory
AUTO_CPU_BATCH = 8


@dataclass(frozen=True)
class NetworkChoice:
    """Which network tracks: `name` forces one (the file is mapped into it); else the file's own
    network, or `default` for files that do not describe theirs (srtrack.models.networks)."""

    name: str | None
    default: str


def lockstep_batch(cfg: Config, spec: NetworkSpec, sequences: int, workers: int, gpu_mem_gb: float | None) -> int:
    """The sequences one process tracks in lockstep: `evaluate.batch`, or for `auto` the most whose
    forward pass fits in a GPU of `gpu_mem_gb` (weights plus one block's working set per sequence,
    srtrack.costs, with its headroom), but no more than one batch per process; without a GPU
    (`gpu_mem_gb` None) AUTO_CPU_BATCH."""
    if cfg.evaluate.batch != "auto":
        return cfg.evaluate.batch
    share = max(1, -(-sequences // max(1, workers)))
    if gpu_mem_gb is None:
        return min(AUTO_CPU_BATCH, share)
    from srtrack.costs import MEMORY_HEADROOM, largest_eval_batch, network_cost

    fits = largest_eval_batch(network_cost(spec), gpu_mem_gb * MEMORY_HEADROOM, bf16=cfg.evaluate.precision == "bf16")
    if fits == 0:
        raise ConfigError(f"evaluate.batch auto: {spec.name} does not fit in {gpu_mem_gb:g} GB of GPU memory "
                          f"x {MEMORY_HEADROOM:.0%} even for one sequence")
    return min(fits, share)


def device_memory_gb(cfg: Config) -> float | None:
    """The GPU memory tracking may use: resources.gpu_mem_gb, else the first GPU's; None without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    return cfg.resources.gpu_mem_gb or torch.cuda.get_device_properties(0).total_memory / 1e9


def build_tracker(cfg: Config, network: NetworkChoice, checkpoint: Path, device: str):
    """The SequenceTracker of the chosen network with the checkpoint's weights on `device`."""
    import torch

    from srtrack.inference.tracker import SequenceTracker
    from srtrack.models.networks import announce, network_for

    torch.manual_seed(cfg.study.seed)
    net, spec, report = network_for(cfg.model, checkpoint, name=network.name, default=network.default)
    announce("evaluate", spec, report)
    return SequenceTracker(net, cfg.sampler, cfg.encoding, template_size=spec.template_size,
                           search_size=spec.search_size, device=device, precision=cfg.evaluate.precision)


def track_batch(tracker, sequences, raw: Path) -> int:
    """Track one batch to the end and write every sequence's results; returns the count."""
    from srtrack.inference.results import write_raw_results

    for state in tracker.run(sequences):
        write_raw_results(raw, state.seq.name, state.boxes, state.confidences)
    return len(sequences)


def device_for(worker: int) -> str:
    """The device of tracking process `worker`: a GPU of its own (round robin) where there are GPUs."""
    import torch

    return f"cuda:{worker % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"


def _init_worker(cfg: Config, network: NetworkChoice, checkpoint: Path, counter, threads: int) -> None:
    import torch

    with counter.get_lock():
        worker = counter.value
        counter.value += 1
    torch.set_num_threads(threads)
    _WORKER["tracker"] = build_tracker(cfg, network, checkpoint, device_for(worker))


def _work(job: tuple[list, Path]) -> int:
    sequences, raw = job
    return track_batch(_WORKER["tracker"], sequences, raw)


def run_batches(cfg: Config, network: NetworkChoice, checkpoint: Path, sequences: list, raw: Path, workers: int,
                batch_size: int, on_done: Callable[[int], object] = lambda n: None) -> None:
    """Track every sequence in lockstep batches of `batch_size` (see the module docstring); `on_done(n)`
    after each batch."""
    batches = [sequences[i:i + batch_size] for i in range(0, len(sequences), batch_size)]
    if workers <= 1 or len(batches) == 1:
        tracker = build_tracker(cfg, network, checkpoint, device_for(0))
        for batch in batches:
            on_done(track_batch(tracker, batch, raw))
        return
    import os

    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with context.Pool(min(workers, len(batches)), initializer=_init_worker,
                      initargs=(cfg, network, checkpoint, counter, threads)) as pool:
        for done in pool.imap_unordered(_work, [(batch, raw) for batch in batches]):
            on_done(done)
