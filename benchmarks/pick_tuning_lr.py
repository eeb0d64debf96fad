"""Pick the embedded default's tuning LR scale on a held-out RGB validation split (never a test split).

    .venv/bin/python benchmarks/pick_tuning_lr.py [--scales 1 4 16 64] [--work DIR] [--json out.json]

The embedded default tunes for 40 steps where the released tuning runs 20,000-57,000, so it scales every
released per-group LR (config/paper/common.yaml) by one factor. This picks that factor, as
config/config.yaml documents: full fine-tuning (one seed) is tuned on the RGB-T training split at each
scale and scored on RGB sequences synthesised with another seed (`--validation-seed`, so neither
the pre-training data nor the test split), beside the RGB tracker and the untuned RGB-X tracker. The
pick is the smallest scale at which full fine-tuning scores at least `--forgets` SR points below the
untuned RGB-X tracker (forgetting by tuning) while its training probe's IoU still improves. Every
stage is the pipeline's own CLI (synth, prepare, tune, evaluate), two 1-thread processes at a time;
about 8 minutes on 2 cores. Prints one line per tracker with the paired bootstrap interval of its
difference to both references.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

from srtrack import layout
from srtrack.report.uncertainty import paired_bootstrap, seed_mean

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "config.yaml"
RELEASED_LRS = REPO / "config" / "paper" / "common.yaml"  # train.lr: the released per-group LRs
RGB_TRACKER = REPO / "checkpoints" / "embedded-default-rgb.safetensors"


def released_lrs() -> dict[str, float]:
    """The released per-group LRs (groups left null follow their RGB counterparts)."""
    lrs = yaml.safe_load(RELEASED_LRS.read_text())["train"]["lr"]
    return {group: float(value) for group, value in lrs.items() if value is not None}


class Stages:
    """The pipeline's CLIs run in `work` with the default config and this study's data roots."""

    def __init__(self, work: Path, modality: str, tune_benchmark: str, validation_seed: int, sequences: int):
        self.work, self.modality, self.tune_benchmark = work, modality, tune_benchmark
        self.validation_seed, self.sequences = validation_seed, sequences
        self.roots = {tune_benchmark: layout.synth_dir(work / "synthetic", tune_benchmark),
                      "got10k": layout.synth_dir(work / "validation", "got10k")}
        self.released_lrs = released_lrs()

    def run(self, module: str, *args: str, log: str) -> None:
        sets = [word for name, root in self.roots.items() for word in ("--set", f"datasets.{name}.root={root}")]
        command = [sys.executable, "-m", f"srtrack.{module}", "--config", str(CONFIG), *sets, *args]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with (self.work / f"{log}.log").open("w") as out:
            if subprocess.run(command, cwd=self.work, env=env, stdout=out, stderr=subprocess.STDOUT).returncode:
                sys.exit(f"{module} failed: see {self.work / log}.log")

    def data(self) -> None:
        """The tuning split (the default's data) and the validation split (another seed, RGB only)."""
        self.run("synth", "--only", self.tune_benchmark, "--out", str(self.work / "synthetic"), "--workers", "2",
                 log="synth-tune")
        self.run("synth", "--only", "got10k", "--out", str(self.work / "validation"), "--workers", "2",
                 "--set", f"study.seed={self.validation_seed}", "--set", "synth.pretrain={sequences: 1, frames: 20}",
                 "--set", f"synth.rgb_test={{sequences: {self.sequences}, frames: 40}}", log="synth-validation")
        self.run("prepare", "--dataset", self.tune_benchmark, "--split", "train", "--out",
                 str(self.work / "data" / "tune"), log="prepare-tune")
        self.run("prepare", "--dataset", "got10k", "--split", "test", "--out", str(self.work / "data" / "validation"),
                 log="prepare-validation")

    def tune(self, name: str, scale: float, label: str, seed: int) -> None:
        lrs = [word for group, lr in self.released_lrs.items() for word in ("--set", f"train.lr.{group}={lr * scale:.3e}")]
        self.run("tune", "--modality", self.modality, "--label", label, "--set", f"study.seed={seed}", *lrs,
                 "--data", str(self.work / "data" / "tune"), "--init", str(RGB_TRACKER),
                 "--out", str(self.work / name), log=f"tune-{name}")

    def score(self, name: str, checkpoint: Path, tuned_on: str | None) -> None:
        self.run("evaluate", "--data", str(self.work / "data" / "validation"), "--checkpoint", str(checkpoint),
                 "--label", "pretrained" if checkpoint == RGB_TRACKER else "full", "--name", name,
                 "--out", str(self.work / "scores" / name), *(["--tuned-on", tuned_on] if tuned_on else []),
                 log=f"evaluate-{name}")

    def per_sequence(self, name: str) -> pd.Series:
        """Per-sequence success AUC of the split's (only) evaluator profile."""
        table = pd.read_csv(self.work / "scores" / name / layout.TABLE_FILE)
        return seed_mean([table], "success_auc", table["profile"].iloc[0])

    def probe_iou(self, name: str) -> tuple[float, float]:
        metrics = json.loads((self.work / name / layout.METRICS_FILE).read_text())
        return metrics["probe_before"]["iou"], metrics["probe_after"]["iou"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--modality", default="rgbt")
    parser.add_argument("--tune-benchmark", default="lasher")
    parser.add_argument("--seed", type=int, default=0, help="the tuning run's seed")
    parser.add_argument("--validation-seed", type=int, default=1000, help="synthesis seed of the validation split")
    parser.add_argument("--sequences", type=int, default=32, help="validation sequences")
    parser.add_argument("--forgets", type=float, default=5.0, help="SR points below the untuned tracker to pick a scale")
    parser.add_argument("--work", type=Path, default=None, help="a new or empty folder to run in and keep")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pick-lr-") as scratch:
        work = (args.work or Path(scratch)).resolve()
        if work.exists() and any(work.iterdir()):
            sys.exit(f"--work {work}: the folder is not empty (runs there would resume instead of starting)")
        work.mkdir(parents=True, exist_ok=True)
        stages = Stages(work, args.modality, args.tune_benchmark, args.validation_seed, args.sequences)
        stages.data()
        runs = {f"full_x{scale:g}": scale for scale in args.scales}
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda item: stages.tune(item[0], item[1], "full", args.seed), runs.items()))
            jobs = {"rgb_tracker": (RGB_TRACKER, None), "untuned": (RGB_TRACKER, args.modality),
                    **{name: (work / name / layout.MODEL_FILE, args.modality) for name in runs}}
            list(pool.map(lambda item: stages.score(item[0], *item[1]), jobs.items()))
        rgb, untuned = stages.per_sequence("rgb_tracker"), stages.per_sequence("untuned")
        print(f"validation split: {len(rgb)} RGB sequences (synthesis seed {args.validation_seed}); SR, percent")
        print(f"  RGB tracker {100 * rgb.mean():.1f}; untuned RGB-X tracker {100 * untuned.mean():.1f} "
              f"({paired_bootstrap(untuned, rgb).text()} against the RGB tracker)")
        rows, pick = [], None
        for name, scale in runs.items():
            scores, (before, after) = stages.per_sequence(name), stages.probe_iou(name)
            to_rgb, to_untuned = paired_bootstrap(scores, rgb), paired_bootstrap(scores, untuned)
            rows.append({"scale": scale, "sr": 100 * scores.mean(), "vs_rgb_tracker": to_rgb.text(),
                         "vs_untuned": to_untuned.text(), "probe_iou": [before, after]})
            print(f"  full fine-tuning x{scale:g}: {100 * scores.mean():.1f}; against the RGB tracker {to_rgb.text()}, "
                  f"the untuned tracker {to_untuned.text()}; probe IoU {before:.3f} -> {after:.3f}")
            if pick is None and to_untuned.diff <= -args.forgets and after > before:
                pick = scale
        print(f"pick: x{pick:g}" if pick is not None else f"pick: none of {args.scales} forgets {args.forgets} points")
        if args.json:
            args.json.write_text(json.dumps({"rgb_tracker": 100 * rgb.mean(), "untuned": 100 * untuned.mean(),
                                             "runs": rows, "pick": pick}, indent=2))


if __name__ == "__main__":
    main()
