"""srtrack: a reproducible pipeline for sensitivity-aware regularized tuning of multi-modal trackers.

Implements SRFT from "Optimizing Multi-Modal Trackers via Sensitivity-aware Regularized Tuning"
(arXiv 2508.17488; official code: github.com/zhiwen-xdu/SRTrack).
"""

__version__ = "0.1.0"
