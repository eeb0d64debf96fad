"""The common in-memory model of one benchmark sequence, shared by every reader.

Box convention (the one place it is defined for data): `boxes` is an (N, 4) float64 array of
`x, y, w, h`, where (x, y) is the top-left corner in pixel coordinates of the image array, with
the origin at 0, and values are taken as the benchmark's files store them (GTOT corners are
converted to width/height). Benchmarks never state whether their origin is 0 or 1; the trackers of
the field (OSTrack, ViPT, SRTrack) use the rows as they are, in 0-based array coordinates, and their
raw results share that origin, so converting would break comparisons with published raw results
(the toolkits' pixel conventions: srtrack/metrics/boxes.py). Rows of absent frames keep their raw values
(NaN or zeros): evaluator profiles treat those differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

import numpy as np

Modality = Literal["rgb", "rgbt", "rgbd", "rgbe"]
# the auxiliary modality of each pairing; RGB-only data (pre-training sets such as GOT-10k) has none
X_MODALITY: dict[str, str | None] = {"rgb": None, "rgbt": "thermal", "rgbd": "depth", "rgbe": "event"}


@dataclass(frozen=True, eq=False)
class Sequence:
    """One sequence: frame paths per modality, ground truth, absent flags, attributes and quirks.

    Attributes:
        name: sequence name as in the benchmark's list.
        benchmark: reader name (`lasher`, `depthtrack`, ...).
        modality: `rgbt`, `rgbd`, `rgbe`, or `rgb` for RGB-only pre-training data.
        frames: `{"rgb": paths, <x>: paths}` with `<x>` one of thermal/depth/event (absent for `rgb`).
        boxes: (N, 4) float64 xywh, primary ground truth (see module docstring).
        absent: (N,) bool, True where the benchmark marks the target absent.
        extra_boxes: further ground truths, e.g. RGBT234's and GTOT's thermal GT under "thermal".
        attributes: sequence-level attribute names (e.g. LasHeR's "LI").
        frame_tags: per-frame arrays, e.g. VOT `occlusion.tag` (bool) or `anchor.value` (float).
        quirks: human-readable notes on how this sequence deviates from the plain layout.
    """

    name: str
    benchmark: str
    modality: Modality
    frames: Mapping[str, tuple[Path, ...]]
    boxes: np.ndarray
    absent: np.ndarray
    extra_boxes: Mapping[str, np.ndarray] = field(default_factory=dict)
    attributes: frozenset[str] = frozenset()
    frame_tags: Mapping[str, np.ndarray] = field(default_factory=dict)
    quirks: tuple[str, ...] = ()

    @property
    def x_name(self) -> str | None:
        """Name of the auxiliary modality: thermal, depth, event, or None for RGB-only data."""
        return X_MODALITY[self.modality]

    @property
    def rgb_frames(self) -> tuple[Path, ...]:
        return self.frames["rgb"]

    @property
    def x_frames(self) -> tuple[Path, ...]:
        if self.x_name is None:
            raise ValueError(f"{self.benchmark}/{self.name} is RGB-only: it has no auxiliary frames")
        return self.frames[self.x_name]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])
