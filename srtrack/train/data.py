"""Training data of one run: the prepared splits, each rank's share of every global batch, and the
fixed probe pairs scored before and after training.

Global step s of epoch e uses samples [s B, (s + 1) B) of that epoch (B = global batch); rank r of
W takes the r-th contiguous slice of B / W, split into micro-batches of at most `micro_batch`. As
sample i of epoch e depends only on (seed, e, i), the samples of a step are the same for any number
of ranks, and with the same micro-batch size the gradients are too (BatchNorm statistics are per
micro-batch), which is what makes 1 rank and 2 ranks give the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from srtrack.config import Config
from srtrack.config.types import TrainConfig
from srtrack.datasets.index import load_index, load_sequences
from srtrack.datasets.loader import PairDataset, worker_init
from srtrack.errors import ConfigError
from srtrack.study import JOINT, MODALITIES

TENSOR_KEYS = ("template", "search", "search_box", "score_map")


def per_rank_batch(cfg: TrainConfig, world_size: int) -> int:
    """B / W, or a ConfigError naming the numbers when it does not divide."""
    if cfg.global_batch % world_size:
        raise ConfigError(f"global batch {cfg.global_batch} does not split evenly over {world_size} ranks")
    return cfg.global_batch // world_size


def steps_per_epoch(cfg: TrainConfig) -> int:
    steps = cfg.samples_per_epoch // cfg.global_batch
    if steps == 0:
        raise ConfigError(f"samples_per_epoch {cfg.samples_per_epoch} is smaller than global_batch {cfg.global_batch}")
    return steps


class RankBatchSampler(Sampler[list[tuple[int, int]]]):
    """This rank's (epoch, sample) indices for each global step in [first_step, last_step).

    Steps are counted over the whole run (step s is step s mod S of epoch s // S), so one sampler
    can span several epochs and a DataLoader over it keeps its workers from epoch to epoch.
    `last_step` defaults to the end of `first_step`'s epoch.
    """

    def __init__(self, cfg: TrainConfig, rank: int, world_size: int, first_step: int = 0, last_step: int | None = None):
        self.global_batch, self.local = cfg.global_batch, per_rank_batch(cfg, world_size)
        self.rank, self.steps = rank, steps_per_epoch(cfg)
        self.first_step = first_step
        self.last_step = (first_step // self.steps + 1) * self.steps if last_step is None else last_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.first_step, self.last_step):
            epoch, within = divmod(step, self.steps)
            start = within * self.global_batch + self.rank * self.local
            yield [(epoch, i) for i in range(start, start + self.local)]

    def __len__(self) -> int:
        return max(0, self.last_step - self.first_step)


def open_datasets(cfg: Config, folders: list[Path], schedule: TrainConfig, section: str,
                  modality: str) -> tuple[PairDataset, list[dict]]:
    """One PairDataset over the prepared splits in `folders` (mixed 1:1), and their indexes, cut to
    the schedule's first `sequences` of each (`section` names the schedule in errors). The splits
    hold `modality`, or for the joint setting any RGB-X modalities (each sequence keeps its own X)."""
    indexes = [limit_index(load_index(folder), folder, schedule.sequences, section) for folder in folders]
    joint = modality == JOINT
    modalities = {index["modality"] for index in indexes}
    if len(modalities) > 1 and not (joint and "rgb" not in modalities):
        raise ConfigError(f"the --data folders hold different modalities ({sorted(modalities)}): "
                          + ", ".join(str(f) for f in folders))
    for folder, index in zip(folders, indexes):
        found = index["modality"]
        if found != modality and not (joint and found in MODALITIES):
            raise ConfigError(f"--modality {modality}, but {folder} holds {found} data ({index['benchmark']})")
    sequences = [load_sequences(folder, cfg.datasets, first=len(index["sequences"])) for folder, index in zip(folders, indexes)]
    samples_per_epoch = schedule.samples_per_epoch
    dataset = PairDataset(sequences, [1.0] * len(folders), cfg.sampler, template_size=cfg.model.template_size,
                          search_size=cfg.model.search_size, encoding=cfg.encoding, seed=cfg.study.seed,
                          samples_per_epoch=samples_per_epoch, names=[index["benchmark"] for index in indexes])
    return dataset, indexes


def limit_index(index: dict, folder: Path, sequences: int | None, section: str) -> dict:
    """The index with only its first `sequences` sequences (all when None)."""
    if sequences is None:
        return index
    available = len(index["sequences"])
    if sequences > available:
        raise ConfigError(f"{section}.sequences is {sequences}, but {folder} ({index['benchmark']} {index.get('split', '')}) "
                          f"holds {available} sequences")
    return {**index, "sequences": index["sequences"][:sequences]}


def step_loaders(dataset: PairDataset, cfg: TrainConfig, rank: int, world_size: int, first_step: int,
                 total_steps: int, workers: int, persistent: bool, pin_memory: bool = False) -> Iterator[DataLoader]:
    """DataLoaders over this rank's batches from global step `first_step` to the end of the run.

    `persistent`: one loader for all the remaining steps, so its workers (and their frame caches)
    live for the whole run; otherwise one loader per epoch, whose workers are spawned again each
    epoch as the released trainers do. Both yield the same batches (items depend only on
    (seed, epoch, index)). Workers are spawned, see datasets/loader.py; `pin_memory` (CUDA): batches
    in page-locked memory.
    """
    steps = steps_per_epoch(cfg)
    bounds = [(first_step, total_steps)] if persistent else \
        [(max(first_step, e * steps), (e + 1) * steps) for e in range(first_step // steps, -(-total_steps // steps))]
    for start, stop in bounds:
        # its own generator: a DataLoader draws a base seed when it starts, which must not move the global RNG
        yield DataLoader(dataset, batch_sampler=RankBatchSampler(cfg, rank, world_size, start, stop),
                         generator=torch.Generator().manual_seed(start), num_workers=workers,
                         worker_init_fn=worker_init if workers else None,
                         multiprocessing_context="spawn" if workers else None, pin_memory=pin_memory)


def probe_batch(dataset: PairDataset, count: int) -> dict[str, torch.Tensor] | None:
    """`count` fixed training pairs (an epoch index no training epoch uses), or None for 0."""
    if count == 0:
        return None
    items = [dataset[(2**31 - 1, i)] for i in range(count)]
    return {k: torch.stack([item[k] for item in items]) for k in TENSOR_KEYS}


def micro_batches(batch: dict[str, torch.Tensor], size: int | None) -> list[dict[str, torch.Tensor]]:
    """Split a rank's batch into consecutive micro-batches of at most `size` (None: one)."""
    n = batch["search"].shape[0]
    size = n if size is None else size
    return [{k: v[i:i + size] for k, v in batch.items()} for i in range(0, n, size)]
