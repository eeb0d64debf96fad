"""COESOT's BreakOut Capability (BOC) score, as the COESOT toolkit's `plot_BOC.m` computes it.

Each video gets a reward, 1 - the mean success AUC of a fixed set of reference trackers on it (the
toolkit ships the 15 baselines' per-video success curves as `aveSuccessRatePlot_15alg_overlap_OPE.mat`,
`ave_success_rate_plot`: trackers x videos x 21 thresholds, videos in the order of
`sequence_evaluation_config/COESOT_testing_subset.txt`). A tracker's BOC is the mean over videos of
its own per-video success AUC times that reward: videos the references fail on count more.

Our per-video AUC is the `otb_matlab` profile's (the MATLAB toolkit that computes BOC). The rewards
come from `evaluate.boc.reference`: the toolkit's `.mat` (with `evaluate.boc.sequences` naming its
videos in order) or a CSV with `sequence,reward` columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from srtrack.errors import ConfigError, DatasetFormatError

BOC_PROFILE = "otb_matlab"  # the MATLAB toolkit's per-video success AUC
BOC_BENCHMARKS = frozenset({"coesot"})


def rewards_from_curves(curves: np.ndarray, names: list[str]) -> dict[str, float]:
    """`1 - mean over trackers of mean over thresholds` per video, from (trackers, videos, thresholds)."""
    curves = np.asarray(curves, float)
    if curves.ndim != 3 or curves.shape[1] != len(names):
        raise ValueError(f"expected (trackers, {len(names)} videos, thresholds) success curves, got {curves.shape}")
    reward = 1.0 - curves.mean(axis=2).mean(axis=0)
    return dict(zip(names, reward.tolist()))


def load_rewards(reference: Path, sequences: Path | None = None) -> dict[str, float]:
    """Per-video rewards from the toolkit's `.mat` (+ its video list) or a `sequence,reward` CSV."""
    if not reference.is_file():
        raise ConfigError(f"evaluate.boc.reference: {reference} does not exist")
    if reference.suffix.lower() == ".mat":
        from scipy.io import loadmat

        if sequences is None or not sequences.is_file():
            raise ConfigError(f"evaluate.boc.sequences: the video list of {reference.name} (the toolkit's "
                              f"COESOT_testing_subset.txt) is needed to name its videos; got {sequences}")
        names = [line.strip() for line in sequences.read_text().splitlines() if line.strip()]
        try:
            curves = loadmat(str(reference))["ave_success_rate_plot"]
        except (KeyError, ValueError, NotImplementedError) as err:
            raise DatasetFormatError(f"expected the variable ave_success_rate_plot in a MATLAB v5-v7 file: {err}",
                                     reference) from None
        try:
            return rewards_from_curves(curves, names)
        except ValueError as err:
            raise DatasetFormatError(f"{err} ({sequences} lists {len(names)} videos)", reference) from None
    import pandas as pd

    table = pd.read_csv(reference)
    if not {"sequence", "reward"} <= set(table.columns):
        raise DatasetFormatError(f"expected columns sequence,reward; found {list(table.columns)}", reference)
    if table["sequence"].duplicated().any():
        raise DatasetFormatError(f"repeated sequences: {sorted(set(table['sequence'][table['sequence'].duplicated()]))}",
                                 reference)
    return dict(zip(table["sequence"].astype(str), table["reward"].astype(float)))


def boc_score(per_video_auc: Mapping[str, float], rewards: Mapping[str, float]) -> float:
    """Mean over the scored videos of AUC x reward; every scored video needs a reward."""
    missing = sorted(set(per_video_auc) - set(rewards))
    if missing:
        raise ConfigError(f"evaluate.boc.reference has no reward for {len(missing)} scored video(s): "
                          f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return float(np.mean([auc * rewards[name] for name, auc in per_video_auc.items()]))
