"""Procedural textures for synthetic scenes: smooth noise, blobs and stripes, all from one rng."""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, height: int, width: int, scale: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in [0, 1]: random values on a coarse grid, upsampled with cubic interpolation."""
    coarse = rng.random((max(2, height // scale), max(2, width // scale), channels), dtype=np.float32)
    fine = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = fine.reshape(height, width, channels)
    lo, hi = fine.min(), fine.max()
    return (fine - lo) / max(hi - lo, 1e-6)


def background_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A cluttered colour background in [0, 1]: two noise scales plus random discs and lines."""
    base = 0.6 * smooth_noise(rng, height, width, 48, 3) + 0.4 * smooth_noise(rng, height, width, 8, 3)
    tint = rng.uniform(0.4, 1.0, size=3).astype(np.float32)
    image = np.ascontiguousarray(base * tint)
    for _ in range(int(rng.integers(10, 25))):
        colour = tuple(float(c) for c in rng.uniform(0.1, 0.9, size=3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(image, centre, int(rng.integers(3, 14)), colour, -1, cv2.LINE_AA)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(image, centre, end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return np.clip(image, 0.0, 1.0)


def object_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A distinctive object appearance in [0, 1]: two colours in stripes or a checker, plus detail."""
    colours = rng.uniform(0.05, 0.95, size=(2, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = float(rng.uniform(4, 10))
    if rng.random() < 0.5:
        angle = float(rng.uniform(0, np.pi))
        pattern = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0).astype(np.float32)
    else:
        pattern = ((xx // period + yy // period) % 2).astype(np.float32)
    image = colours[0] * pattern[..., None] + colours[1] * (1 - pattern[..., None])
    image += 0.15 * (smooth_noise(rng, size, size, 6, 3) - 0.5)
    return np.clip(image, 0.0, 1.0)


def object_mask(shape: str, size: int) -> np.ndarray:
    """A float mask in [0, 1] of an ellipse or a rectangle filling a size x size square."""
    mask = np.zeros((size, size), np.float32)
    if shape == "ellipse":
        cv2.ellipse(mask, (size // 2, size // 2), (size // 2 - 1, size // 2 - 1), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    else:
        mask[1:-1, 1:-1] = 1.0
    return mask
