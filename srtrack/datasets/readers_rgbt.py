"""RGB-T readers: LasHeR, RGBT234 and GTOT.

Layouts, as the benchmarks ship them:

* LasHeR (Li et al., TIP 2021): `<seq>/visible/v000.jpg`, `<seq>/infrared/i000.jpg` (some copies
  name frames `000001.jpg`), `visible.txt`, `infrared.txt`, `init.txt` as comma `x,y,w,h`; 19
  attributes in `<root>/AttriSeqsTxt/<seq>.txt` (optional). No absent flag: a box without area
  (302 all-zero test rows) means the target is not visible.
* RGBT234 (Li et al., PR 2019): `<seq>/visible/*v.jpg`, `<seq>/infrared/*i.jpg`, `visible.txt` and
  `infrared.txt` (two ground truths, both used by MPR/MSR), `init.txt`.
* GTOT (Li et al., TIP 2016): `<seq>/v/*.png`, `<seq>/i/*.png`, `groundTruth_v.txt` and
  `groundTruth_i.txt` as space-separated corners `x1 y1 x2 y2`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srtrack.config.types import DatasetConfig, GtotConfig, LasherConfig
from srtrack.datasets.annotations import corners_to_xywh, read_boxes
from srtrack.datasets.base import BenchmarkReader, absent_without_flag, ope_columns, register_reader
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ProblemLog

# LasHeR's 19 challenge attributes, in the order of the LasHeR paper's attribute table.
LASHER_ATTRIBUTES = ("NO", "PO", "TO", "HO", "MB", "LI", "HI", "AIV", "LR", "DEF",
                     "BC", "SA", "CM", "TC", "FL", "OV", "FM", "SV", "ARC")


def _read_lasher_attributes(path: Path, n_frames: int, log: ProblemLog) -> tuple[frozenset[str], dict[str, np.ndarray]]:
    """One row of 19 flags = sequence attributes; one row per frame = per-frame tags."""
    if not path.is_file():
        return frozenset(), {}
    rows = read_flag_table(path, len(LASHER_ATTRIBUTES), log)
    if rows is None:
        return frozenset(), {}
    if len(rows) == 1:
        return frozenset(a for a, f in zip(LASHER_ATTRIBUTES, rows[0]) if f), {}
    if len(rows) != n_frames:
        log.error(path, f"{len(rows)} rows (expected 1 row of sequence attributes or {n_frames}, one per frame)")
        return frozenset(), {}
    return frozenset(), {a: rows[:, i].astype(bool) for i, a in enumerate(LASHER_ATTRIBUTES)}


def read_flag_table(path: Path, n_cols: int, log: ProblemLog) -> np.ndarray | None:
    """A table of 0/1 flags, `n_cols` per row (comma or space separated)."""
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines()):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        if len(fields) != n_cols or any(f not in ("0", "1") for f in fields):
            log.error(path, f"expected {n_cols} attribute flags (0/1), got {line.strip()!r}", i + 1)
            return None
        rows.append([int(f) for f in fields])
    return np.asarray(rows, dtype=np.int8).reshape(-1, n_cols)


@register_reader
class LasherReader(BenchmarkReader[LasherConfig]):
    name = "lasher"
    modality = "rgbt"
    title = "LasHeR"
    profiles = ("lasher_rgbt",)
    columns = ope_columns("lasher_rgbt")
    headline = "SR"
    non_sequence_dirs = frozenset({"AttriSeqsTxt"})

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        frames = self._frames(seq_dir, "visible", "infrared", log)
        quirks = []
        gt_path = seq_dir / self.cfg.gt_file
        if not gt_path.is_file() and (seq_dir / "visible.txt").is_file():
            log.warning(gt_path, "missing; using visible.txt as the ground truth")
            gt_path = seq_dir / "visible.txt"
        quirks.append(f"ground truth from {gt_path.name}")
        boxes = read_boxes(gt_path, log)
        absent = absent_without_flag(boxes, gt_path, log, self.title)
        extra = {}
        if (seq_dir / "infrared.txt").is_file():
            extra["thermal"] = read_boxes(seq_dir / "infrared.txt", log)
        counts = {"visible/": len(frames["rgb"]), "infrared/": len(frames["thermal"]), gt_path.name: len(boxes)}
        if "thermal" in extra:
            counts["infrared.txt"] = len(extra["thermal"])
        self.check_lengths(seq_dir, counts, log)
        attributes, tags = _read_lasher_attributes(self.root / "AttriSeqsTxt" / f"{name}.txt", len(boxes), log)
        return self._sequence(name, frames, boxes, absent, quirks=quirks, extra_boxes=extra,
                              attributes=attributes, frame_tags=tags)


@register_reader
class Rgbt234Reader(BenchmarkReader[DatasetConfig]):
    name = "rgbt234"
    splits = ("test",)
    modality = "rgbt"
    title = "RGBT234"
    profiles = ("rgbt234",)  # MPR / MSR over both ground truths
    columns = (("MPR", "rgbt234/precision"), ("MSR", "rgbt234/success_auc"))
    headline = "MSR"

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        frames = self._frames(seq_dir, "visible", "infrared", log)
        boxes = read_boxes(seq_dir / "visible.txt", log)
        thermal = read_boxes(seq_dir / "infrared.txt", log)
        absent = absent_without_flag(boxes, seq_dir / "visible.txt", log, self.title)
        self.check_lengths(seq_dir, {"visible/": len(frames["rgb"]), "infrared/": len(frames["thermal"]),
                                "visible.txt": len(boxes), "infrared.txt": len(thermal)}, log)
        return self._sequence(name, frames, boxes, absent, quirks=["two ground truths: visible.txt, infrared.txt"],
                              extra_boxes={"thermal": thermal})


@register_reader
class GtotReader(BenchmarkReader[GtotConfig]):
    name = "gtot"
    splits = ("test",)
    modality = "rgbt"
    title = "GTOT"
    profiles = ("gtot",)
    columns = (("MPR", "gtot/precision"), ("MSR", "gtot/success_auc"))
    headline = "MSR"

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        frames = self._frames(seq_dir, "v", "i", log)
        corner_format = "x1 y1 x2 y2"
        visible = corners_to_xywh(read_boxes(seq_dir / "groundTruth_v.txt", log, what=corner_format), self.cfg.corner_width)
        thermal = corners_to_xywh(read_boxes(seq_dir / "groundTruth_i.txt", log, what=corner_format), self.cfg.corner_width)
        absent = absent_without_flag(visible, seq_dir / "groundTruth_v.txt", log, self.title)
        self.check_lengths(seq_dir, {"v/": len(frames["rgb"]), "i/": len(frames["thermal"]),
                                "groundTruth_v.txt": len(visible), "groundTruth_i.txt": len(thermal)}, log)
        return self._sequence(name, frames, visible, absent, extra_boxes={"thermal": thermal},
                              quirks=[f"corner ground truth converted with w = {self.cfg.corner_width}"])
