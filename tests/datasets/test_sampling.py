"""Training pairs: crops put the target where the box says, jitter stays bounded, absent frames are
never sampled, modalities stay aligned, and every item is reproducible from (seed, epoch, index)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import DEFAULT_CONFIG, REPO
from srtrack.config import load_config
from srtrack.datasets.index import load_sequences
from srtrack.datasets.loader import PairDataset, make_loader, share_cache
from srtrack.datasets.processing import IMAGENET_MEAN, IMAGENET_STD, gaussian_radius, jitter_box, score_map
from srtrack.datasets.sampling import PairSampler
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ConfigError
from srtrack.train.data import step_loaders

CFG = load_config(DEFAULT_CONFIG)
PLAIN = dataclasses.replace(CFG.sampler, flip_prob=0.0, gray_prob=0.0, brightness_jitter=0.0)
BOX = np.array([37.0, 41.0, 30.0, 20.0])


def white_box_sequence(tmp_path: Path, n: int = 6, absent: tuple[int, ...] = (), modality: str = "rgbt",
                       textured_twin: bool = False) -> Sequence:
    """Frames that are black except the target box: white in RGB, grey in X, moving 2 px a frame.

    With `textured_twin`, RGB and X are the same random-noise image, so aligned crops are equal.
    """
    boxes, rgb_paths, x_paths = [], [], []
    for i in range(n):
        box = BOX + [2 * i, 0, 0, 0]
        rgb = np.zeros((150, 200, 3), np.uint8)
        x, y, w, h = box.astype(int)
        rgb[y:y + h, x:x + w] = 255
        thermal = (rgb // 2).astype(np.uint8)
        if textured_twin:
            rgb = np.random.default_rng(i).integers(0, 256, size=(150, 200, 3), dtype=np.uint8)
            thermal = rgb
        for folder, image, paths in (("rgb", rgb, rgb_paths), ("x", thermal, x_paths)):
            path = tmp_path / folder / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
            paths.append(path)
        boxes.append(np.zeros(4) if i in absent else box)
    frames = {"rgb": tuple(rgb_paths)} if modality == "rgb" else {"rgb": tuple(rgb_paths), "thermal": tuple(x_paths)}
    absent_flags = np.array([i in absent for i in range(n)])
    return Sequence("white", "fixture", modality, frames, np.array(boxes), absent_flags)  # type: ignore[arg-type]


def dataset(sequences: list[Sequence], sampler=PLAIN, **kwargs) -> PairDataset:
    options = dict(template_size=64, search_size=128, encoding=CFG.encoding, seed=0, samples_per_epoch=32)
    options.update(kwargs)
    return PairDataset([sequences], [1.0], sampler, **options)


def mask_corners(channel: torch.Tensor, mean: float, std: float) -> np.ndarray:
    """Edges (x1, y1, x2, y2) in crop pixels of the bright region of a normalised channel."""
    values = channel.numpy() * std + mean
    ys, xs = np.nonzero(values > 0.5)  # pixels at least half covered by the white box
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize("flip", [0.0, 1.0])
@pytest.mark.parametrize("convention", ["continuous", "official"])
def test_crops_put_the_target_where_the_box_says(tmp_path: Path, flip: float, convention: str) -> None:
    data = dataset([white_box_sequence(tmp_path)], dataclasses.replace(PLAIN, flip_prob=flip, crop=convention))
    # continuous: exact up to the mask's edge pixels; official: OSTrack's box map is 0.5 px off and its
    # corner rounding moves the crop by up to half an image pixel (x crop scale, about 1.3 here)
    atol = 1.0 if convention == "continuous" else 1.0 + 0.5 + 0.5 * 1.31
    for item in range(20):
        sample = data[item]
        for key, size in (("template", 64), ("search", 128)):
            x, y, w, h = sample[f"{key}_box"].numpy() * size
            expected = np.clip([x, y, x + w, y + h], 0, size)  # the part of the box inside the crop
            found = mask_corners(sample[key][0], IMAGENET_MEAN[0], IMAGENET_STD[0])
            np.testing.assert_allclose(found, expected, atol=atol, err_msg=f"{key} of item {item}")


def test_modalities_are_aligned_pixel_for_pixel(tmp_path: Path) -> None:
    data = dataset([white_box_sequence(tmp_path, textured_twin=True)], dataclasses.replace(CFG.sampler, gray_prob=0.0))
    for item in range(10):  # flips and brightness change both modalities of a frame alike
        sample = data[item]
        for key in ("template", "search"):
            torch.testing.assert_close(sample[key][:3], sample[key][3:], rtol=0, atol=0, msg=f"{key} of item {item}")


def test_jitter_bounds() -> None:
    rng = np.random.default_rng(0)
    cfg = CFG.sampler
    centre = BOX[:2] + BOX[2:] / 2
    for _ in range(2000):
        jittered = jitter_box(BOX, rng, cfg.center_jitter, cfg.scale_jitter)
        ratio = jittered[2:] / BOX[2:]
        assert np.all(ratio >= math.exp(-2 * cfg.scale_jitter) - 1e-9) and np.all(ratio <= math.exp(2 * cfg.scale_jitter) + 1e-9)
        offset = np.abs(jittered[:2] + jittered[2:] / 2 - centre)
        assert np.all(offset <= 0.5 * cfg.center_jitter * math.sqrt(jittered[2] * jittered[3]) + 1e-9)


def test_absent_frames_are_never_sampled_and_the_gap_holds(tmp_path: Path) -> None:
    seq = white_box_sequence(tmp_path, n=12, absent=(0, 4, 5, 11))
    sampler = PairSampler([[seq]], [1.0], max_gap=3)
    rng = np.random.default_rng(1)
    pairs = [sampler.draw(rng) for _ in range(500)]
    used = {p.template for p in pairs} | {p.search for p in pairs}
    assert not used & {0, 4, 5, 11}
    assert all(0 < p.search - p.template <= 3 for p in pairs)
    assert used == {1, 2, 3, 6, 7, 8, 9, 10}


def test_items_depend_only_on_seed_epoch_and_index(tmp_path: Path) -> None:
    seq = white_box_sequence(tmp_path, n=8)
    data = dataset([seq], CFG.sampler)
    first, again = data[5], data[5]
    assert all(torch.equal(first[k], again[k]) for k in first)
    data.set_epoch(1)
    assert not torch.equal(data[5]["search"], first["search"]) or not torch.equal(data[5]["index"], first["index"])
    data.set_epoch(0)
    serial = next(iter(make_loader(data, 8, workers=0)))
    parallel = next(iter(make_loader(data, 8, workers=2)))
    assert all(torch.equal(serial[k], parallel[k]) for k in serial)


def test_one_loader_for_the_run_gives_the_per_epoch_loaders_batches(tmp_path: Path) -> None:
    data = dataset([white_box_sequence(tmp_path, n=8)], CFG.sampler, samples_per_epoch=8)
    schedule = dataclasses.replace(CFG.train, global_batch=4, samples_per_epoch=8)   # 2 steps per epoch

    def batches(persistent: bool, workers: int) -> list[torch.Tensor]:
        loaders = list(step_loaders(data, schedule, 0, 1, first_step=1, total_steps=6, workers=workers,
                                    persistent=persistent))
        assert len(loaders) == (1 if persistent else 3)   # epochs 0 (from its 2nd step), 1 and 2
        return [torch.cat([b["search"].flatten(), b["index"].flatten().float()]) for loader in loaders for b in loader]

    per_epoch = batches(False, 0)
    assert len(per_epoch) == 5
    for got in (batches(True, 0), batches(True, 2)):
        assert len(got) == 5 and all(torch.equal(a, b) for a, b in zip(per_epoch, got))
    assert not torch.equal(per_epoch[0], per_epoch[2])   # epoch 1 draws other pairs than epoch 0


def test_workers_share_the_frame_cache_and_start_without_the_main_process_frames(tmp_path: Path) -> None:
    import pickle

    data = dataset([white_box_sequence(tmp_path, n=8)], dataclasses.replace(CFG.sampler, cache_mb=1))
    for i in range(8):
        data[i]
    assert data.cache.bytes > 0 and data.cache.bytes <= 2**20
    sent = pickle.loads(pickle.dumps(data))
    assert sent.cache.bytes == 0 and not sent.cache.items and sent.cache.max_bytes == 2**20
    share_cache(data, 4)   # what each of 4 workers does first
    assert data.cache.max_bytes == 2**18 and 0 < data.cache.bytes <= 2**18
    assert data[0]["search"].shape == (6, 128, 128)


def test_score_map_peaks_at_the_box_centre() -> None:
    heat = score_map(np.array([0.25, 0.5, 0.25, 0.25]), 8)  # centre (0.375, 0.625) -> cell (3, 5)
    assert heat.max() == 1.0 and np.unravel_index(heat.argmax(), heat.shape) == (5, 3)
    assert gaussian_radius(4, 4) == pytest.approx((-11.2 + math.sqrt(11.2**2 + 4 * 2.8 * 4.8)) / 2)


def test_rgb_only_data_gives_three_channels(tmp_path: Path) -> None:
    sample = dataset([white_box_sequence(tmp_path, modality="rgb")])[0]
    assert sample["template"].shape == (3, 64, 64) and sample["search"].shape == (3, 128, 128)


def test_mixing_rgb_only_and_rgbx_is_refused(tmp_path: Path) -> None:
    rgb = white_box_sequence(tmp_path / "a", modality="rgb")
    rgbt = white_box_sequence(tmp_path / "b")
    with pytest.raises(ConfigError, match="cannot mix RGB-only and RGB\\+X datasets"):
        PairDataset([[rgb], [rgbt]], [1, 1], PLAIN, template_size=64, search_size=128, encoding=CFG.encoding,
                    seed=0, samples_per_epoch=4)


def test_dataset_without_usable_pairs_is_named(tmp_path: Path) -> None:
    seq = white_box_sequence(tmp_path, n=3, absent=(0, 1))
    with pytest.raises(ConfigError, match="lasher-train: no sequence has two frames with a visible target"):
        PairSampler([[seq]], [1.0], max_gap=10, names=["lasher-train"])


@pytest.mark.slow
def test_synthetic_benchmarks_feed_batches_through_prepare(tmp_path: Path, monkeypatch) -> None:
    """synth -> prepare -> load_sequences -> PairDataset -> a batch, all through the real entry points."""
    from srtrack import prepare
    from srtrack.synth.__main__ import main as synth_main

    monkeypatch.chdir(tmp_path)
    args = ["--config", str(DEFAULT_CONFIG), "--config", str(REPO / "config" / "smoke.yaml")]
    assert synth_main(args) == 0
    cfg = load_config([DEFAULT_CONFIG, REPO / "config" / "smoke.yaml"])
    datasets = []
    for name in ("lasher", "depthtrack", "visevent"):
        out = tmp_path / "prepared" / name
        assert prepare.main([*args, "--dataset", name, "--split", "train", "--out", str(out)]) == 0
        datasets.append(load_sequences(out, cfg.datasets))
    data = PairDataset(datasets, [1, 1, 1], cfg.sampler, template_size=64, search_size=128, encoding=cfg.encoding,
                       seed=0, samples_per_epoch=24)
    batch = next(iter(make_loader(data, 12, workers=0)))
    assert batch["template"].shape == (12, 6, 64, 64) and batch["search"].shape == (12, 6, 128, 128)
    assert batch["score_map"].shape == (12, 8, 8) and torch.isfinite(batch["search"]).all()
    assert set(batch["index"][:, 0].tolist()) <= {0, 1, 2}
