"""Write rendered sequences in the real benchmarks' file layouts, so the real readers load them.

| synthetic set | layout | auxiliary frames | absent frames | attributes |
|---|---|---|---|---|
| RGB pre-training | GOT-10k `train/<seq>/%08d.jpg`, `groundtruth.txt`, `absence.label`, `cover.label`, `list.txt` | - | `absence.label` = 1, box 0,0,0,0 | - |
| RGB-T | LasHeR `visible/v%03d.jpg`, `infrared/i%03d.jpg`, `visible.txt`/`infrared.txt`/`init.txt` | 3-channel thermal JPEG | 0,0,0,0 | `AttriSeqsTxt/<seq>.txt` (19 flags) |
| RGB-D | DepthTrack `color/%08d.jpg`, `depth/%08d.png` (16-bit mm), `groundtruth.txt` | raw depth | NaN row | per-frame `*.tag` |
| RGB-E | VisEvent `vis_imgs/frame%04d.bmp`, `event_imgs/frame%04d.bmp`, `groundtruth.txt`, `absent_label.txt` (1 = present) | event frames | 0,0,0,0 + flag 0 | - (VisEvent keeps them in its toolkit) |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from srtrack.datasets.readers_rgb import Got10kReader
from srtrack.datasets.readers_rgbt import LASHER_ATTRIBUTES

# our attribute names -> LasHeR's abbreviations
LASHER_CODES = {"partial_occlusion": "PO", "full_occlusion": "TO", "low_illumination": "LI", "fast_motion": "FM",
                "distractor": "SA", "out_of_view": "OV", "scale_variation": "SV"}
DEPTHTRACK_TAGS = {"full_occlusion": "full-occlusion", "partial_occlusion": "partial-occlusion",
                   "out_of_view": "out-of-frame", "low_illumination": "dark-scene", "fast_motion": "fast-motion"}


def _imwrite(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: OpenCV could not write the image")


def _box_lines(boxes: np.ndarray, absent: np.ndarray, *, nan_absent: bool) -> str:
    lines = []
    for box, gone in zip(boxes, absent):
        if gone:
            lines.append("nan,nan,nan,nan" if nan_absent else "0,0,0,0")
        else:
            lines.append(",".join(str(int(v)) for v in box))
    return "\n".join(lines) + "\n"


@dataclass
class SequenceWriter:
    """Base: collects ground truth while frames are written one by one, then writes the annotations."""

    layout: ClassVar[str]
    x_name: ClassVar[str | None]
    list_files: ClassVar[dict[str, str]]
    root: Path
    name: str

    def __post_init__(self) -> None:
        self.boxes: list[np.ndarray] = []
        self.absent: list[bool] = []
        self.tags: list[dict[str, bool]] = []

    @property
    def seq_dir(self) -> Path:
        return self.root / self.name

    def add(self, index: int, rgb: np.ndarray, x: np.ndarray | None, box: np.ndarray, absent: bool,
            tags: dict[str, bool]) -> None:
        self.write_frame(index, rgb, x)
        self.boxes.append(box)
        self.absent.append(absent)
        self.tags.append(tags)

    def write_frame(self, index: int, rgb: np.ndarray, x: np.ndarray | None) -> None:
        raise NotImplementedError(f"{type(self).__name__} must write its frames")

    def finish(self, attributes: list[str]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must write its annotations")

    @classmethod
    def write_lists(cls, root: Path, names: dict[str, list[str]]) -> None:
        for split, file_name in cls.list_files.items():
            (root / file_name).parent.mkdir(parents=True, exist_ok=True)
            (root / file_name).write_text("\n".join(names.get(split, [])) + "\n")


class Got10kWriter(SequenceWriter):
    layout = "got10k"
    x_name = None
    list_files = {split: f"{folder}/{Got10kReader.sequence_list}" for split, folder in Got10kReader.split_folders.items()}

    def write_frame(self, index: int, rgb: np.ndarray, x: np.ndarray | None) -> None:
        self.seq_dir.mkdir(parents=True, exist_ok=True)
        _imwrite(self.seq_dir / f"{index + 1:08d}.jpg", rgb)

    def finish(self, attributes: list[str]) -> None:
        absent = np.array(self.absent)
        (self.seq_dir / "groundtruth.txt").write_text(_box_lines(np.array(self.boxes), absent, nan_absent=False))
        (self.seq_dir / "absence.label").write_text("\n".join(str(int(a)) for a in absent) + "\n")
        (self.seq_dir / "cover.label").write_text("\n".join("0" if a else "8" for a in absent) + "\n")
        (self.seq_dir / "cut_by_image.label").write_text("\n".join(str(int(t["out_of_view"])) for t in self.tags) + "\n")
        (self.seq_dir / "meta_info.ini").write_text(f"[METAINFO]\nurl: synthetic\nobject_class: {self.name}\n")


class LasherWriter(SequenceWriter):
    layout = "lasher"
    x_name = "thermal"
    list_files = {"train": "trainingsetList.txt", "test": "testingsetList.txt"}

    def write_frame(self, index: int, rgb: np.ndarray, x: np.ndarray | None) -> None:
        for folder, prefix, image in (("visible", "v", rgb), ("infrared", "i", x)):
            (self.seq_dir / folder).mkdir(parents=True, exist_ok=True)
            _imwrite(self.seq_dir / folder / f"{prefix}{index:03d}.jpg", image)

    def finish(self, attributes: list[str]) -> None:
        text = _box_lines(np.array(self.boxes), np.array(self.absent), nan_absent=False)
        for gt in ("visible.txt", "infrared.txt", "init.txt"):
            (self.seq_dir / gt).write_text(text)
        codes = {LASHER_CODES[a] for a in attributes if a in LASHER_CODES}
        if not codes & {"PO", "TO"}:
            codes.add("NO")
        flags = ",".join("1" if a in codes else "0" for a in LASHER_ATTRIBUTES)
        (self.root / "AttriSeqsTxt").mkdir(parents=True, exist_ok=True)
        (self.root / "AttriSeqsTxt" / f"{self.name}.txt").write_text(flags + "\n")


class DepthTrackWriter(SequenceWriter):
    layout = "depthtrack"
    x_name = "depth"
    list_files = {"train": "train.txt", "test": "test.txt"}

    def write_frame(self, index: int, rgb: np.ndarray, x: np.ndarray | None) -> None:
        for folder in ("color", "depth"):
            (self.seq_dir / folder).mkdir(parents=True, exist_ok=True)
        _imwrite(self.seq_dir / "color" / f"{index + 1:08d}.jpg", rgb)
        _imwrite(self.seq_dir / "depth" / f"{index + 1:08d}.png", x)

    def finish(self, attributes: list[str]) -> None:
        (self.seq_dir / "groundtruth.txt").write_text(_box_lines(np.array(self.boxes), np.array(self.absent), nan_absent=True))
        for tag, file_stem in DEPTHTRACK_TAGS.items():
            values = [int(t.get(tag, False)) for t in self.tags]
            if any(values):
                (self.seq_dir / f"{file_stem}.tag").write_text("\n".join(map(str, values)) + "\n")


class VisEventWriter(SequenceWriter):
    layout = "visevent"
    x_name = "event"
    list_files = {"train": "trainlist.txt", "test": "testlist.txt"}

    def write_frame(self, index: int, rgb: np.ndarray, x: np.ndarray | None) -> None:
        for folder, image in (("vis_imgs", rgb), ("event_imgs", x)):
            (self.seq_dir / folder).mkdir(parents=True, exist_ok=True)
            _imwrite(self.seq_dir / folder / f"frame{index:04d}.bmp", image)

    def finish(self, attributes: list[str]) -> None:
        absent = np.array(self.absent)
        (self.seq_dir / "groundtruth.txt").write_text(_box_lines(np.array(self.boxes), absent, nan_absent=False))
        (self.seq_dir / "absent_label.txt").write_text("\n".join("0" if a else "1" for a in absent) + "\n")


WRITERS: dict[str, type[SequenceWriter]] = {w.layout: w for w in (Got10kWriter, LasherWriter, DepthTrackWriter, VisEventWriter)}
