"""The official crop convention equals OSTrack's sample_target, transform_image_to_crop and the tracker's
map_box_back, written here from the official rules; and a tracker with it follows the official test
procedure frame by frame."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from srtrack.datasets.processing import crop, crop_window

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, size=(150, 200, 3), dtype=np.uint8)  # H 150, W 200


def sample_target(im: np.ndarray, target_bb, search_area_factor: float, output_sz: int):
    """OSTrack lib/train/data/processing_utils.py sample_target, rule by rule."""
    x, y, w, h = [float(v) for v in target_bb]
    crop_sz = math.ceil(math.sqrt(w * h) * search_area_factor)
    if crop_sz < 1:
        raise Exception("Too small bounding box.")
    x1 = round(x + 0.5 * w - crop_sz * 0.5)
    x2 = x1 + crop_sz
    y1 = round(y + 0.5 * h - crop_sz * 0.5)
    y2 = y1 + crop_sz
    x1_pad = max(0, -x1)
    x2_pad = max(x2 - im.shape[1] + 1, 0)
    y1_pad = max(0, -y1)
    y2_pad = max(y2 - im.shape[0] + 1, 0)
    im_crop = im[y1 + y1_pad:y2 - y2_pad, x1 + x1_pad:x2 - x2_pad, :]
    im_crop_padded = cv2.copyMakeBorder(im_crop, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT)
    resize_factor = output_sz / crop_sz
    return cv2.resize(im_crop_padded, (output_sz, output_sz)), resize_factor


def transform_image_to_crop(box_in, box_extract, resize_factor: float, crop_sz: float) -> np.ndarray:
    box_in, box_extract = np.asarray(box_in, float), np.asarray(box_extract, float)
    centre = (crop_sz - 1) / 2 + (box_in[:2] + 0.5 * box_in[2:] - (box_extract[:2] + 0.5 * box_extract[2:])) * resize_factor
    wh = box_in[2:] * resize_factor
    return np.concatenate([centre - 0.5 * wh, wh])


def map_box_back(state, pred_box, resize_factor: float, search_size: int) -> list[float]:
    """OSTrack's tracker: pred_box = normalised (cx, cy, w, h) * search_size / resize_factor."""
    cx_prev, cy_prev = state[0] + 0.5 * state[2], state[1] + 0.5 * state[3]
    cx, cy, w, h = pred_box
    half_side = 0.5 * search_size / resize_factor
    return [cx + (cx_prev - half_side) - 0.5 * w, cy + (cy_prev - half_side) - 0.5 * h, w, h]


CASES = {
    "inside": [60.0, 50.0, 30.0, 20.0],
    "non-integer": [61.3, 47.9, 23.7, 31.1],
    "half-integer corner": [60.5, 50.5, 20.0, 20.0],  # Python rounds half to even
    "touches the right edge": [170.0, 60.0, 30.0, 20.0],
    "touches the bottom edge": [80.0, 130.0, 25.0, 20.0],
    "square ends at the image edge": [175.0, 60.0, 10.0, 10.0],
    "partly outside left and top": [-12.0, -8.0, 30.0, 25.0],
    "partly outside right and bottom": [185.4, 140.2, 30.0, 25.0],
    "outside on the right": [230.0, 60.0, 20.0, 20.0],
    "outside below": [60.0, 190.0, 20.0, 20.0],
    "outside on the left": [-90.0, 60.0, 20.0, 20.0],
    "outside above": [60.0, -70.0, 20.0, 20.0],
    "tiny": [100.2, 80.7, 0.6, 0.9],
    "larger than the image": [20.0, 10.0, 160.0, 130.0],
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("factor, output", [(2.0, 128), (4.0, 256), (5.0, 384), (4.0, 128)])
def test_official_crops_equal_sample_target(name: str, factor: float, output: int) -> None:
    box = np.array(CASES[name])
    expected, resize_factor = sample_target(IMAGE, box, factor, output)
    window = crop_window(box, factor, output, "official")
    got = crop(IMAGE, window)
    assert got.shape == expected.shape and np.array_equal(got, expected)
    assert window.scale == pytest.approx(resize_factor, rel=1e-15)


def test_the_last_column_and_row_never_enter_a_crop_that_reaches_them() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, -1] = image[-1, :] = 255
    window = crop_window(np.array([30.0, 30.0, 10.0, 10.0]), 1.0, 10, "official")
    assert window.pixels == (30, 30, 10) and crop(image, window).max() == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_official_box_maps_equal_ostrack(name: str) -> None:
    extract = np.array(CASES[name])
    box = extract + np.array([3.3, -2.1, 1.7, -0.4])
    window = crop_window(extract, 4.0, 256, "official")
    _, resize_factor = sample_target(IMAGE, extract, 4.0, 256)
    assert np.allclose(window.box_to_crop(box), transform_image_to_crop(box, extract, resize_factor, 256), atol=1e-9)
    pred = np.array([0.52, 0.47, 0.11, 0.09])  # a head output, normalised cx, cy, w, h
    cx, cy, w, h = pred * 256 / window.scale
    ours = [window.x0 + cx - w / 2, window.y0 + cy - h / 2, w, h]
    assert np.allclose(ours, map_box_back(extract, list(pred * 256 / resize_factor), resize_factor, 256), atol=1e-9)


def test_continuous_crops_stay_available() -> None:
    window = crop_window(np.array(CASES["non-integer"]), 4.0, 256, "continuous")
    assert window.pixels is None and window.side == pytest.approx(math.sqrt(23.7 * 31.1) * 4)
    with pytest.raises(ValueError, match="unknown crop convention"):
        crop_window(np.array(CASES["inside"]), 4.0, 256, "bilinear")


# -- closed loop: our tracker against the official test procedure ----------------------------------

def write_sequence(folder: Path, n: int = 24):
    """A textured target drifting towards the right border over a noise background."""
    from srtrack.datasets.sequence import Sequence

    rng = np.random.default_rng(1)
    background = rng.integers(0, 120, size=(150, 200, 3), dtype=np.uint8)
    patch = rng.integers(120, 256, size=(24, 30, 3), dtype=np.uint8)
    boxes, paths = [], []
    for i in range(n):
        x, y = 40 + 6.3 * i, 60 + 2.1 * np.sin(i)
        frame = background.copy()
        xi, yi = int(x), int(y)
        visible = frame[yi:yi + 24, xi:xi + 30]
        visible[:] = patch[: visible.shape[0], : visible.shape[1]]
        path = folder / f"{i:08d}.jpg"
        cv2.imwrite(str(path), frame)
        paths.append(path)
        boxes.append([x, y, 30.0, 24.0])
    return Sequence("drift", "got10k", "rgb", {"rgb": tuple(paths)}, np.array(boxes), np.zeros(n, bool))


def official_tracker(net, seq, template_size: int, search_size: int) -> list[list[float]]:
    """OSTrack.initialize / track with the official crop, preprocessing, Hann window and clip."""
    from srtrack.inference.tracker import hann2d
    from srtrack.models.head import decode_boxes

    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def process(patch: np.ndarray) -> torch.Tensor:
        return (torch.tensor(patch).float().permute(2, 0, 1)[None] / 255.0 - mean) / std

    def read(i: int) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(seq.frames["rgb"][i])), cv2.COLOR_BGR2RGB)

    window = hann2d(search_size // 16)
    z_patch, _ = sample_target(read(0), seq.boxes[0], 2.0, template_size)
    z = process(z_patch)
    state = list(seq.boxes[0])
    out = [state]
    for i in range(1, len(seq)):
        image = read(i)
        height, width = image.shape[:2]
        x_patch, resize_factor = sample_target(image, state, 4.0, search_size)
        with torch.no_grad():
            maps = net(z, process(x_patch))
        box = decode_boxes(maps["score_map"], maps["size_map"], maps["offset_map"], window=window)[0]
        pred = (box * search_size / resize_factor).tolist()
        x1, y1, w, h = map_box_back(state, pred, resize_factor, search_size)
        x2, y2 = x1 + w, y1 + h  # clip_box(margin=10)
        x1, x2 = min(max(0, x1), width - 10), min(max(10, x2), width)
        y1, y2 = min(max(0, y1), height - 10), min(max(10, y2), height)
        state = [x1, y1, max(10, x2 - x1), max(10, y2 - y1)]
        out.append(state)
    return out


def test_the_tracker_follows_the_official_procedure(tmp_path: Path) -> None:
    import dataclasses

    from srtrack.config import load_config
    from srtrack.inference.tracker import SequenceTracker
    from srtrack.models.spec import NetworkSpec

    cfg = load_config(Path(__file__).resolve().parents[2] / "config" / "config.yaml")
    seq = write_sequence(tmp_path)
    torch.manual_seed(0)
    net = NetworkSpec("ostrack_tiny", 64, 128, ce_layers=(3, 6, 9), ce_keep_ratio=0.7).build().eval()
    tracker = SequenceTracker(net, dataclasses.replace(cfg.sampler, crop="official"), cfg.encoding,
                              template_size=64, search_size=128)
    ours = np.array(tracker.run([seq])[0].boxes)
    official = np.array(official_tracker(net, seq, 64, 128))
    assert np.abs(ours - official).max() < 1e-4
    continuous = SequenceTracker(net, dataclasses.replace(cfg.sampler, crop="continuous"), cfg.encoding,
                                 template_size=64, search_size=128)
    assert np.abs(np.array(continuous.run([seq])[0].boxes) - official).max() > 0.05
