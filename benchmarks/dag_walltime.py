"""Benchmark: wall time of the whole DAG, from nothing, through `snakemake --cores N`.

    .venv/bin/python benchmarks/dag_walltime.py [--config smoke|default|tradeoff|modalities|forgetting] [--cores 2] [--json out.json]
        [--keep DIR]

`smoke` is config/smoke.yaml over the default (the test suite's DAG); `default` is the embedded
default, i.e. `make demo` (budget: 12 minutes on 2 cores); `tradeoff` is config/tradeoff.yaml (budget:
45 minutes); `modalities` is config/modalities.yaml; `forgetting` config/forgetting.yaml (the default with
44 held-out RGB sequences). Runs in a fresh temporary directory (with the
shipped `checkpoints/` linked in), so nothing is reused, and reports the wall time and, from the
jobs' usage records (`results/benchmarks/`, srtrack.job_usage), the summed job time per rule (jobs
overlap when --cores allows, so the sums can exceed the wall time). `--keep DIR` runs in DIR (new or
empty) instead and keeps its results, report included.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {"smoke": [REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml"],
           "default": [REPO / "config" / "config.yaml"],
           "tradeoff": [REPO / "config" / "config.yaml", REPO / "config" / "tradeoff.yaml"],
           "modalities": [REPO / "config" / "config.yaml", REPO / "config" / "modalities.yaml"],
           "forgetting": [REPO / "config" / "config.yaml", REPO / "config" / "forgetting.yaml"]}


def rule_times(benchmarks: Path) -> dict[str, tuple[int, float]]:
    """{rule: (jobs, summed seconds)} from the jobs' usage records (TSV, `s` column)."""
    totals: dict[str, list[float]] = defaultdict(list)
    for tsv in benchmarks.rglob("*.tsv"):
        rule = tsv.relative_to(benchmarks).parts[0].removesuffix(".tsv")
        with tsv.open() as handle:
            totals[rule] += [float(row["s"]) for row in csv.DictReader(handle, delimiter="\t")]
    return {rule: (len(times), sum(times)) for rule, times in sorted(totals.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="smoke")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="run in this new or empty folder and keep it")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            sys.exit(f"--keep {args.keep}: the folder is not empty (the wall time is measured from nothing)")
        args.keep.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext(str(args.keep.resolve())) if args.keep else tempfile.TemporaryDirectory(
            prefix="srtrack-dag-") as tmp:
        command = [str(bin_dir / "snakemake"), "-s", str(REPO / "Snakefile"), "--cores", str(args.cores),
                   "--configfile", *map(str, CONFIGS[args.config])]
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        (Path(tmp) / "checkpoints").symlink_to(REPO / "checkpoints")  # model.pretrained is relative to the run folder
        start = time.perf_counter()
        result = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode:
            sys.exit(f"snakemake failed:\n{result.stderr[-4000:]}")
        out = next(Path(tmp).glob("results/**/benchmarks"), None)
        rules = rule_times(out) if out else {}
    print(f"{args.config} DAG on {args.cores} cores: {wall:.0f} s wall ({wall / 60:.1f} min)")
    print("| rule | jobs | summed job time (s) |\n|---|---|---|")
    for rule, (jobs, seconds) in rules.items():
        print(f"| {rule} | {jobs} | {seconds:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"config": args.config, "cores": args.cores, "wall_s": wall,
                                         "rules": {r: {"jobs": j, "seconds": s} for r, (j, s) in rules.items()}},
                                        indent=2))


if __name__ == "__main__":
    main()
