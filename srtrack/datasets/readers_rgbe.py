"""RGB-E readers: VisEvent, COESOT and FE108, all with event frames (no voxels or raw events).

Layouts, as the benchmarks ship them:

* VisEvent (Wang et al., TCYB 2023): `<seq>/vis_imgs/*.bmp`, `<seq>/event_imgs/*.bmp`,
  `groundtruth.txt` (comma, fractional), `absent_label.txt` with **1 = present** (the toolkit's own
  copy `annos/absent/` uses 1 = absent; we read the dataset's file).
* COESOT (Tang et al., 2022): `<seq>/<seq>_aps/*` frames, `<seq>/<seq>_dvs/*` event frames,
  `groundtruth.txt`, `absent.txt` with **1 = present**, `start_end_index.txt` (not used);
  20 test sequences start absent.
* FE108 (Zhang et al., ICCV 2021): `<seq>/img/*.jpg` frames, `<seq>/evimg/*.jpg` event frames as
  the SRTrack code reads them, `groundtruth_rect.txt` (comma); no absent file, a box without area
  means absent (the pytracking `w > 0 & h > 0` rule).
"""

from __future__ import annotations

from pathlib import Path


from srtrack.config.types import DatasetConfig
from srtrack.datasets.annotations import read_boxes
from srtrack.datasets.base import (
    BenchmarkReader,
    absent_without_flag,
    check_nan_rows,
    absent_from_flags,
    ope_columns,
    register_reader,
    warn_zero_size_present,
)
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ProblemLog


class FlaggedEventReader(BenchmarkReader[DatasetConfig]):
    """VisEvent and COESOT: frames + event frames + comma GT + a 0/1 file with 1 = present."""

    modality = "rgbe"
    flag_file: str
    columns = ope_columns("otb_matlab")
    headline = "SR"
    scores_absent_flags = True  # their toolkits count a box predicted on an absent frame as a miss

    def folders(self, name: str) -> tuple[str, str]:
        raise NotImplementedError(f"{type(self).__name__} must name its RGB and event folders")

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        rgb_folder, event_folder = self.folders(name)
        frames = self._frames(seq_dir, rgb_folder, event_folder, log)
        gt_path = seq_dir / "groundtruth.txt"
        boxes = read_boxes(gt_path, log)
        flag_path = seq_dir / self.flag_file
        absent = absent_from_flags(flag_path, log, one_means_present=True,
                                    what=f"{self.flag_file} (1 = present, 0 = absent)")
        if absent is None:
            return None
        self.check_lengths(seq_dir, {f"{rgb_folder}/": len(frames["rgb"]), f"{event_folder}/": len(frames["event"]),
                                "groundtruth.txt": len(boxes), self.flag_file: len(absent)}, log)
        n = min(len(boxes), len(absent))
        check_nan_rows(boxes[:n], absent[:n], gt_path, log, flag_hint=self.flag_file)
        warn_zero_size_present(boxes, absent, gt_path, log)
        quirks = [f"absent flags from {self.flag_file} (1 = present)"]
        if len(absent) and absent[0]:
            quirks.append("first frame absent: trackers start at the first present frame")
        return self._sequence(name, frames, boxes, absent, quirks=quirks)


@register_reader
class VisEventReader(FlaggedEventReader):
    name = "visevent"
    title = "VisEvent"
    flag_file = "absent_label.txt"
    profiles = ("otb_matlab",)  # its MATLAB toolkit

    def folders(self, name: str) -> tuple[str, str]:
        return "vis_imgs", "event_imgs"


@register_reader
class CoesotReader(FlaggedEventReader):
    name = "coesot"
    title = "COESOT"
    flag_file = "absent.txt"
    profiles = ("otb_matlab", "ostrack")  # its MATLAB toolkit, and CEUTrack's analysis

    def folders(self, name: str) -> tuple[str, str]:
        return f"{name}_aps", f"{name}_dvs"


@register_reader
class Fe108Reader(BenchmarkReader[DatasetConfig]):
    name = "fe108"
    modality = "rgbe"
    title = "FE108"
    profiles = ("ostrack",)
    columns = (("RPR", "ostrack/precision"), ("RSR", "ostrack/success_auc"))
    headline = "RSR"

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        frames = self._frames(seq_dir, "img", "evimg", log)
        gt_path = seq_dir / "groundtruth_rect.txt"
        boxes = read_boxes(gt_path, log)
        absent = absent_without_flag(boxes, gt_path, log, self.title)
        self.check_lengths(seq_dir, {"img/": len(frames["rgb"]), "evimg/": len(frames["event"]),
                                "groundtruth_rect.txt": len(boxes)}, log)
        return self._sequence(name, frames, boxes, absent, quirks=["absent = box without area (w or h <= 0)"])
