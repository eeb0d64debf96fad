"""Turn raw auxiliary-modality files into the 3-channel uint8 images trackers consume.

* Depth: ViPT/DeT's `get_rgbd_frame(dtype='rgbcolormap', depth_clip=True)` (missing from the SRTrack
  repo, reproduced from ViPT's `depth_utils` as we know it): clip the 16-bit millimetre map at
  min(3 x median, max_mm), min-max normalise to 0..255, apply the JET colormap. `clip: fixed`
  clips at max_mm, `clip: none` normalises the raw range. Configurable in `encoding.depth`.
* Thermal and event frames are 3-channel images as the benchmarks ship them (a grey image is
  repeated to 3 channels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from srtrack.config.types import DepthEncodingConfig, EncodingConfig
from srtrack.datasets.sequence import Sequence
from srtrack.errors import DatasetFormatError

_COLORMAPS = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO}


def encode_depth(depth_mm: np.ndarray, cfg: DepthEncodingConfig) -> np.ndarray:
    """(H, W) uint16 depth in millimetres -> (H, W, 3) uint8 colour image (BGR, as OpenCV).

    Step for step as ViPT's `get_rgbd_frame`: the median is over all pixels (holes included), the
    clip and the min-max normalisation happen in uint16 (so 127.5 rounds to 128), then uint8.
    """
    depth = depth_mm.copy()
    if cfg.clip == "median3":
        limit = min(3.0 * float(np.median(depth)), float(cfg.max_mm))
        depth[depth > limit] = limit  # numpy truncates the limit to an integer, as ViPT's code does
    elif cfg.clip == "fixed":
        depth[depth > cfg.max_mm] = cfg.max_mm
    scaled = cv2.normalize(depth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if cfg.colormap == "gray":
        return cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR)
    return cv2.applyColorMap(scaled, _COLORMAPS[cfg.colormap])


def read_image(path: Path, *, unchanged: bool = False) -> np.ndarray:
    """Decode an image file; a DatasetFormatError names the file if it cannot be decoded."""
    flags = cv2.IMREAD_UNCHANGED if unchanged else cv2.IMREAD_COLOR
    try:
        image = cv2.imread(str(path), flags)
    except cv2.error as exc:  # e.g. out of memory for a frame that declares a huge size
        raise DatasetFormatError(f"cannot be decoded ({str(exc).strip().splitlines()[-1][:200]})", path) from None
    if image is None:
        raise DatasetFormatError("cannot be decoded as an image (corrupt or not an image file)", path)
    return image


def load_frame(path: Path, x_name: str, cfg: EncodingConfig) -> np.ndarray:
    """One frame of a modality (`rgb`, `thermal`, `depth`, `event`) as (H, W, 3) uint8 BGR."""
    if x_name != "depth":
        return read_image(path)
    raw = read_image(path, unchanged=True)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise DatasetFormatError(f"depth frame is {raw.dtype} with shape {raw.shape} (expected a 16-bit single-channel PNG in millimetres)", path)
    return encode_depth(raw, cfg.depth)


def frame_images(seq: Sequence, index: int, load: Callable[[Path, str], np.ndarray], *,
                 with_x: bool = True) -> list[np.ndarray]:
    """One frame's images through `load(path, modality)`, RGB first; X (if any and wanted) is resized
    to the RGB size where the sensors differ, so that one crop window fits both."""
    rgb = load(seq.rgb_frames[index], "rgb")
    if not with_x or seq.x_name is None:
        return [rgb]
    x = load(seq.x_frames[index], seq.x_name)
    if x.shape[:2] != rgb.shape[:2]:
        x = cv2.resize(x, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return [rgb, x]
