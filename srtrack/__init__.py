"""srtrack: a reproducible pipeline for sensitivity-aware regularized tuning of multi-modal trackers.

Implements SRFT from "Optimizing Multi-Modal Trackers via Sensitivity-aware Regularized Tuning"
(arXiv 2508.17488; official code: github.com/zhiwen-xdu/SRTrack).
"""

import os

__version__ = "0.1.0"

# MLflow 3's telemetry posts to the internet from every process and fails runs where it cannot (as
# on cluster nodes); nothing of srtrack wants it. A user's explicit setting is kept.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
