"""RGB-only reader for pre-training data: GOT-10k (Huang et al., TPAMI 2021).

`datasets.got10k.root` is the GOT-10k folder as it ships, one folder per split: `train/` and `val/`
(`test/`, whose ground truth the GOT-10k server withholds, is not read). srtrack's train split is
`train/`, its test split `val/` (180 sequences with public ground truth, disjoint from train).
Each split folder holds `list.txt` and `<seq>/00000001.jpg ...`, `<seq>/groundtruth.txt` (comma
`x,y,w,h`), `<seq>/absence.label` (1 = absent), `cover.label` (0-8 visible tenths; 0 = absent),
`cut_by_image.label`, `meta_info.ini`. The train split is the RGB pre-training and prior-sensitivity
data; the test split is where the retention of RGB tracking is scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from srtrack.config.types import DatasetConfig
from srtrack.datasets.annotations import read_boxes
from srtrack.datasets.base import BenchmarkReader, absent_from_flags, check_nan_rows, register_reader
from srtrack.datasets.sequence import Sequence
from srtrack.datasets.splits import Split
from srtrack.errors import ConfigError, ProblemLog


@register_reader
class Got10kReader(BenchmarkReader[DatasetConfig]):
    name = "got10k"
    modality = "rgb"
    title = "GOT-10k"
    splits = ("train", "test")
    # srtrack's split -> GOT-10k's folder (its own test folder has no public ground truth)
    split_folders: ClassVar[dict[Split, str]] = {"train": "train", "test": "val"}
    sequence_list = "list.txt"
    profiles = ("got10k_otb",)
    # the OTB-style success AUC; GOT-10k's own SR is the success rate at IoU 0.5, another measure
    columns = (("AUC", "got10k_otb/success_auc"),)
    headline = "AUC"

    def split_root(self, split: Split) -> Path:
        folder = super().split_root(split)
        if not folder.is_dir():
            hint = (" (it holds a list.txt: is it a split folder? point the root one level up, at the folder "
                    "holding train/ and val/)" if (self.root / self.sequence_list).is_file() else "")
            raise ConfigError(f"datasets.got10k.root: {self.root} has no {self.split_folders[split]}/ folder, "
                              f"which holds GOT-10k's {split} sequences{hint}")
        return folder

    def sequence_dir(self, name: str) -> Path:
        """GOT-10k's sequence names are unique across its split folders (GOT-10k_Train_*, GOT-10k_Val_*)."""
        candidates = [self.root / folder / name for folder in self.split_folders.values()]
        return next((path for path in candidates if path.is_dir()), candidates[0])

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
