"""The reader base class and registry shared by the eight benchmark readers.

A reader knows one benchmark's on-disk layout: where the frames of each modality are, which file
holds the ground truth, how absence is encoded. It turns a sequence folder into a `Sequence`,
collecting every problem it finds, and raises one `DatasetFormatError` per broken sequence.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

from srtrack.config.types import DatasetConfig, DatasetsConfig
from srtrack.datasets.frames import frame_naming, list_frames
from srtrack.datasets.sequence import X_MODALITY, Modality, Sequence
from srtrack.datasets.splits import ListSource, Split, resolve_list
from srtrack.datasets.annotations import warn_negative_sizes
from srtrack.errors import ConfigError, DatasetFormatError, ProblemLog

C = TypeVar("C", bound=DatasetConfig)
READERS: dict[str, type["BenchmarkReader"]] = {}
R = TypeVar("R", bound=type["BenchmarkReader"])


def register_reader(cls: R) -> R:
    """Class decorator: make a reader available by its `name` (in registration order, which is the
    order of the report's columns); its scoring facts must be complete."""
    missing = [k for k in ("name", "modality", "title", "profiles", "columns", "headline") if not hasattr(cls, k)]
    if missing:
        raise TypeError(f"{cls.__name__} does not set {', '.join(missing)}")
    if cls.headline not in dict(cls.columns):
        raise TypeError(f"{cls.__name__}.headline {cls.headline!r} is not one of its columns {list(dict(cls.columns))}")
    READERS[cls.name] = cls
    return cls


def benchmark_title(name: str) -> str:
    """A benchmark's name as papers print it (its reader's title); other names as they are."""
    return READERS[name].title if name in READERS else name


def ope_columns(profile: str) -> tuple[tuple[str, str], ...]:
    """Precision, normalized precision and success AUC of an OPE profile (PR / NPR / SR)."""
    return (("PR", f"{profile}/precision"), ("NPR", f"{profile}/norm_precision"), ("SR", f"{profile}/success_auc"))


def create_reader(name: str, datasets: DatasetsConfig, *, list_frames: bool = True) -> "BenchmarkReader":
    """The reader for benchmark `name`, configured from `datasets.<name>` (`list_frames=False`: ground
    truth and flags only)."""
    if name not in READERS:
        raise ConfigError(f"unknown dataset {name!r}; known: {sorted(READERS)}")
    return READERS[name](getattr(datasets, name), list_frames=list_frames)


class BenchmarkReader(Generic[C]):
    """Base class: subclasses set the class variables and implement `_read`."""

    name: ClassVar[str]
    modality: ClassVar[Modality]
    title: ClassVar[str]
    # dtype the auxiliary modality's files must decode to (16-bit PNG for raw depth)
    x_dtype: ClassVar[str] = "uint8"
    # folders under root that are not sequences
    non_sequence_dirs: ClassVar[frozenset[str]] = frozenset()
    # a file under root naming the sequences, one per line, read where it exists
    sequence_list: ClassVar[str | None] = None
    # splits the benchmark defines (RGBT234, GTOT and VOT-RGBD2022 are test-only)
    splits: ClassVar[tuple[Split, ...]] = ("train", "test")
    # a split's folder under root, where the benchmark ships one per split (GOT-10k); else the root
    split_folders: ClassVar[dict[Split, str]] = {}
    # How the field scores and reports the benchmark: its default evaluator profiles
    # (srtrack.metrics.benchmark), the columns of its tables as (name, "<profile>/<metric>") and the
    # column that sums a tracker up.
    profiles: ClassVar[tuple[str, ...]]
    columns: ClassVar[tuple[tuple[str, str], ...]]
    headline: ClassVar[str]
    # its evaluator reads the absent-flag file (absent frames count as misses of a predicted box)
    scores_absent_flags: ClassVar[bool] = False
    # scored from multistart anchor runs (VOT): each anchor run is tracked as a sequence of its own
    multistart: ClassVar[bool] = False

    def __init__(self, cfg: C, *, list_frames: bool = True):
        self.cfg = cfg
        # False: annotations only (scoring result files needs no frame paths); frame counts are not checked
        self.list_frames = list_frames

    @property
    def x_name(self) -> str | None:
        return X_MODALITY[self.modality]

    @property
    def root(self) -> Path:
        """The configured root folder; a ConfigError names the key if it is unset or missing."""
        key = f"datasets.{self.name}.root"
        if self.cfg.root is None:
            raise ConfigError(f"{key} is null: set it to the folder that holds the {self.title} sequences")
        if not self.cfg.root.is_dir():
            raise ConfigError(f"{key}: {self.cfg.root} is not a directory (expected the {self.title} root)")
        return self.cfg.root

    def split_root(self, split: Split) -> Path:
        """The folder holding a split's sequence folders."""
        return self.root / self.split_folders.get(split, "")

    def sequence_dir(self, name: str) -> Path:
        """The folder of sequence `name`."""
        return self.root / name

    def discover(self, split: Split) -> tuple[list[str], Path]:
        """What `*_list: all` selects: the names in the split folder's `sequence_list` file where it
        exists, else every sequence folder in it, sorted; and where they came from."""
        root = self.split_root(split)
        if self.sequence_list and (root / self.sequence_list).is_file():
            listed = (root / self.sequence_list).read_text(encoding="utf-8-sig").splitlines()
            return [n.strip() for n in listed if n.strip()], root / self.sequence_list
        names = sorted(
            p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in self.non_sequence_dirs
        )
        return names, root

    def sequence_names(self, split: Split, log: ProblemLog) -> tuple[list[str], ListSource]:
        """The names of a split, from the configured list; per-line problems go to `log`."""
        if split not in self.splits:
            raise ConfigError(f"{self.title} has no {split} split (it has: {', '.join(self.splits)})")
        spec = self.cfg.train_list if split == "train" else self.cfg.test_list
        return resolve_list(self.name, split, spec, lambda: self.discover(split), self.root, log,
                            config_key=f"datasets.{self.name}.{split}_list")

    def read(self, name: str, log: ProblemLog | None = None) -> Sequence:
        """Read one sequence; every problem goes to `log`, and any error raises DatasetFormatError."""
        log = ProblemLog() if log is None else log
        own = ProblemLog()
        seq_dir = self.sequence_dir(name)
        if not seq_dir.is_dir():
            own.error(seq_dir, f"sequence folder of {name!r} is missing")
            sequence = None
        else:
            if not seq_dir.resolve().is_relative_to(self.root.resolve()):
                own.warning(seq_dir, f"is a link to {seq_dir.resolve()}, outside the dataset root {self.root.resolve()}")
            sequence = self._read(seq_dir, name, own)
        log.extend(own.items)
        if own.errors or sequence is None:
            raise DatasetFormatError(own.items)
        return sequence

    def _read(self, seq_dir: Path, name: str, log: ProblemLog) -> Sequence | None:
        raise NotImplementedError(f"{type(self).__name__} must implement _read(seq_dir, name, log)")

    # helpers shared by the readers

    def _list(self, folder: Path, log: ProblemLog, what: str) -> tuple[Path, ...]:
        """The frames of one modality folder, or none when the reader reads annotations only."""
        return list_frames(folder, log, what=what) if self.list_frames else ()

    def _frames(self, seq_dir: Path, rgb_folder: str, x_folder: str, log: ProblemLog) -> dict[str, tuple[Path, ...]]:
        return {"rgb": self._list(seq_dir / rgb_folder, log, "RGB"),
                self.x_name: self._list(seq_dir / x_folder, log, self.x_name)}

    def check_lengths(self, seq_dir: Path, counts: dict[str, int], log: ProblemLog) -> bool:
        """`check_lengths`, leaving out the frame folders (keys ending in `/`, or `frames`) when they
        were not listed."""
        if not self.list_frames:
            counts = {k: v for k, v in counts.items() if not (k.endswith("/") or k == "frames")}
        return check_lengths(seq_dir, counts, log)

    def _sequence(self, name: str, frames: dict[str, tuple[Path, ...]], boxes: np.ndarray, absent: np.ndarray, *,
                  quirks: list[str], **extra) -> Sequence:
        naming = " / ".join(frame_naming(paths[0]) for paths in frames.values() if paths)
        return Sequence(name=name, benchmark=self.name, modality=self.modality, frames=frames, boxes=boxes,
                        absent=absent, quirks=(f"frames named {naming}", *quirks), **extra)


def check_lengths(seq_dir: Path, counts: dict[str, int], log: ProblemLog) -> bool:
    """Error unless every frame folder and per-frame file has the same number of entries."""
    if len(set(counts.values())) <= 1:
        return True
    listed = ", ".join(f"{what}: {n}" for what, n in counts.items())
    log.error(seq_dir, f"frame counts differ between modalities and annotations ({listed})")
    return False


def absent_by_size(boxes: np.ndarray) -> np.ndarray:
    """Absent where a finite row has no area (w <= 0 or h <= 0): LasHeR/RGBT234/FE108's only signal."""
    with np.errstate(invalid="ignore"):
        return (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)


def absent_without_flag(boxes: np.ndarray, gt_path: Path, log: ProblemLog, title: str) -> np.ndarray:
    """Benchmarks without an absent flag (LasHeR, RGBT234, GTOT, FE108): a box without area means
    absent, and a NaN row is an error."""
    absent = absent_by_size(boxes)
    check_nan_rows(boxes, absent, gt_path, log, flag_hint=f"{title} (it has no absent flag; use 0,0,0,0)")
    warn_negative_sizes(boxes, gt_path, log)
    return absent


def check_nan_rows(boxes: np.ndarray, absent: np.ndarray, gt_path: Path, log: ProblemLog, flag_hint: str) -> None:
    """A NaN box is only allowed on a frame the benchmark marks absent.

    Rows that failed to parse are NaN too; they already have their error, so they are skipped.
    """
    reported = {p.line for p in log.errors if p.path == gt_path}
    bad = [i for i in np.flatnonzero(np.isnan(boxes).any(axis=1) & ~absent[: len(boxes)]) if i + 1 not in reported]
    for i in bad[:20]:
        log.error(gt_path, f"NaN box without absent flag (expected a box, or the frame marked absent in {flag_hint})", int(i) + 1)
    if len(bad) > 20:
        log.error(gt_path, f"... and {len(bad) - 20} more NaN rows without absent flag")


def absent_from_flags(flags_path: Path, log: ProblemLog, *, one_means_present: bool, what: str) -> np.ndarray | None:
    """Absent flags from a 0/1 file; None when the file is missing or unusable (problems logged)."""
    from srtrack.datasets.annotations import read_flags

    flags = read_flags(flags_path, log, what=what)
    if flags is None:
        return None
    return ~flags if one_means_present else flags


def warn_zero_size_present(boxes: np.ndarray, absent: np.ndarray, gt_path: Path, log: ProblemLog) -> None:
    """Present frames whose box has no area score as free hits in some evaluators: say so once."""
    n = min(len(boxes), len(absent))
    rows = np.flatnonzero(absent_by_size(boxes[:n]) & ~absent[:n])
    if len(rows):
        log.warning(gt_path, f"{len(rows)} frame(s) marked present have a box without area (first: line {rows[0] + 1})")

