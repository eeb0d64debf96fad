"""`python -m srtrack.synth`: write the synthetic RGB, RGB-T, RGB-D and RGB-E benchmarks.

    python -m srtrack.synth --config config/config.yaml [--out results/synthetic] [--preview sheet.png]

Writes GOT-10k-layout RGB data (pre-training and held-out test) and LasHeR / DepthTrack / VisEvent
layout benchmarks (train and test splits) under `synth.root`, deterministically from `study.seed`:
each benchmark in its own folder with its `manifest.json` (`--only`: some of them; the DAG runs one
job per benchmark, so a study renders only what it reads). `--preview` reads a few generated test
sequences back through the real readers and writes a contact sheet (RGB | X modality | GT box).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import add_config_arguments, config_from_args, parse, run_main
from srtrack.config import Config
from srtrack.datasets.preview import write_contact_sheet
from srtrack import layout
from srtrack.synth.generate import BENCHMARKS, generate, synthetic_reader
from srtrack.mlflow_runs import stage_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.synth", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, help="output root (default: synth.root)")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHMARKS], default=None,
                        help="generate only these benchmarks")
    parser.add_argument("--preview", type=Path, default=None, help="also write a PNG contact sheet here")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes rendering sequences at once (the files are the same for any number)")
    return parser


def preview_sequences(cfg: Config, out: Path, manifest: dict, per_benchmark: int = 2) -> list:
    """A few sequences per benchmark, read back through the real readers; hard ones first."""
    chosen = []
    for bench in BENCHMARKS:
        entry = manifest["benchmarks"].get(bench.name)
        if entry is None:
            continue
        records = entry["splits"].get("test") or entry["splits"]["train"]
        ranked = sorted(records, key=lambda r: -len(r["attributes"]))[:per_benchmark]
        reader = synthetic_reader(cfg.datasets, bench.name, out)
        chosen.extend(reader.read(r["name"]) for r in ranked)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)

    def body() -> int:
        cfg = config_from_args(args)
        out = args.out or cfg.synth.root
        names = args.only or [b.name for b in BENCHMARKS]
        with stage_run(cfg, "synth", name=f"synth {'+'.join(names)}", sections=("study", "synth"),
                       parent_run_id=args.parent_run_id) as run:
            manifest = generate(cfg.synth, cfg.study.seed, out, names, workers=max(1, args.workers))
            run.log_metrics({"frames": manifest["frames"], "seconds": manifest["seconds"],
                             "frames_per_second": manifest["frames"] / max(manifest["seconds"], 1e-9)})
            for name in manifest["benchmarks"]:
                run.log_artifact(Path(layout.synth_manifest(out, name)), f"synth/{name}")
            if args.preview is not None:
                write_contact_sheet(args.preview, preview_sequences(cfg, out, manifest), cfg.encoding)
                run.log_outputs([args.preview], "synth")
        print(f"synth: {manifest['frames']} frames in {manifest['seconds']} s -> {out}", file=sys.stderr)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
