"""Paired bootstrap intervals: how far a tracker is from a reference tracker, and whether that is noise.

Both trackers are scored on the same sequences, so the difference is taken per sequence (each
tracker's per-sequence score averaged over its seeds) and the sequences are resampled in pairs:
the interval is the percentile bootstrap interval of the mean per-sequence difference. It speaks of
the per-sequence mean of a measure, which for most profiles is the headline number itself (OPE
success AUC, precision); a measure with no per-sequence value (VOT long-term F) gets no interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0  # the resampling is seeded: the same runs give the same intervals


@dataclass(frozen=True)
class Interval:
    """Mean per-sequence difference (tracker - reference) in percent points, its bootstrap interval,
    and the number of paired sequences."""

    diff: float
    low: float
    high: float
    sequences: int

    @property
    def mark(self) -> str:
        """▲ above the reference, ▼ below it (the interval excludes 0), ≈ inside the noise."""
        return "▲" if self.low > 0 else "▼" if self.high < 0 else "≈"

    def text(self) -> str:
        return f"{self.diff:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def paired_bootstrap(scores: pd.Series, reference: pd.Series, *, resamples: int = RESAMPLES, level: float = LEVEL,
                     seed: int = SEED) -> Interval | None:
    """The interval of mean(scores - reference) over the sequences both have (values in [0, 1],
    reported in percent points); None when they share no sequence."""
    paired = pd.concat([scores, reference], axis=1, join="inner").dropna()
    if paired.empty:
        return None
    diff = (paired.iloc[:, 0] - paired.iloc[:, 1]).to_numpy(dtype=float) * 100
    picks = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[picks].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(diff.mean()), float(low), float(high), len(diff))


def seed_mean(tables: list[pd.DataFrame], metric: str, profile: str) -> pd.Series | None:
    """Per-sequence values of `profile`/`metric`, averaged over the seeds' per-sequence tables."""
    columns = []
    for table in tables:
        rows = table[table["profile"] == profile]
        if metric not in rows or rows.empty:
            return None
        columns.append(rows.set_index("sequence")[metric].astype(float))
    return pd.concat(columns, axis=1).mean(axis=1) if columns else None
