"""RGB-D readers in the VOT sequence layout: DepthTrack and VOT-RGBD2022.

Layout (as vot-toolkit 0.5.3 and 0.9.0 read it):
`<root>/list.txt` (sequence names), `<seq>/sequence` (key=value metadata such as
`channels.color=color/%08d.jpg`, `channels.depth=depth/%08d.png`), `<seq>/color/00000001.jpg`,
`<seq>/depth/00000001.png` (16-bit, millimetres), `<seq>/groundtruth.txt` (one region per line:
`x,y,w,h`, a polygon, or NaN / a single number for an absent target), per-frame `*.tag` files
(0/1) and `*.value` files (e.g. VOT-RGBD2022's `anchor.value`).

* DepthTrack (Yan et al., ICCV 2021): 50 test sequences. Whether absent frames are NaN rows or
  `0,0,0,0` rows is unverified; both are read as absent and the zero rows are counted in the
  quirks, because VOT recall counts a zero row in its denominator but not a NaN row.
* VOT-RGBD2022 (Kristan et al., ECCV-W 2022): same layout plus `anchor.value`; `list.txt` in the
  root is required by the vot-toolkit (without it, the toolkit downloads the stack's dataset).
"""

from __future__ import annotations

import re
from pathlib import Path

from srtrack.config.types import DatasetConfig
from srtrack.datasets.annotations import read_frame_values, read_vot_regions
from srtrack.datasets.base import BenchmarkReader, absent_by_size, register_reader
from srtrack.datasets.frames import frame_naming
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ProblemLog

DEFAULT_CHANNELS = {"color": "color/%08d.jpg", "depth": "depth/%08d.png"}


def read_sequence_metadata(path: Path, log: ProblemLog) -> dict[str, str]:
    """The `key=value` lines of a VOT `sequence` file; missing file = empty (defaults apply)."""
    if not path.is_file():
        return {}
    meta = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            log.error(path, f"expected key=value, got {line.strip()!r}", i + 1)
            continue
        meta[key.strip()] = value.strip()
    return meta


def _pattern_naming(pattern: str) -> str:
    """`color/%08d.jpg` -> `%08d.jpg`, comparable with frames.frame_naming()."""
    return re.sub(r"%(\d*)d", lambda m: f"%{m[1] or ''}d", Path(pattern).name)


class VotRgbdReader(BenchmarkReader[DatasetConfig]):
    """Shared reader for the VOT RGB-D layout."""

    modality = "rgbd"
    x_dtype = "uint16"
    sequence_list = "list.txt"  # as the vot-toolkit reads it

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        meta = read_sequence_metadata(seq_dir / "sequence", log)
        channels = {c: meta.get(f"channels.{c}", default) for c, default in DEFAULT_CHANNELS.items()}
        frames = self._frames(seq_dir, str(Path(channels["color"]).parent), str(Path(channels["depth"]).parent), log)
        for key, channel in (("rgb", "color"), ("depth", "depth")):
            if frames[key] and frame_naming(frames[key][0]) != _pattern_naming(channels[channel]):
                log.warning(frames[key][0], f"frame name does not follow the {channel} pattern {channels[channel]!r}")
        gt_path = seq_dir / "groundtruth.txt"
        boxes, absent, polygons = read_vot_regions(gt_path, log)
        zero_rows = absent_by_size(boxes) & ~absent
        absent = absent | zero_rows
        quirks = []
        if polygons:
            quirks.append(f"{polygons} polygon rows reduced to their bounding box")
        if zero_rows.any():
            quirks.append(f"{int(zero_rows.sum())} rows without area (e.g. 0,0,0,0) read as absent; VOT counts them as visible")
        counts = {f"{Path(channels['color']).parent}/": len(frames["rgb"]),
                  f"{Path(channels['depth']).parent}/": len(frames["depth"]), "groundtruth.txt": len(boxes)}
        if "length" in meta:
            counts["sequence length="] = int(meta["length"]) if meta["length"].isdigit() else -1
        self.check_lengths(seq_dir, counts, log)
        tags = {}
        for tag_file in sorted([*seq_dir.glob("*.tag"), *seq_dir.glob("*.value")]):
            values = read_frame_values(tag_file, len(boxes), log)
            if values is not None:
                tags[tag_file.stem] = values.astype(bool) if tag_file.suffix == ".tag" else values
        return self._sequence(name, frames, boxes, absent, quirks=quirks, frame_tags=tags)


@register_reader
class DepthTrackReader(VotRgbdReader):
    name = "depthtrack"
    title = "DepthTrack"
    profiles = ("vot_longterm",)
    columns = (("F", "vot_longterm/f_score"), ("Re", "vot_longterm/recall"), ("Pr", "vot_longterm/precision"))
    headline = "F"


@register_reader
class VotRgbd22Reader(VotRgbdReader):
    name = "vot_rgbd22"
    splits = ("test",)
    title = "VOT-RGBD2022"
    # EAO / A / R from the anchor runs, plus the long-term measure of the full-sequence run
    profiles = ("vot_multistart", "vot_longterm")
    columns = (("EAO", "vot_multistart/eao"), ("A", "vot_multistart/accuracy"), ("R", "vot_multistart/robustness"))
    headline = "EAO"
    multistart = True
