"""`python -m srtrack.compare`: one benchmark's curves with every evaluated tracker on the same axes.

    python -m srtrack.compare results/eval/lasher/*/metrics.json --out results/eval/lasher/comparison \
        [--config results/config.resolved.yaml]

Reads the `metrics.json` files `python -m srtrack.evaluate` wrote (one per tracker and seed, same
benchmark) and draws the success/precision (or long-term precision-recall, or EAO) curves and the
attribute bars of all of them together: one line per label (its seeds as a band), each legend
sorted by its score. With `--config` (which says where the benchmark's images are) it also draws
`frames_<benchmark>.png`: a few frames of the sequences on which the trackers differ most, with each
tracker's box (its first seed) and the ground truth.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import run_main
from srtrack.config import Config
from srtrack.errors import ConfigError, SrtrackError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srtrack.compare", description=__doc__.split("\n")[0])
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files of one benchmark")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the plots")
    parser.add_argument("--config", action="append", type=Path, default=[], metavar="FILE",
                        help="the study's config (repeatable, later files win): also draw qualitative frames")
    parser.add_argument("--frames-sequences", type=int, default=2, metavar="N",
                        help="sequences in the qualitative frames (default 2)")
    args = parser.parse_args(argv)

    def body() -> int:
        from srtrack.config import load_config

        cfg = load_config(args.config) if args.config else None
        return draw(args.metrics, args.out, cfg, args.frames_sequences)

    return run_main(body)


def read_metrics(path: Path) -> dict:
    """One evaluation's metrics.json, checked to be whole: a truncated file or one without its scores
    is an error naming the file, not a traceback in the plotting."""
    from srtrack.errors import DatasetFormatError
    from srtrack.io import require_file

    require_file(path, "metrics file")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"is not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"is not complete JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): the "
                                 "evaluation that wrote it did not finish; run python -m srtrack.evaluate again",
                                 path) from None
    profiles = document.get("profiles") if isinstance(document, dict) else None
    missing = [k for k in ("benchmark", "tracker", "profiles") if not isinstance(document, dict) or k not in document]
    broken = [name for name, p in (profiles or {}).items()
              if not isinstance(p, dict) or not isinstance(p.get("summary"), dict) or not isinstance(p.get("curves"), dict)]
    if missing or not isinstance(profiles, dict) or broken:
        what = (f"no {', '.join(missing)}" if missing else f"profile(s) {', '.join(broken)} without summary and curves"
                if broken else "its profiles are not a mapping")
        raise DatasetFormatError(f"is not a metrics.json of python -m srtrack.evaluate ({what})", path)
    return document


def legend_name(document: dict) -> str:
    """A tracker's name on the plots: its label (its tracker name in files written before labels were
    recorded), and on the RGB split the modality it was tuned on, which tells rgbt.srft from rgbd.srft."""
    name = document.get("label", document["tracker"])
    return f"{name} ({document['tuned_on']})" if document.get("tuned_on") else name


def draw(paths: list[Path], out: Path, cfg: Config | None = None, frames_sequences: int = 2) -> int:
    """Plot the trackers of `paths` (one benchmark) into `out`; with `cfg`, the qualitative frames too."""
    from srtrack.io import Publication, prepare_output_dir
    from srtrack.metrics.plots import plot_attributes, plot_curves

    documents = [read_metrics(path) for path in paths]
    prepare_output_dir(out)
    benchmarks = {d["benchmark"] for d in documents}
    if len(benchmarks) != 1:
        raise ConfigError(f"the files score different benchmarks ({sorted(benchmarks)}): "
                          + ", ".join(str(p) for p in paths))
    trackers: dict[str, list[dict]] = {}
    for d in documents:
        trackers.setdefault(legend_name(d), []).append(d["profiles"])
    benchmark = benchmarks.pop()
    with Publication(out) as staged:
        written = plot_curves(trackers, benchmark, staged.dir) + plot_attributes(trackers, benchmark, staged.dir)
        if cfg is not None and frames_sequences > 0:
            written += qualitative_frames(cfg, list(zip(paths, documents)), benchmark, frames_sequences, staged.dir)
    written = [staged.final(path) for path in written]
    print(f"compare {benchmark}: {len(trackers)} trackers ({len(documents)} evaluations) -> "
          f"{', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def qualitative_frames(cfg: Config, evaluations: list[tuple[Path, dict]], benchmark: str, count: int,
                       out: Path) -> list[Path]:
    """`frames_<benchmark>.png` from each tracker's first evaluation (lowest seed): its per-sequence
    table picks the sequences, its raw results give the boxes. Nothing, with a warning, for files
    that do not record their split (written before it was) or whose raw results are gone."""
    import pandas as pd

    from srtrack.datasets.index import load_sequences
    from srtrack.evaluate import read_results
    from srtrack.evaluation.qualitative import draw_frames, most_disputed
    from srtrack.figures import pyplot
    from srtrack.layout import TABLE_FILE, frames_plot
    from srtrack.metrics.plots import colours

    first: dict[str, tuple[Path, dict]] = {}
    for path, document in sorted(evaluations, key=lambda e: e[1].get("seed", 0)):
        first.setdefault(legend_name(document), (path, document))
    splits = {document.get("data") for _, document in first.values()}
    if None in splits or len(splits) != 1:
        print(f"compare {benchmark}: no qualitative frames (the metrics files do not name one prepared split)",
              file=sys.stderr)
        return []
    tables = {name: pd.read_csv(path.parent / TABLE_FILE) if (path.parent / TABLE_FILE).is_file() else None
              for name, (path, _) in first.items()}
    chosen = most_disputed(tables, count)
    sequences = load_sequences(Path(splits.pop()), cfg.datasets, names=set(chosen))
    sequences.sort(key=lambda s: chosen.index(s.name))
    boxes = {}
    for name, (_, document) in first.items():
        try:
            results, _ = read_results(Path(document["raw_results"]), sequences)
        except SrtrackError as exc:
            print(f"compare {benchmark}: {name} left out of the qualitative frames: {exc}", file=sys.stderr)
            continue
        boxes[name] = {sequence: found[0] for sequence, found in results.items()}
    if not sequences or not boxes:
        return []
    title = f"{benchmark}: the {len(sequences)} sequence(s) on which the trackers differ most (first seed of each)"
    return [draw_frames(sequences, boxes, colours(pyplot(), list(boxes)), title, out / frames_plot(benchmark))]


if __name__ == "__main__":
    sys.exit(main())
