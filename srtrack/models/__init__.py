"""Tracker networks: one-stream OSTrack and two-stream SRTrack on timm blocks, CENTER head, losses."""

from srtrack.models.trackers import TRACKERS, Tracker, create_tracker

__all__ = ["TRACKERS", "Tracker", "create_tracker"]
