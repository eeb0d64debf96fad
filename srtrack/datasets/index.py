"""The dataset index that `prepare` writes and later stages read.

`index.json` holds where the benchmark is, which list was used (kind, location, sha256), the
reader options, totals, every warning, and per-sequence stats. `sequences.csv` has the same
per-sequence table for people, and `stats.png` shows sequence lengths and box sizes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Collection

import numpy as np

from srtrack import __version__
from srtrack.config import to_plain
from srtrack.config.types import DatasetsConfig
from srtrack.datasets.base import BenchmarkReader
from srtrack.datasets.sequence import Sequence
from srtrack.datasets.splits import ListSource
from srtrack.datasets.splits.lists import escapes_root
from srtrack.errors import ConfigError, Problem, shown
from srtrack.io import write_bytes_atomic, write_json_atomic
from srtrack.layout import INDEX_FILE, SEQUENCES_FILE, STATS_PLOT

INDEX_FORMAT = "srtrack-index/1"


def boxes_digest(boxes: np.ndarray) -> str:
    """sha256 of a ground-truth array: how `load_sequences` notices data changed since `prepare`."""
    return hashlib.sha256(np.ascontiguousarray(boxes).tobytes()).hexdigest()


def sequence_stats(seq: Sequence, sizes: dict[str, list[int] | None]) -> dict[str, Any]:
    """Per-sequence numbers for the index."""
    present = seq.boxes[~seq.absent]
    finite = present[np.isfinite(present).all(axis=1)]
    width = finite[:, 2] if len(finite) else np.zeros(0)
    height = finite[:, 3] if len(finite) else np.zeros(0)
    return {
        "name": seq.name,
        "n_frames": len(seq),
        "n_absent": int(seq.absent.sum()),
        "first_frame_absent": bool(seq.absent[0]) if len(seq) else False,
        "box_w_min": float(width.min()) if width.size else None,
        "box_w_max": float(width.max()) if width.size else None,
        "box_h_min": float(height.min()) if height.size else None,
        "box_h_max": float(height.max()) if height.size else None,
        "resolution": sizes,
        "attributes": sorted(seq.attributes),
        "frame_tags": sorted(seq.frame_tags),
        "extra_ground_truths": sorted(seq.extra_boxes),
        "quirks": list(seq.quirks),
        "boxes_sha256": boxes_digest(seq.boxes),
    }


def build_index(reader: BenchmarkReader, split: str, source: ListSource, stats: list[dict[str, Any]],
                warnings: list[Problem]) -> dict[str, Any]:
    """The whole index document."""
    options = to_plain(dataclasses.asdict(reader.cfg))
    return {
        "format": INDEX_FORMAT,
        "srtrack_version": __version__,
        "benchmark": reader.name,
        "title": reader.title,
        "modality": reader.modality,
        "x_modality": reader.x_name,
        "split": split,
        "root": str(reader.root.resolve()),
        "list": dataclasses.asdict(source),
        "reader_options": options,
        "n_sequences": len(stats),
        "n_frames": int(sum(s["n_frames"] for s in stats)),
        "n_absent": int(sum(s["n_absent"] for s in stats)),
        "warnings": [str(w) for w in warnings],
        "sequences": stats,
    }


def write_index(out_dir: Path, index: dict[str, Any]) -> list[Path]:
    """Write sequences.csv, stats.png and, last and atomically, index.json; return the paths."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([{k: v for k, v in s.items() if k not in ("resolution", "quirks")} for s in index["sequences"]])
    csv_path = out_dir / SEQUENCES_FILE
    write_bytes_atomic(csv_path, table.to_csv(index=False).encode())
    plot_path = out_dir / STATS_PLOT
    write_bytes_atomic(plot_path, _stats_plot(index))
    index_path = out_dir / INDEX_FILE
    write_json_atomic(index_path, index)
    return [index_path, csv_path, plot_path]


def _stats_plot(index: dict[str, Any]) -> bytes:
    import io

    from srtrack.figures import pyplot

    plt = pyplot()
    seqs = index["sequences"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].hist([s["n_frames"] for s in seqs], bins=min(30, max(5, len(seqs))), color="tab:blue")
    axes[0].set(xlabel="frames per sequence", ylabel="sequences")
    sized = [s for s in seqs if s["box_w_min"] is not None]
    for key, colour in (("min", "tab:orange"), ("max", "tab:green")):
        axes[1].scatter([s[f"box_w_{key}"] for s in sized], [s[f"box_h_{key}"] for s in sized], s=12,
                        color=colour, label=f"{key} box")
    axes[1].set(xlabel="box width (px)", ylabel="box height (px)", xscale="symlog", yscale="symlog")
    axes[1].legend()
    fig.suptitle(f"{index['title']} {index['split']}: {index['n_sequences']} sequences, {index['n_frames']} frames, "
                 f"{index['n_absent']} absent")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def load_index(path: Path) -> dict[str, Any]:
    """Read an index written by `prepare`, checking its format tag."""
    index_path = path / INDEX_FILE if path.is_dir() else path
    if not index_path.is_file():
        raise ConfigError(f"{index_path}: no dataset index (run `python -m srtrack.prepare` first)")
    from srtrack.errors import DatasetFormatError

    try:
        data = json.loads(index_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetFormatError(f"corrupt dataset index ({exc}); run `python -m srtrack.prepare` again", index_path) from None
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{index_path}: format {found!r}, expected {INDEX_FORMAT!r}")
    return data


def load_sequences(path: Path, datasets: DatasetsConfig, *, frames: bool = True, first: int | None = None,
                   names: Collection[str] | None = None) -> list[Sequence]:
    """Read back every sequence of a prepared split (or its `first` ones, or those in `names`), checking
    that the data did not change since (`frames=False`: ground truth, flags and tags only, for scoring
    result files).

    Raises:
        ConfigError: the index is missing or was made from another root than the config's.
        DatasetFormatError: a sequence's ground truth changed since `prepare` (re-run it).
    """
    from srtrack.datasets.base import create_reader
    from srtrack.errors import DatasetFormatError

    index = load_index(path)
    reader = create_reader(index["benchmark"], datasets, list_frames=frames)
    if str(reader.root.resolve()) != index["root"]:
        raise ConfigError(f"{path}: prepared from {index['root']}, but datasets.{reader.name}.root is "
                          f"{reader.root.resolve()}; re-run prepare")
    sequences = []
    entries = index.get("sequences")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and {"name", "boxes_sha256"} <= set(e)
                                                for e in entries):
        raise DatasetFormatError("corrupt dataset index (its sequences lack names or digests); run "
                                 "`python -m srtrack.prepare` again", path / INDEX_FILE if path.is_dir() else path)
    escaping = [e["name"] for e in entries if not isinstance(e["name"], str) or escapes_root(e["name"])]
    if escaping:
        raise DatasetFormatError(f"corrupt dataset index: sequence name {shown(str(escaping[0]))!r} points outside the "
                                 f"dataset root (expected a folder name); run `python -m srtrack.prepare` again",
                                 path / INDEX_FILE if path.is_dir() else path)
    for stats in entries[:first]:
        if names is not None and stats["name"] not in names:
            continue
        seq = reader.read(stats["name"])
        if boxes_digest(seq.boxes) != stats["boxes_sha256"]:
            raise DatasetFormatError(f"ground truth of {stats['name']!r} changed since prepare wrote {path}; re-run prepare",
                                     reader.sequence_dir(stats["name"]))
        sequences.append(seq)
    return sequences
