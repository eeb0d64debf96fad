"""Depth and event/thermal encodings into the 3-channel images trackers consume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DEFAULT_CONFIG
from srtrack.config import load_config
from srtrack.datasets.encodings import encode_depth, load_frame
from srtrack.errors import DatasetFormatError

ENCODING = load_config(DEFAULT_CONFIG).encoding


def test_median3_clips_at_three_times_the_median() -> None:
    depth = np.array([[1000, 1000, 1000, 20000]], np.uint16)  # median of valid pixels 1000 -> clip at 3000
    gray = encode_depth(depth, dataclasses.replace(ENCODING.depth, colormap="gray"))
    assert gray.shape == (1, 4, 3) and gray.dtype == np.uint8
    assert gray[0, :, 0].tolist() == [0, 0, 0, 255], "values above the clip saturate; min-max to 0..255"
    fixed = encode_depth(np.array([[0, 5000, 10000, 20000]], np.uint16),
                         dataclasses.replace(ENCODING.depth, colormap="gray", clip="fixed", max_mm=10000))
    assert fixed[0, :, 0].tolist() == [0, 128, 255, 255]
    unclipped = encode_depth(np.array([[0, 10000, 20000]], np.uint16),
                             dataclasses.replace(ENCODING.depth, colormap="gray", clip="none"))
    assert unclipped[0, :, 0].tolist() == [0, 128, 255]


def test_jet_matches_opencv_colormap() -> None:
    depth = np.arange(0, 4000, 16, dtype=np.uint16).reshape(10, 25)
    jet = encode_depth(depth, ENCODING.depth)
    clipped = np.minimum(depth, np.uint16(min(3 * np.median(depth), 10000)))
    scaled = cv2.normalize(clipped, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    np.testing.assert_array_equal(jet, cv2.applyColorMap(scaled, cv2.COLORMAP_JET))


def test_load_frame_refuses_8_bit_depth_and_decodes_others(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "d8.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"d8.png: depth frame is uint8 with shape \(4, 4\) \(expected a 16-bit"):
        load_frame(tmp_path / "d8.png", "depth", ENCODING)
    cv2.imwrite(str(tmp_path / "t.png"), np.full((4, 4), 7, np.uint8))
    thermal = load_frame(tmp_path / "t.png", "thermal", ENCODING)
    assert thermal.shape == (4, 4, 3) and (thermal == 7).all(), "grey thermal frames become 3 channels"
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(DatasetFormatError, match="bad.jpg: cannot be decoded as an image"):
        load_frame(tmp_path / "bad.jpg", "rgb", ENCODING)
