"""Test-time tracking: the sequence tracker and its raw-result files."""

from srtrack.inference.results import read_raw_results, write_raw_results
from srtrack.inference.tracker import SequenceTracker, TrackState, clip_box, hann2d

__all__ = ["SequenceTracker", "TrackState", "clip_box", "hann2d", "read_raw_results", "write_raw_results"]
