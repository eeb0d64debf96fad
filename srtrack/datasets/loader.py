"""The torch Dataset of training pairs and its DataLoader.

Sample `i` of epoch `e` is drawn from `np.random.default_rng([seed, e, i])`, so a batch does not
depend on the number of DataLoader workers, on which worker produced it, or on where a run was
resumed: reproducible runs and exact resume need no sampler state beyond (seed, epoch, index).
Decoded frames are kept in an LRU cache bounded by `sampler.cache_mb` per training process: its
DataLoader workers each hold an equal share, so more workers do not mean more memory.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from srtrack.config.types import EncodingConfig, SamplerConfig
from srtrack.datasets.encodings import frame_images, load_frame
from srtrack.datasets.processing import (
    FEATURE_STRIDE,
    crop,
    crop_window,
    flip_box,
    jitter_box,
    score_map,
    to_gray3,
    to_tensor_layout,
)
from srtrack.datasets.sampling import PairIndex, PairSampler
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ConfigError


class FrameCache:
    """Decoded frames by (path, modality), least recently used dropped first, bounded in bytes."""

    def __init__(self, encoding: EncodingConfig, max_bytes: int):
        self.encoding, self.max_bytes = encoding, max_bytes
        self.items: OrderedDict[tuple[Path, str], np.ndarray] = OrderedDict()
        self.bytes = 0

    def get(self, path: Path, modality: str) -> np.ndarray:
        key = (path, modality)
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        image = load_frame(path, modality, self.encoding)
        if image.nbytes <= self.max_bytes:
            self.items[key] = image
            self.bytes += image.nbytes
            self.resize(self.max_bytes)
        return image

    def resize(self, max_bytes: int) -> None:
        """A new bound; the least recently used frames go until the cache is within it."""
        self.max_bytes = max_bytes
        while self.bytes > self.max_bytes:
            _, dropped = self.items.popitem(last=False)
            self.bytes -= dropped.nbytes

    def __getstate__(self) -> dict[str, Any]:
        # a worker is sent the dataset, not the frames decoded so far in the main process
        return {**self.__dict__, "items": OrderedDict(), "bytes": 0}


class PairDataset(Dataset):
    """Template/search pairs from one or several benchmarks, processed for the tracker.

    Every item is a dict: `template` (C, Tz, Tz) and `search` (C, Sx, Sx) float32 with C = 3 for
    RGB-only data and 6 for RGB + X, `template_box` / `search_box` as normalised x, y, w, h in
    the crops, `score_map` (Sx / 16, Sx / 16), and `index` (dataset, sequence, template, search).
    """

    def __init__(self, datasets: list[list[Sequence]], ratios: list[float], cfg: SamplerConfig, *,
                 template_size: int, search_size: int, encoding: EncodingConfig, seed: int, samples_per_epoch: int,
                 names: list[str] | None = None):
        kinds = {seq.x_name is None for seqs in datasets for seq in seqs}
        if len(kinds) > 1:
            raise ConfigError("cannot mix RGB-only and RGB+X datasets in one loader (their inputs have 3 and 6 channels)")
        self.sampler = PairSampler(datasets, ratios, cfg.max_gap, names)
        self.datasets, self.cfg = datasets, cfg
        self.template_size, self.search_size = template_size, search_size
        self.seed, self.samples_per_epoch, self.epoch = seed, samples_per_epoch, 0
        self.cache = FrameCache(encoding, cfg.cache_mb * 2**20)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples __getitem__ returns (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        """Sample `item` of the current epoch, or of `epoch` for an (epoch, sample) pair."""
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        rng = np.random.default_rng([self.seed, epoch, index])
        pair = self.sampler.draw(rng)
        return self.process(pair, rng)

    def process(self, pair: PairIndex, rng: np.random.Generator) -> dict[str, Any]:
        """Crop, augment and normalise one pair (see srtrack/datasets/processing.py)."""
        seq = self.datasets[pair.dataset][pair.sequence]
        cfg = self.cfg
        t_box, s_box = seq.boxes[pair.template], seq.boxes[pair.search]
        t_window = crop_window(t_box, cfg.template_factor, self.template_size, cfg.crop)
        s_window = crop_window(jitter_box(s_box, rng, cfg.center_jitter, cfg.scale_jitter), cfg.search_factor,
                               self.search_size, cfg.crop)
        template = [crop(image, t_window) for image in frame_images(seq, pair.template, self.cache.get)]
        search = [crop(image, s_window) for image in frame_images(seq, pair.search, self.cache.get)]
        t_crop_box, s_crop_box = t_window.box_to_crop(t_box), s_window.box_to_crop(s_box)
        if rng.random() < cfg.flip_prob:
            template = [np.ascontiguousarray(im[:, ::-1]) for im in template]
            search = [np.ascontiguousarray(im[:, ::-1]) for im in search]
            t_crop_box, s_crop_box = flip_box(t_crop_box, self.template_size), flip_box(s_crop_box, self.search_size)
        if rng.random() < cfg.gray_prob:  # RGB channels only: X keeps its colours
            template[0], search[0] = to_gray3(template[0]), to_gray3(search[0])
        low, high = max(0.0, 1 - cfg.brightness_jitter), 1 + cfg.brightness_jitter
        search_norm = (s_crop_box / self.search_size).astype(np.float32)
        return {
            "template": torch.from_numpy(to_tensor_layout(template, float(rng.uniform(low, high)))),
            "search": torch.from_numpy(to_tensor_layout(search, float(rng.uniform(low, high)))),
            "template_box": torch.from_numpy((t_crop_box / self.template_size).astype(np.float32)),
            "search_box": torch.from_numpy(search_norm),
            "score_map": torch.from_numpy(score_map(search_norm, self.search_size // FEATURE_STRIDE)),
            "index": torch.tensor([pair.dataset, pair.sequence, pair.template, pair.search]),
        }


def worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # workers share the cores with the training process
    info = torch.utils.data.get_worker_info()
    share_cache(info.dataset, info.num_workers)


def share_cache(dataset: PairDataset, workers: int) -> None:
    """Give one of `workers` workers its share of the process's frame cache."""
    dataset.cache.resize(dataset.cache.max_bytes // max(1, workers))


def make_loader(dataset: PairDataset, batch_size: int, workers: int) -> DataLoader:
    """A DataLoader over one epoch in index order (randomness lives in the per-sample seeds).

    Workers are spawned, not forked: a forked child inherits OpenCV's and OpenMP's thread pools in
    an undefined state and can deadlock in its first warpAffine (seen with 2 workers here).
    """
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, drop_last=True,
                      worker_init_fn=worker_init if workers else None, persistent_workers=False,
                      multiprocessing_context="spawn" if workers else None)
