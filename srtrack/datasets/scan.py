"""Read and check every sequence of a benchmark split in one pass: what `prepare` indexes, and what
`evaluate --benchmark` scores result files on when only the annotations are there."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from tqdm import tqdm

from srtrack.datasets.base import BenchmarkReader
from srtrack.datasets.index import build_index, sequence_stats
from srtrack.datasets.sequence import Sequence
from srtrack.datasets.validate import CheckMode, check_images
from srtrack.config import Config, config_location
from srtrack.errors import ConfigError, DatasetFormatError, ProblemLog


@dataclasses.dataclass(frozen=True)
class ImageChecks:
    """How the frames are checked (`prepare.check_images` and friends)."""

    mode: CheckMode
    sample_every: int
    max_pixels: int | None


@dataclasses.dataclass
class ScannedSplit:
    """The index document (None when any error was found), the sequences read (with `keep`) and every problem."""

    index: dict | None
    sequences: list[Sequence]
    problems: ProblemLog


def located_root(cfg: Config, reader: BenchmarkReader) -> Path:
    """The reader's root folder; an unset or missing one is a ConfigError naming where it is set."""
    try:
        return reader.root
    except ConfigError as exc:
        raise ConfigError(f"{config_location(cfg, f'datasets.{reader.name}.root')}: {exc}") from None


def scan_split(reader: BenchmarkReader, split: str, images: ImageChecks | None, *, keep: bool = False) -> ScannedSplit:
    """Read every sequence of `split`, check its frames with `images` (None: annotations only, no
    image sizes) and build the index; `keep` returns the sequences too (prepare does not hold a
    training split's frame lists in memory)."""
    problems = ProblemLog()
    names, source = reader.sequence_names(split, problems)  # type: ignore[arg-type]
    stats, kept = [], []
    for name in tqdm(names, desc=f"read {reader.name} {split}", unit="seq", disable=None, file=sys.stderr):
        seq_log = ProblemLog()
        try:
            seq = reader.read(name, seq_log)
        except DatasetFormatError:
            problems.extend(seq_log.items)
            continue
        sizes = (check_images(seq, reader.x_dtype, images.mode, images.sample_every, seq_log, images.max_pixels)
                 if images is not None else None)
        problems.extend(seq_log.items)
        stats.append(sequence_stats(seq, sizes))
        if keep:
            kept.append(seq)
    if problems.errors:
        return ScannedSplit(None, kept, problems)
    return ScannedSplit(build_index(reader, split, source, stats, problems.warnings), kept, problems)
