"""The inference tracker end to end: a network that points at the target must give back the GT."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from conftest import DEFAULT_CONFIG
from srtrack.config import load_config
from srtrack.datasets.processing import IMAGENET_MEAN, IMAGENET_STD
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ProblemLog
from srtrack.inference.results import read_confidence_file, read_result_boxes, write_raw_results
from srtrack.inference.tracker import SequenceTracker, clip_box, hann2d
from srtrack.models import create_tracker

CFG = load_config(DEFAULT_CONFIG)


class PointAtTarget(nn.Module):
    """A stand-in network whose maps encode where the bright target is in the search crop."""

    in_chans = 6

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, _, size, _ = search.shape
        grid = size // 16
        rgb = search[:, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]  # (B, S, S), back to [0, 1]
        score, box_size, offset = (torch.full((batch, c, grid, grid), v) for c, v in ((1, 1e-4), (2, 0.0), (2, 0.0)))
        for b in range(batch):
            ys, xs = torch.nonzero(rgb[b] > 0.5, as_tuple=True)
            x1, y1, x2, y2 = xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1
            cx, cy = (x1 + x2) / 2 / 16, (y1 + y2) / 2 / 16  # in cells
            col, row = int(cx), int(cy)
            score[b, 0, row, col] = 0.9
            box_size[b, :, row, col] = torch.tensor([(x2 - x1) / size, (y2 - y1) / size])
            offset[b, :, row, col] = torch.tensor([cx - col, cy - row])
        return {"score_map": score, "size_map": box_size, "offset_map": offset}


def moving_box_sequence(tmp_path: Path, n: int = 12, absent_first: int = 0) -> Sequence:
    """A white box (RGB) and a grey box (X) on black, moving 3 px right and 2 px down per frame."""
    rgb_paths, x_paths, boxes = [], [], []
    for i in range(n):
        box = np.array([40.0 + 3 * i, 30.0 + 2 * i, 24.0, 18.0])
        rgb = np.zeros((160, 220, 3), np.uint8)
        x, y, w, h = box.astype(int)
        rgb[y:y + h, x:x + w] = 255
        for folder, image, paths in (("rgb", rgb, rgb_paths), ("x", rgb // 2, x_paths)):
            path = tmp_path / folder / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
            paths.append(path)
        boxes.append(box)
    absent = np.arange(n) < absent_first
    return Sequence(f"moving{absent_first}", "fixture", "rgbt", {"rgb": tuple(rgb_paths), "thermal": tuple(x_paths)},
                    np.array(boxes), absent)


def test_tracker_reproduces_the_ground_truth_when_the_network_points_at_it(tmp_path: Path) -> None:
    sequences = [moving_box_sequence(tmp_path / "a"), moving_box_sequence(tmp_path / "b", n=9, absent_first=2)]
    tracker = SequenceTracker(PointAtTarget(), CFG.sampler, CFG.encoding, template_size=64, search_size=128)
    first, second = tracker.run(sequences)
    assert len(first.boxes) == 12 and len(second.boxes) == 9
    np.testing.assert_allclose(np.array(first.boxes), sequences[0].boxes, atol=1.0)
    np.testing.assert_allclose(np.array(second.boxes[2:]), sequences[1].boxes[2:], atol=1.0)
    assert second.boxes[0].tolist() == [0, 0, 0, 0] and second.confidences[:3] == [0.0, 0.0, 1.0]
    assert all(0.0 < c <= 0.9 for c in first.confidences[1:]), "confidence = peak of the windowed score map"


def test_raw_results_round_trip(tmp_path: Path) -> None:
    boxes = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.25, 10.0, 12.125])]
    write_raw_results(tmp_path, "seq", boxes, [1.0, 0.5])
    assert (tmp_path / "seq.txt").read_text() == "1.0000,2.0000,3.0000,4.0000\n0.5000,0.2500,10.0000,12.1250\n"
    log = ProblemLog()
    read_boxes = read_result_boxes(tmp_path / "seq.txt", log)
    confidences = read_confidence_file(tmp_path / "seq_confidence.value", 2, log)
    assert not log.items
    np.testing.assert_allclose(read_boxes, np.array(boxes))
    np.testing.assert_allclose(confidences, [1.0, 0.5])


def test_hann_window_and_clip_box() -> None:
    window = hann2d(4)
    assert window.shape == (1, 1, 4, 4) and torch.allclose(window, window.transpose(2, 3))
    assert window[0, 0, 1, 1] == window.max() and window.min() > 0
    assert clip_box(np.array([-5.0, 100.0, 20.0, 30.0]), 64, 48).tolist() == [0.0, 38.0, 15.0, 10.0]


@pytest.mark.parametrize("name", ["ostrack_tiny", "srtrack_tiny"])
def test_real_networks_track_without_errors(tmp_path: Path, name: str) -> None:
    seq = moving_box_sequence(tmp_path, n=4)
    net = create_tracker(name, template_size=64, search_size=128)
    (state,) = SequenceTracker(net, CFG.sampler, CFG.encoding, template_size=64, search_size=128).run([seq])
    boxes = np.array(state.boxes)
    assert boxes.shape == (4, 4) and np.isfinite(boxes).all() and (boxes[:, 2:] >= 10).all()


def test_test_time_precision_is_fp32_unless_bf16_is_asked_for() -> None:
    import torch

    from srtrack.config import load_config
    from srtrack.inference.tracker import uses_bf16

    assert load_config(DEFAULT_CONFIG).evaluate.precision == "fp32"
    assert not uses_bf16("fp32", torch.device("cuda")) and uses_bf16("bf16", torch.device("cuda"))
    assert not uses_bf16("bf16", torch.device("cpu"))
