"""Contact sheets for looking at data: per sequence a row of (RGB | X modality) tiles with the GT box.

Frames are read back through the readers and the configured encodings, so a sheet shows what the
trackers will see, for synthetic and real benchmarks alike.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from srtrack.config.types import EncodingConfig
from srtrack.datasets.encodings import load_frame
from srtrack.datasets.sequence import Sequence
from srtrack.io import write_bytes_atomic

TILE_HEIGHT = 120
BOX_COLOUR = (0, 255, 0)
LABEL_COLOUR = (255, 255, 255)


def _tile(image: np.ndarray, box: np.ndarray, absent: bool) -> np.ndarray:
    scale = TILE_HEIGHT / image.shape[0]
    tile = cv2.resize(image, (int(round(image.shape[1] * scale)), TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    if absent:
        cv2.putText(tile, "absent", (4, TILE_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1, cv2.LINE_AA)
    elif np.isfinite(box).all():
        x, y, w, h = (box * scale).round().astype(int)
        cv2.rectangle(tile, (x, y), (x + w, y + h), BOX_COLOUR, 1)
    return tile


def sequence_row(seq: Sequence, encoding: EncodingConfig, n_frames: int) -> np.ndarray:
    """One row: `n_frames` evenly spaced frames, each as RGB and (if any) X tiles, plus a label bar."""
    indices = np.linspace(0, len(seq) - 1, n_frames).round().astype(int)
    tiles = []
    for i in indices:
        pair = [_tile(load_frame(seq.rgb_frames[i], "rgb", encoding), seq.boxes[i], bool(seq.absent[i]))]
        if seq.x_name is not None:
            pair.append(_tile(load_frame(seq.x_frames[i], seq.x_name, encoding), seq.boxes[i], bool(seq.absent[i])))
        tiles.append(np.hstack(pair))
        tiles.append(np.full((TILE_HEIGHT, 4, 3), 40, np.uint8))
    row = np.hstack(tiles[:-1])
    label = np.full((18, row.shape[1], 3), 30, np.uint8)
    text = f"{seq.benchmark}/{seq.name}  frames {', '.join(str(i) for i in indices)}  {' '.join(sorted(seq.attributes))}"
    cv2.putText(label, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, LABEL_COLOUR, 1, cv2.LINE_AA)
    return np.vstack([label, row])


def write_contact_sheet(path: Path, sequences: list[Sequence], encoding: EncodingConfig, n_frames: int = 4) -> None:
    """Stack one row per sequence (padded to the widest) and write a PNG atomically."""
    rows = [sequence_row(seq, encoding, n_frames) for seq in sequences]
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0))) for r in rows]
    ok, data = cv2.imencode(".png", np.vstack(padded))
    if not ok:
        raise OSError(f"{path}: could not encode the contact sheet")
    write_bytes_atomic(path, data.tobytes())
