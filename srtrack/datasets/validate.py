"""Checks of the frames: complete image files, 16-bit single-channel depth, sizes agree, boxes lie in the image."""

from __future__ import annotations

from typing import Literal

import numpy as np

from srtrack.datasets.encodings import read_image
from srtrack.datasets.image_headers import ImageHeader, ImageHeaderError, read_header
from srtrack.datasets.sequence import Sequence
from srtrack.errors import DatasetFormatError, ProblemLog

CheckMode = Literal["all", "sampled", "none"]


def frames_to_check(n_frames: int, mode: CheckMode, sample_every: int) -> list[int]:
    """Frame indices to decode: all, every k-th plus the last, or only the first (for the size)."""
    if n_frames == 0:
        return []
    if mode == "all":
        return list(range(n_frames))
    if mode == "sampled":
        return sorted(set(range(0, n_frames, sample_every)) | {n_frames - 1})
    return [0]


def check_images(seq: Sequence, x_dtype: str, mode: CheckMode, sample_every: int, log: ProblemLog,
                 max_pixels: int | None = None) -> dict[str, list[int] | None]:
    """Check the frames of every modality and report problems.

    `sampled` and `all`: every frame's header (image type, a complete file, size, channels, bit
    depth: srtrack/datasets/image_headers.py), and full decodes of every `sample_every`-th frame
    (`all`: of every frame). `none`: the first frame's header only, for the size. A frame whose
    header declares more than `max_pixels` pixels is an error and is never decoded (a small file can
    declare 20000 x 20000).

    Returns:
        `{modality: [width, height]}` from the first frame (None where it could not be read).
    """
    sizes: dict[str, list[int] | None] = {}
    for modality, paths in seq.frames.items():
        expected = x_dtype if modality == seq.x_name else "uint8"
        first_size = None
        headers = range(len(paths)) if mode != "none" else range(min(1, len(paths)))
        refused = set()  # frames too large to decode safely
        for index in headers:
            header = _header(paths[index], modality, expected, log, max_pixels)
            if header == "too large":
                refused.add(index)
                continue
            if header is None:
                continue
            size = [header.width, header.height]
            if first_size is None:
                first_size = size
            elif size != first_size:
                log.warning(paths[index], f"{modality} frame is {size[0]}x{size[1]}, the first frame is "
                                          f"{first_size[0]}x{first_size[1]}")
        decode = frames_to_check(len(paths), mode, sample_every) if mode != "none" else []
        for index in decode:
            if index not in refused:
                _decode(paths[index], log)
        sizes[modality] = first_size
    known = {tuple(s) for s in sizes.values() if s is not None}
    if len(known) > 1:
        listed = ", ".join(f"{m} {s[0]}x{s[1]}" for m, s in sizes.items() if s is not None)
        log.warning(seq.rgb_frames[0].parent.parent, f"modalities differ in resolution ({listed})")
    rgb_size = sizes.get("rgb")
    if rgb_size is not None:
        _check_boxes_inside(seq, rgb_size, log)
    return sizes


def _decode(path, log: ProblemLog) -> None:
    """Decode one frame fully, as the trackers will (`read_image`); its failure becomes an error of `log`."""
    try:
        read_image(path, unchanged=True)
    except DatasetFormatError as exc:
        log.extend(exc.problems)


def _header(path, modality: str, expected: str, log: ProblemLog, max_pixels: int | None) -> ImageHeader | str | None:
    """A frame's header, checked against what its modality needs; None (and an error) if it fails,
    "too large" (and an error) if it declares more than `max_pixels`."""
    try:
        header = read_header(path)
    except ImageHeaderError as exc:
        log.error(path, str(exc))
        return None
    if max_pixels is not None and header.width * header.height > max_pixels:
        log.error(path, f"{modality} frame declares {header.width}x{header.height} = {header.width * header.height:,} "
                        f"pixels, more than prepare.max_frame_pixels ({max_pixels:,}): not decoded (a decompression "
                        f"bomb, or a real frame: then raise prepare.max_frame_pixels)")
        return "too large"
    if expected == "uint16" and (header.kind != "png" or header.bit_depth != 16 or header.channels != 1):
        log.error(path, f"{modality} frame is a {header.bit_depth}-bit {header.channels}-channel {header.kind} "
                        f"(expected a 16-bit single-channel PNG (millimetres))")
        return None
    if expected == "uint8" and header.bit_depth != 8:
        log.error(path, f"{modality} frame is {header.bit_depth}-bit (expected an 8-bit image)")
        return None
    return header


def _check_boxes_inside(seq: Sequence, size: list[int], log: ProblemLog, tolerance: float = 1.0) -> None:
    """Warn (once per sequence) about present boxes that reach outside the image."""
    width, height = size
    boxes = seq.boxes[~seq.absent]
    if not len(boxes):
        return
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    outside = (x1 < -tolerance) | (y1 < -tolerance) | (x2 > width + tolerance) | (y2 > height + tolerance)
    if outside.any():
        rows = np.flatnonzero(~seq.absent)[outside]
        log.warning(seq.rgb_frames[0].parent.parent,
                    f"{int(outside.sum())} box(es) reach outside the {width}x{height} image (first: frame {rows[0] + 1})")
