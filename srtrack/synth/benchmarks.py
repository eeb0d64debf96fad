"""The synthetic benchmarks srtrack.synth can write: names, seed codes and scene settings.

Dependency-free, so that the DAG (srtrack.workflow) can name them without importing the renderer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyntheticBenchmark:
    """One synthetic dataset: its layout and auxiliary modality (those of its reader), and name prefix."""

    name: str  # the reader that reads it, and its folder below synth.root
    code: int  # stable id in the seed sequence
    prefix: str  # GOT-10k: followed by the split folder's name
    static_camera_share: float  # event sets keep the camera still so that background edges stay quiet


BENCHMARKS = (
    SyntheticBenchmark("got10k", 0, "GOT-10k", 0.5),
    SyntheticBenchmark("lasher", 1, "rgbt", 0.5),
    SyntheticBenchmark("depthtrack", 2, "rgbd", 0.5),
    SyntheticBenchmark("visevent", 3, "rgbe", 1.0),
)
