"""Turn a template/search frame pair into network inputs, with the OSTrack conventions.

* Crop (`sampler.crop`), a square of side sqrt(w * h) * factor centred on the (jittered) box, resized
  to the output size, zero outside the image; every modality of a frame is cropped the same way, so
  RGB and X stay aligned pixel for pixel.
  * `official` (default): OSTrack's `sample_target` (`lib/train/data/processing_utils.py`): the side
    is rounded up (ceil), the corner rounded (Python's round, half to even), the image sliced with
    zero padding where the square leaves it, then `cv2.resize` (bilinear). Its padding rule
    `x2_pad = max(x2 - W + 1, 0)` means that a square reaching the right (bottom) edge never holds
    the image's last column (row), and a square entirely left of (above) the image slices with a
    negative end, i.e. from the other side, as numpy does; both are kept. Boxes map into the crop
    as OSTrack's `transform_image_to_crop` (centre at (output - 1) / 2 + offset x scale: 0.5 px left
    of the exact map) and back as its tracker's `map_box_back` (the square taken to start at the
    unrounded centre - side / 2).
  * `continuous`: side and corner kept continuous and one affine warp (`cv2.warpAffine`), so a box
    maps into the crop exactly.
* Jitter (OSTrack `_get_jittered_box`, search frame only): size * exp(N(0, scale_jitter)), with the
  normal truncated at +-2 sigma (OSTrack leaves it untruncated) so that crops stay bounded, and
  centre + sqrt(jittered area) * center_jitter * U(-0.5, 0.5) per axis.
* Augmentation (joint, as OSTrack's transforms): horizontal flip of the whole pair, grayscale of the
  RGB channels only, a brightness factor U(1 - b, 1 + b) per frame on all channels.
* Output: RGB-order float tensors normalised with the ImageNet mean/std per 3-channel modality,
  boxes as normalised x, y, w, h in the crop, and the CenterNet Gaussian score-map target of
  OSTrack's `generate_heatmap` (radius from the box size with min overlap 0.7, sigma = diameter / 6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
FEATURE_STRIDE = 16


@dataclass(frozen=True)
class CropWindow:
    """A square window in image coordinates (continuous: pixel i covers [i, i + 1)).

    `x0, y0, side` are the geometry boxes are mapped with; `pixels` (x1, y1, side as integers) is
    the official crop's pixel square, None for the continuous warp.
    """

    x0: float
    y0: float
    side: float
    output: int
    pixels: tuple[int, int, int] | None = None

    @property
    def scale(self) -> float:
        return self.output / self.side

    def matrix(self) -> np.ndarray:
        """The 2x3 affine map for cv2.warpAffine (pixel-centre coordinates on both sides)."""
        s = self.scale
        return np.array([[s, 0, s * (0.5 - self.x0) - 0.5], [0, s, s * (0.5 - self.y0) - 0.5]], np.float32)

    def box_to_crop(self, box: np.ndarray) -> np.ndarray:
        """An image box (x, y, w, h) in crop pixels (official: `transform_image_to_crop`)."""
        s = self.scale
        shift = 0.5 if self.pixels is not None else 0.0
        return np.array([(box[0] - self.x0) * s - shift, (box[1] - self.y0) * s - shift, box[2] * s, box[3] * s])


def crop_window(box: np.ndarray, factor: float, output: int, convention: str = "official") -> CropWindow:
    """The window of side sqrt(w * h) * factor centred on the box, in the `sampler.crop` convention."""
    side = math.sqrt(float(box[2]) * float(box[3])) * factor
    cx, cy = float(box[0]) + float(box[2]) / 2, float(box[1]) + float(box[3]) / 2
    if convention == "official":
        side = math.ceil(side) if math.isfinite(side) else side
    if not side >= 1:
        raise ValueError(f"box {box.tolist()} is too small to crop (side {side:.2f} px)")
    if convention == "continuous":
        return CropWindow(cx - side / 2, cy - side / 2, side, output)
    if convention != "official":
        raise ValueError(f"unknown crop convention {convention!r} (official, continuous)")
    pixels = (round(cx - side * 0.5), round(cy - side * 0.5), int(side))
    return CropWindow(cx - side / 2, cy - side / 2, float(side), output, pixels)


def crop(image: np.ndarray, window: CropWindow) -> np.ndarray:
    """Crop and resize with zero padding outside the image."""
    if window.pixels is not None:
        return crop_pixels(image, window.pixels, window.output)
    return cv2.warpAffine(image, window.matrix(), (window.output, window.output), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_pixels(image: np.ndarray, pixels: tuple[int, int, int], output: int) -> np.ndarray:
    """OSTrack's `sample_target` on an integer square (x1, y1, side); see the module docstring."""
    x1, y1, side = pixels
    x2, y2 = x1 + side, y1 + side
    height, width = image.shape[:2]
    left, right = max(0, -x1), max(x2 - width + 1, 0)
    top, bottom = max(0, -y1), max(y2 - height + 1, 0)
    inside = image[y1 + top:y2 - bottom, x1 + left:x2 - right]  # numpy slicing, negative ends included
    padded = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(padded, (output, output))


def jitter_box(box: np.ndarray, rng: np.random.Generator, center_jitter: float, scale_jitter: float) -> np.ndarray:
    """OSTrack's jittered box (see module docstring); the scale normal is truncated at 2 sigma."""
    scale = np.exp(np.clip(rng.standard_normal(2), -2, 2) * scale_jitter)
    size = box[2:4] * scale
    max_offset = math.sqrt(float(size[0] * size[1])) * center_jitter
    centre = box[:2] + box[2:4] / 2 + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([centre - size / 2, size])


def gaussian_radius(width: float, height: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius as OSTrack computes it (`get_gaussian_radius`, including its r = (b + sq) / 2)."""
    b1, c1 = height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (height + width), (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def score_map(box_norm: np.ndarray, size: int) -> np.ndarray:
    """(size, size) Gaussian target at the box centre on the stride-16 feature grid."""
    heat = np.zeros((size, size), np.float32)
    box = box_norm * size
    radius = max(0, int(gaussian_radius(float(box[2]), float(box[3]))))
    diameter = 2 * radius + 1
    sigma = diameter / 6
    yy, xx = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    gaussian = np.exp(-(xx * xx + yy * yy) / (2 * sigma * sigma)).astype(np.float32)
    gaussian[gaussian < np.finfo(np.float32).eps * gaussian.max()] = 0
    cx, cy = int(round(box[0] + box[2] / 2)), int(round(box[1] + box[3] / 2))
    left, right = min(cx, radius), min(size - cx, radius + 1)
    top, bottom = min(cy, radius), min(size - cy, radius + 1)
    if left + right > 0 and top + bottom > 0 and 0 <= cx < size and 0 <= cy < size:
        heat[cy - top:cy + bottom, cx - left:cx + right] = gaussian[radius - top:radius + bottom, radius - left:radius + right]
    return heat


def to_tensor_layout(images: list[np.ndarray], brightness: float) -> np.ndarray:
    """BGR uint8 crops of one frame (RGB first, then X) -> (3 * n, H, W) float32, RGB order, normalised."""
    planes = []
    for image in images:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) * (brightness / 255.0)
        rgb = (np.clip(rgb, 0.0, 1.0) - IMAGENET_MEAN) / IMAGENET_STD
        planes.append(rgb.transpose(2, 0, 1))
    return np.ascontiguousarray(np.concatenate(planes, axis=0))


def to_gray3(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def flip_box(box: np.ndarray, output: int) -> np.ndarray:
    return np.array([output - box[0] - box[2], box[1], box[2], box[3]])
