"""Which frames make a training pair: dataset by ratio, sequence uniformly, template then search.

Follows pytracking's `TrackingSampler` in 'causal' mode with one template and one search frame:
the template is a visible frame, the search frame a later visible frame at most `max_gap` frames
after it. Absent frames and frames with a box without area are never sampled; sequences with fewer
than two usable frames are left out (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srtrack.datasets.sequence import Sequence
from srtrack.errors import ConfigError

MAX_TRIES = 100


@dataclass(frozen=True)
class PairIndex:
    """A sampled pair: dataset, sequence and the two frame indices."""

    dataset: int
    sequence: int
    template: int
    search: int


def usable_frames(seq: Sequence) -> np.ndarray:
    """Indices of frames with a visible target and a finite box with area."""
    boxes = seq.boxes
    with np.errstate(invalid="ignore"):
        ok = ~seq.absent & np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    return np.flatnonzero(ok)


class PairSampler:
    """Draws PairIndex values from several datasets mixed by ratio."""

    def __init__(self, datasets: list[list[Sequence]], ratios: list[float], max_gap: int, names: list[str] | None = None):
        if len(datasets) != len(ratios) or not datasets:
            raise ConfigError(f"need one ratio per dataset, got {len(datasets)} datasets and {len(ratios)} ratios")
        if any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ConfigError(f"dataset ratios must be >= 0 with a positive sum, got {ratios}")
        names = names or [f"dataset {i}" for i in range(len(datasets))]
        self.max_gap = max_gap
        self.datasets = datasets
        self.usable = [[usable_frames(seq) for seq in seqs] for seqs in datasets]
        self.candidates = [[i for i, u in enumerate(us) if len(u) >= 2] for us in self.usable]
        for name, candidates, ratio in zip(names, self.candidates, ratios):
            if ratio > 0 and not candidates:
                raise ConfigError(f"{name}: no sequence has two frames with a visible target to sample from")
        self.skipped = sum(len(seqs) - len(c) for seqs, c in zip(datasets, self.candidates))
        self.probabilities = np.asarray(ratios, np.float64) / float(np.sum(ratios))

    def draw(self, rng: np.random.Generator) -> PairIndex:
        """One pair; retries sequences whose template has no search frame within the gap."""
        for _ in range(MAX_TRIES):
            d = int(rng.choice(len(self.datasets), p=self.probabilities))
            s = self.candidates[d][int(rng.integers(len(self.candidates[d])))]
            frames = self.usable[d][s]
            template = int(frames[int(rng.integers(len(frames) - 1))])
            later = frames[(frames > template) & (frames <= template + self.max_gap)]
            if len(later):
                return PairIndex(d, s, template, int(later[int(rng.integers(len(later)))]))
        raise RuntimeError(f"no template/search pair within max_gap={self.max_gap} after {MAX_TRIES} tries")
