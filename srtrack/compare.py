"""`python -m srtrack.compare`: one benchmark's curves with every evaluated tracker on the same axes.

    python -m srtrack.compare results/eval/lasher/*/metrics.json --out results/eval/lasher/comparison

Reads the `metrics.json` files `python -m srtrack.evaluate` wrote (one per tracker and seed, same
benchmark) and draws the success/precision (or long-term precision-recall, or EAO) curves and the
attribute bars of all of them together: one line per label (its seeds as a band), each legend
sorted by its score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import run_main
from srtrack.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srtrack.compare", description=__doc__.split("\n")[0])
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files of one benchmark")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the plots")
    args = parser.parse_args(argv)
    return run_main(lambda: draw(args.metrics, args.out))


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


def draw(paths: list[Path], out: Path) -> int:
    """Plot the trackers of `paths` (one benchmark) into `out`."""
    from srtrack.io import Publication, prepare_output_dir
    from srtrack.metrics.plots import plot_attributes, plot_curves

    documents = [read_metrics(path) for path in paths]
    prepare_output_dir(out)
    benchmarks = {d["benchmark"] for d in documents}
    if len(benchmarks) != 1:
        raise ConfigError(f"the files score different benchmarks ({sorted(benchmarks)}): "
                          + ", ".join(str(p) for p in paths))
    trackers: dict[str, list[dict]] = {}
    for d in documents:  # files written before labels were recorded: one tracker each
        trackers.setdefault(d.get("label", d["tracker"]), []).append(d["profiles"])
    benchmark = benchmarks.pop()
    with Publication(out) as staged:
        written = plot_curves(trackers, benchmark, staged.dir) + plot_attributes(trackers, benchmark, staged.dir)
    written = [staged.final(path) for path in written]
    print(f"compare {benchmark}: {len(trackers)} trackers ({len(documents)} evaluations) -> "
          f"{', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
