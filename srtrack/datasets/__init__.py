"""Benchmark readers (one per benchmark, registered by name), the Sequence model and validation."""

# registration order is the report's column order: RGB, RGB-T, RGB-D, RGB-E
from srtrack.datasets import readers_rgb, readers_rgbt, readers_vot, readers_rgbe  # noqa: F401, I001  (registers the readers)
from srtrack.datasets.base import READERS, BenchmarkReader, benchmark_title, create_reader
from srtrack.datasets.sequence import X_MODALITY, Modality, Sequence

__all__ = ["READERS", "BenchmarkReader", "benchmark_title", "Modality", "Sequence", "X_MODALITY", "create_reader"]
