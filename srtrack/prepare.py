"""`python -m srtrack.prepare`: scan one benchmark split, validate every sequence, write its index.

    python -m srtrack.prepare --config config/config.yaml --dataset lasher --split test \
        --out results/data/lasher-test

Every sequence is read by the benchmark's reader and checked (frame counts across modalities and
annotations, every GT row, absent flags, images decodable, 16-bit depth, boxes inside the image).
All problems of all sequences are reported in one pass, each with file and line. The previous
index in `--out` is removed first; with any error the command exits 1, writes no index and marks
its MLflow run FAILED; otherwise `index.json`, `sequences.csv` and `stats.png` are written together
(index.json last) and logged to MLflow.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import EXIT_DATA_ERROR, add_config_arguments, config_from_args, parse, run_main
from srtrack.datasets import READERS, create_reader
from srtrack.datasets.index import write_index
from srtrack.datasets.scan import ImageChecks, located_root, scan_split
from srtrack.errors import ProblemLog
from srtrack.io import Publication, prepare_output_dir
from srtrack.layout import INDEX_FILE
from srtrack.mlflow_runs import stage_run

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.prepare", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--dataset", required=True, help=f"benchmark: {', '.join(sorted(READERS))}")
    parser.add_argument("--split", required=True, choices=["train", "test"])
    parser.add_argument("--out", required=True, type=Path, help="output folder for index.json and friends")
    parser.add_argument("--check-images", choices=["all", "sampled", "none"], default=None,
                        help="override prepare.check_images: decode every frame, a sample, or none")
    return parser


def _report(problems: ProblemLog) -> None:
    for problem in problems.items:
        print(problem, file=sys.stderr)


def only_frames_missing(problems: ProblemLog) -> bool:
    """Every error is a missing frame folder (or the frame count that follows from it): a layout of
    annotation files only."""
    kinds = [p.message.endswith("frame folder is missing") or p.message.startswith("frame counts differ")
             for p in problems.errors]
    return bool(kinds) and all(kinds) and any(p.message.endswith("frame folder is missing") for p in problems.errors)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)

    def body() -> int:
        cfg = config_from_args(args)
        check_mode = args.check_images or cfg.prepare.check_images
        reader = create_reader(args.dataset, cfg.datasets)
        # a missing root is a config error, raised here (naming where it is set) before any MLflow run exists
        log.info("reading %s %s from %s", reader.title, args.split, located_root(cfg, reader))
        prepare_output_dir(args.out)
        stale = args.out / INDEX_FILE
        if stale.is_file():  # whatever happens below, the old index does not outlive this run
            stale.unlink()
            log.info("removed the previous %s", stale)
        with stage_run(cfg, "prepare", name=f"prepare {args.dataset}/{args.split}",
                       sections=("study", f"datasets.{args.dataset}", "encoding", "prepare"),
                       parent_run_id=args.parent_run_id, dataset=args.dataset, split=args.split,
                       modality=reader.modality) as run:
            scanned = scan_split(reader, args.split, ImageChecks(check_mode, cfg.prepare.sample_every,
                                                                 cfg.prepare.max_frame_pixels))
            index, problems = scanned.index, scanned.problems
            _report(problems)
            run.log_metrics({"n_errors": len(problems.errors), "n_warnings": len(problems.warnings)})
            if index is None:
                summary = f"{len(problems.errors)} error(s), {len(problems.warnings)} warning(s)"
                print(f"prepare {args.dataset} {args.split}: {summary}; no index written", file=sys.stderr)
                if only_frames_missing(problems):
                    print(f"only the frame folders are missing: to score result files from the annotations alone, "
                          f"run `python -m srtrack.evaluate --benchmark {args.dataset} --results ...` (no prepare)",
                          file=sys.stderr)
                run.set_tags({"outcome": "invalid data"})
                run.fail(f"invalid data: {summary}; first: {problems.errors[0]}")
                return EXIT_DATA_ERROR
            run.log_split(index, args.split)
            with Publication(args.out, last=INDEX_FILE) as staged:
                written = write_index(staged.dir, index)
            run.log_outputs([staged.final(path) for path in written], "index")
            run.log_metrics({k: index[k] for k in ("n_sequences", "n_frames", "n_absent")})
            run.log_params({"list": index["list"], "check_images": check_mode})
            print(f"prepare {args.dataset} {args.split}: {index['n_sequences']} sequences, {index['n_frames']} frames, "
                  f"{index['n_absent']} absent, {len(problems.warnings)} warning(s) -> {args.out / INDEX_FILE}",
                  file=sys.stderr)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
