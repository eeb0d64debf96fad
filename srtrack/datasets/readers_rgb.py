"""RGB-only reader for pre-training data: GOT-10k (Huang et al., TPAMI 2021).

Layout of one split folder (point `datasets.got10k.root` at `GOT-10k/train`): `list.txt`,
`<seq>/00000001.jpg ...`, `<seq>/groundtruth.txt` (comma `x,y,w,h`), `<seq>/absence.label`
(1 = absent), `cover.label` (0-8 visible tenths; 0 = absent), `cut_by_image.label`,
`meta_info.ini`. Used for the RGB pre-training of the synthetic default and for prior-sensitivity
data; test-time GOT-10k ground truth is withheld by its server and not supported.
"""

from __future__ import annotations

from pathlib import Path

from srtrack.config.types import DatasetConfig
from srtrack.datasets.annotations import read_boxes
from srtrack.datasets.base import BenchmarkReader, absent_from_flags, check_nan_rows, register_reader
from srtrack.datasets.sequence import Sequence
from srtrack.errors import ProblemLog


@register_reader
class Got10kReader(BenchmarkReader[DatasetConfig]):
    name = "got10k"
    modality = "rgb"
    title = "GOT-10k"
    splits = ("train",)
    sequence_list = "list.txt"
    profiles = ("got10k_otb",)
    columns = (("SR", "got10k_otb/success_auc"),)
    headline = "SR"

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        frames = {"rgb": self._list(seq_dir, log, "RGB")}
        gt_path = seq_dir / "groundtruth.txt"
        boxes = read_boxes(gt_path, log)
        absent = absent_from_flags(seq_dir / "absence.label", log, one_means_present=False,
                                   what="absence.label (1 = absent, 0 = present)")
        if absent is None:
            return None
        self.check_lengths(seq_dir, {"frames": len(frames["rgb"]), "groundtruth.txt": len(boxes),
                                "absence.label": len(absent)}, log)
        check_nan_rows(boxes[: len(absent)], absent[: len(boxes)], gt_path, log, flag_hint="absence.label")
        return self._sequence(name, frames, boxes, absent, quirks=["RGB only"])
