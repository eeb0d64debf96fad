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


def draw(paths: list[Path], out: Path) -> int:
    """Plot the trackers of `paths` (one benchmark) into `out`."""
    from srtrack.metrics.plots import plot_attributes, plot_curves

    documents = [json.loads(path.read_text()) for path in paths]
    benchmarks = {d["benchmark"] for d in documents}
    if len(benchmarks) != 1:
        raise ConfigError(f"the files score different benchmarks ({sorted(benchmarks)}): "
                          + ", ".join(str(p) for p in paths))
    trackers: dict[str, list[dict]] = {}
    for d in documents:  # files written before labels were recorded: one tracker each
        trackers.setdefault(d.get("label", d["tracker"]), []).append(d["profiles"])
    out.mkdir(parents=True, exist_ok=True)
    benchmark = benchmarks.pop()
    written = plot_curves(trackers, benchmark, out) + plot_attributes(trackers, benchmark, out)
    print(f"compare {benchmark}: {len(trackers)} trackers ({len(documents)} evaluations) -> "
          f"{', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
