"""Benchmark readers (one per benchmark, registered by name), the Sequence model and validation."""

from srtrack.datasets import readers_rgb, readers_rgbe, readers_rgbt, readers_vot  # noqa: F401  (registers the readers)
from srtrack.datasets.base import READERS, BenchmarkReader, create_reader
from srtrack.datasets.sequence import X_MODALITY, Modality, Sequence

__all__ = ["READERS", "BenchmarkReader", "Modality", "Sequence", "X_MODALITY", "create_reader"]
