"""`python -m srtrack.evaluate`: track every test sequence of a benchmark and score it.

    python -m srtrack.evaluate --config config/config.yaml --data results/data/lasher-test \
        --checkpoint results/tune/rgbt/srft/seed0/model.pth --name srft --label srft \
        --out results/eval/lasher/srft/seed0
    python -m srtrack.evaluate --config config/config.yaml --data results/data/lasher-test \
        --results published/ViPT/lasher --name ViPT --out results/eval/lasher/ViPT

One process scores one tracker on several splits: `--data`/`--out` repeat in pairs (a modality's test
benchmarks), and `--retain DATA OUT` adds the RGB split on which a tracker tuned on `--tuned-on` is
scored for what it retains. Each split is its own MLflow run and output folder; the imports and the
checkpoint's hash are paid for once, the network is built per split (the baseline runs as another
network on RGB data) (the DAG's `evaluate_<modality>` jobs):

    python -m srtrack.evaluate --config config/config.yaml --checkpoint results/tune/rgbt/srft/seed0/model.pth \
        --name srft --label srft --data results/data/lasher-test --out results/eval/lasher/srft/seed0 \
        --retain results/data/got10k-test results/retention/rgbt.srft/seed0 --tuned-on rgbt --retain-sequences 16

With `--checkpoint`, the tracker runs over the split's sequences in batches of `evaluate.batch`
(lockstep, one forward per frame for the batch), over `evaluate.workers` processes (GPUs when
present). The network is the one our `model.pth` names; `--model` maps the file into another one
(the RGB tracker as the RGB-X baseline); a file that names none (released weights) runs as
`model.name`, or its RGB counterpart on RGB data (srtrack/models/networks.py). Raw results go to
`raw/<checkpoint sha256[:16]>-<network>-<settings hash>/<sequence>.txt` (+ `_confidence.value`), one
file pair per sequence written atomically, so a rerun resumes where it stopped and another
checkpoint, network or tracking setting (crops, encodings, precision) never reuses them.
With `--results`, another tracker's raw results (`<sequence>.txt`, comma/space/tab separated
x,y,w,h; optional `<sequence>_confidence.value`) are scored by the same code, reading only the
annotations (and, for the VOT measures, the image sizes). `--benchmark NAME` instead of `--data`
reads the test split from `datasets.NAME.root` without prepare (annotation files alone), and
several trackers' folders (or a folder of them) score in one process, each into OUT/<tracker>/,
with OUT/scores.csv and their figures on the same axes under one `compare` MLflow run:

    python -m srtrack.evaluate --config config/config.yaml --benchmark lasher \
        --results published/lasher mine/lasher --out results/scores/lasher

Scores: with the benchmark's evaluator profiles (its reader's defaults, or `evaluate.profiles`).
Written to `--out` and logged to MLflow: `metrics.json` (tracker, label, seed, summaries, curves,
per-attribute values and `result_warnings`: short, long, aligned files and NaN rows),
`per_sequence.csv`, per profile `curves_<profile>` (OPE success / precision / normalized
precision), `pr_curve_<profile>` (VOT long-term) or `eao_curve_<profile>` (VOT multistart) as PNG
and PDF, the attribute bars and radar where sequences carry attributes, and the vot-toolkit
reports when `evaluate.vot_toolkit` is on.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Sequence as Seq

import numpy as np

from srtrack.cli_common import add_config_arguments, config_from_args, parse, run_main
from srtrack.config import Config
from srtrack.config.types import CandidateEliminationConfig, ModelConfig
from srtrack.datasets import READERS
from srtrack.errors import ConfigError, DatasetFormatError, ProblemLog
from srtrack.inference.results import read_confidence_file, read_result_boxes, result_paths
from srtrack.io import Publication, file_sha256, prepare_output_dir, require_file, write_json_atomic, write_text_atomic
from srtrack.layout import METRICS_FILE, TABLE_FILE
from srtrack.study import MODALITIES, Label, Study

log = logging.getLogger("srtrack.evaluate")
TOOLKIT_DIR = "vot-toolkit"  # evaluate.vot_toolkit's workspaces, one per VOT profile
SCORES_FILE = "scores.csv"  # several trackers' results scored in one call: one row per tracker and profile
WARNINGS_SHOWN = 10  # annotation warnings printed by --benchmark (prepare's index keeps all of them)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.evaluate", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--data", type=Path, action="append",
                        help="prepared test split (folder with index.json); repeat it with --out for several")
    parser.add_argument("--benchmark", choices=sorted(READERS), default=None,
                        help="with --results instead of --data: the benchmark's test split read straight from "
                             "datasets.<benchmark>.root, annotation files alone (no prepare, no frames unless a "
                             "profile needs image sizes)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="tracker weights to run (model.pth or an OSTrack .pth.tar)")
    source.add_argument("--results", type=Path, nargs="+", metavar="FOLDER",
                        help="raw results to score: a tracker's folder of <sequence>.txt files, or a folder of such "
                             "folders (a downloaded results archive); several trackers are named by their folders "
                             "and each writes to OUT/<tracker>/, with OUT/scores.csv and curves comparing them")
    parser.add_argument("--name", default=None,
                        help="the tracker's name in tables and plots (e.g. the method); required with --checkpoint, "
                             "with --results the folder's name by default")
    parser.add_argument("--label", default=None,
                        help="the study label of the tracker (a method, a study.variants entry, or pretrained: the "
                             "RGB tracker run as the RGB-X network); recorded in MLflow (default: --name)")
    parser.add_argument("--model", default=None, help="tracker variant (default: model.name; RGB data: ostrack_<size>)")
    parser.add_argument("--out", required=True, type=Path, action="append",
                        help="output folder, one per --data in the same order")
    parser.add_argument("--workers", type=int, default=None, help="tracking processes (default: evaluate.workers)")
    parser.add_argument("--max-sequences", type=int, default=None, metavar="N",
                        help="only the first N sequences of the split (in index order)")
    parser.add_argument("--tuned-on", default=None, choices=list(MODALITIES),
                        help="the modality the tracker was tuned on, when it is scored on another one (an RGB-X "
                             "tracker on RGB data: what it retains); tagged for the report. With --retain it "
                             "applies to the retained split only")
    parser.add_argument("--retain", nargs=2, type=Path, default=None, metavar=("DATA", "OUT"),
                        help="also score the tracker, tuned on --tuned-on, on this RGB split (what it retains), "
                             "writing to OUT")
    parser.add_argument("--retain-sequences", type=int, default=None, metavar="N",
                        help="only the first N sequences of the --retain split")
    return parser


@dataclasses.dataclass(frozen=True)
class Split:
    """One split the tracker is scored on in this process, and where its scores go: a prepared split
    (`data`), or a benchmark's test annotations read from its configured root (`benchmark`)."""

    data: Path | None
    out: Path
    max_sequences: int | None
    tuned_on: str | None
    benchmark: str | None = None


def splits_to_score(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Split]:
    """The --data/--out pairs (or the --benchmark and its --out), then the --retain split; a usage
    error when they do not pair up."""
    if args.checkpoint is not None and args.name is None:
        parser.error("--checkpoint needs --name: the tracker's name in tables and plots")
    if args.benchmark is not None:
        if args.results is None or args.data or args.retain is not None or len(args.out) != 1:
            parser.error("--benchmark scores --results on the benchmark's annotations: give it with one --out, "
                         "without --data, --checkpoint or --retain")
        return [Split(None, args.out[0], args.max_sequences, args.tuned_on, args.benchmark)]
    if not args.data:
        parser.error("give --data (a prepared test split) or, with --results, --benchmark")
    if len(args.data) != len(args.out):
        parser.error(f"{len(args.data)} --data but {len(args.out)} --out: give one output folder per split")
    if args.retain is not None and args.tuned_on is None:
        parser.error("--retain needs --tuned-on: the modality whose tuning the retained split measures")
    if args.retain_sequences is not None and args.retain is None:
        parser.error("--retain-sequences without --retain")
    if args.results is not None and (len(args.data) > 1 or args.retain is not None):
        parser.error("--results holds one benchmark's files: give one --data and no --retain")
    tests_tuned_on = None if args.retain is not None else args.tuned_on
    splits = [Split(data, out, args.max_sequences, tests_tuned_on) for data, out in zip(args.data, args.out)]
    if args.retain is not None:
        splits.append(Split(*args.retain, args.retain_sequences, args.tuned_on))
    outs = [s.out.resolve() for s in splits]
    if len(set(outs)) < len(outs):
        parser.error("two splits share an output folder")
    return splits


@dataclasses.dataclass(frozen=True)
class Scored:
    """One tracker scored on one split: its name and label in tables, its raw results (another
    tracker's; None: tracked here from --checkpoint) and its output folder."""

    name: str
    label: str
    results: Path | None
    out: Path


def result_folders(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[list[tuple[str, Path]], bool]:
    """The trackers behind --results as (name, folder), and whether they are a set (several trackers,
    or a folder of tracker folders: each scored into OUT/<name>/) rather than one tracker's folder."""
    found: list[tuple[str, Path]] = []
    grouped = len(args.results) > 1
    for folder in args.results:
        if not folder.is_dir():
            raise ConfigError(f"--results {folder}: {'is a file' if folder.exists() else 'not found'}, expected the "
                              "folder of a tracker's <sequence>.txt result files (or a folder of such folders)")
        if any(folder.glob("*.txt")):
            found.append((folder.name, folder))
            continue
        inner = sorted(p for p in folder.iterdir() if p.is_dir() and any(p.glob("*.txt")))
        if not inner:
            raise ConfigError(f"--results {folder}: holds no <sequence>.txt result files, nor folders of them")
        found.extend((p.name, p) for p in inner)
        grouped = True
    if grouped and args.name is not None:
        parser.error(f"--name names one tracker, but --results holds {len(found)}: they are named by their folders")
    names = [name for name, _ in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"--results: two trackers' folders are named {twice[0]!r}; rename one (the name is the "
                          "tracker's in tables and its output folder)")
    return found, grouped


def main(argv: Seq[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    splits = splits_to_score(parser, args)

    def body() -> int:
        folders, grouped = result_folders(parser, args) if args.results is not None else ([], False)
        return run(args, splits, folders, grouped)

    return run_main(body)


@dataclasses.dataclass(frozen=True)
class OpenedSplit:
    """A split read and checked before anything is tracked."""

    split: Split
    index: dict
    sequences: list
    profiles: list[str]
    needs_images: bool
    rewards: dict[str, float] | None


def run(args: argparse.Namespace, splits: list[Split], folders: list[tuple[str, Path]], grouped: bool) -> int:
    from srtrack.metrics import vot_toolkit

    cfg = config_from_args(args)
    if args.checkpoint is not None:
        require_file(args.checkpoint, "--checkpoint")
    # every split before tracking: a bad index, BOC reference or a missing vot-toolkit fails now, not in an hour
    opened = [open_split(cfg, args, split) for split in splits]
    if cfg.evaluate.vot_toolkit:
        vot_toolkit.require()
    scored = {split: trackers_on(args, split, folders, grouped) for split in splits}
    for split in splits:  # only once every input is known good, so that a mistake leaves no folder behind
        what = "--retain OUT" if args.retain is not None and split.data == args.retain[0] else "--out"
        if grouped:
            prepare_output_dir(split.out, what)
        for tracker in scored[split]:
            prepare_output_dir(tracker.out, what)
    # a study label says which tracker runs (the baseline's network); other trackers' files are only named
    label = Study(cfg).label(args.label) if args.label and args.checkpoint is not None else None
    digest = file_sha256(args.checkpoint) if args.checkpoint is not None else None
    for split in opened:
        if grouped:
            score_group(cfg, args, split, scored[split.split])
        else:
            score_split(cfg, args, split, scored[split.split][0], label, digest, args.parent_run_id, figures=True)
    return 0


def score_group(cfg: Config, args: argparse.Namespace, split: OpenedSplit, trackers: list[Scored]) -> None:
    """Several trackers' results on one split, in one MLflow run (`compare <benchmark>: N trackers`)
    with one child run per tracker: each tracker's scores in OUT/<name>/, and in OUT `scores.csv` and
    the figures of all of them on the same axes (one set of figures, not one per tracker)."""
    from srtrack.mlflow_runs import stage_run

    benchmark = split.index["benchmark"]
    with stage_run(cfg, "compare", name=f"compare {benchmark}: {len(trackers)} trackers",
                   sections=("study", "evaluate", f"datasets.{benchmark}"), parent_run_id=args.parent_run_id,
                   dataset=benchmark, modality=split.index["modality"]) as group:
        group.log_split(split.index, "test")
        all_scores = {tracker.name: score_split(cfg, args, split, tracker, None, None, group.run_id, figures=False)
                      for tracker in trackers}
        written = compare_trackers(all_scores, benchmark, split.split.out)
        group.log_outputs(written, "compare")


def trackers_on(args: argparse.Namespace, split: Split, folders: list[tuple[str, Path]], grouped: bool) -> list[Scored]:
    """Who is scored on `split`: the --checkpoint's tracker, or each --results tracker (in OUT/<name>/
    when they are a set)."""
    if args.checkpoint is not None:
        return [Scored(args.name, args.label or args.name, None, split.out)]
    if not grouped:
        name, folder = folders[0]
        name = args.name or name
        return [Scored(name, args.label or name, folder, split.out)]
    return [Scored(name, name, folder, split.out / name) for name, folder in folders]


def compare_trackers(all_scores: dict[str, dict], benchmark: str, out: Path) -> list[Path]:
    """Several trackers scored in one call: `scores.csv` (one row per tracker and profile, best
    headline first) and the curves and attribute figures of all of them, in OUT; returns the files."""
    import pandas as pd

    from srtrack.metrics.plots import plot_attributes, plot_curves

    rows = [{"tracker": name, "profile": profile, **{k: v for k, v in values["summary"].items() if isinstance(v, float)}}
            for name, scores in all_scores.items() for profile, values in scores.items()]
    table = pd.DataFrame(rows)
    headline = headline_metric(benchmark, table)
    if headline is not None:
        table = table.sort_values(["profile", headline], ascending=[True, False], kind="stable")
    trackers = {name: [scores] for name, scores in all_scores.items()}
    with Publication(out, last=SCORES_FILE) as staged:
        written = plot_curves(trackers, benchmark, staged.dir) + plot_attributes(trackers, benchmark, staged.dir)
        write_text_atomic(staged.dir / SCORES_FILE, table.to_csv(index=False, float_format="%.6f"))
    written = [staged.final(path) for path in [*written, staged.dir / SCORES_FILE]]
    print(f"evaluate {benchmark}: {len(all_scores)} trackers -> {out / SCORES_FILE}", file=sys.stderr)
    return written


def headline_metric(benchmark: str, table) -> str | None:
    """The summary column behind the benchmark's headline (SR: success_auc), where the table has it."""
    column = dict(READERS[benchmark].columns)[READERS[benchmark].headline].split("/", 1)[1]
    return column if column in table.columns else None


def open_split(cfg: Config, args: argparse.Namespace, split: Split) -> OpenedSplit:
    """The split's index, its sequences (the first `max_sequences`), evaluator profiles and BOC rewards."""
    from srtrack.datasets.index import load_index, load_sequences
    from srtrack.metrics.benchmark import IMAGE_SIZE_PROFILES, profiles_for

    index = None if split.benchmark is not None else load_index(split.data)
    benchmark = split.benchmark or index["benchmark"]
    profiles = profiles_for(benchmark, cfg.evaluate.profiles.get(benchmark))
    sized = sorted(IMAGE_SIZE_PROFILES & set(profiles))  # profiles that bound overlaps by the image (VOT)
    if index is None:
        index, sequences = annotations_split(cfg, benchmark, sized)
    else:  # scoring result files reads only annotations, unless a profile needs the image sizes
        sequences = load_sequences(split.data, cfg.datasets, frames=args.checkpoint is not None or bool(sized))
    if not sequences:
        raise ConfigError(f"{split.data or split.benchmark}: the split has no sequences")
    if split.max_sequences is not None:
        sequences = sequences[:split.max_sequences]
    return OpenedSplit(split, index, sequences, list(profiles), bool(sized), boc_rewards(cfg, benchmark))


def annotations_split(cfg: Config, benchmark: str, sized: list[str]) -> tuple[dict, list]:
    """The benchmark's test split read from its configured root without prepare: the annotation
    files alone, or the frames' image sizes too where a profile needs them (`sized`); every problem
    of every sequence in one error."""
    from srtrack.datasets import create_reader
    from srtrack.datasets.scan import ImageChecks, located_root, scan_split

    reader = create_reader(benchmark, cfg.datasets, list_frames=bool(sized))
    located_root(cfg, reader)
    scanned = scan_split(reader, "test", ImageChecks("none", 1, cfg.prepare.max_frame_pixels) if sized else None,
                         keep=True)
    if scanned.index is None:
        if sized:
            first = scanned.problems.errors[0]
            raise ConfigError(f"the {', '.join(sized)} profile(s) of {benchmark} bound overlaps by the image size, so "
                              f"scoring needs its frames; {len(scanned.problems.errors)} error(s) reading them, the "
                              f"first: {first.path}: {first.message}. Without the frames, set "
                              f"evaluate.profiles.{benchmark} to profiles that need none")
        raise DatasetFormatError(scanned.problems.items)
    warnings = scanned.problems.warnings
    for problem in warnings[:WARNINGS_SHOWN]:
        print(problem, file=sys.stderr)
    if len(warnings) > WARNINGS_SHOWN:
        print(f"... and {len(warnings) - WARNINGS_SHOWN} more warning(s) about the annotations", file=sys.stderr)
    return scanned.index, scanned.sequences


def score_split(cfg: Config, args: argparse.Namespace, opened: OpenedSplit, tracker: Scored, label: Label | None,
                digest: str | None, parent_run_id: str | None, *, figures: bool) -> dict:
    """Track one split (with --checkpoint) or read its results, score it, write and log it as one MLflow
    run (under `parent_run_id`), with its own figures when `figures`; returns the scores."""
    from srtrack.metrics import vot_toolkit
    from srtrack.metrics.benchmark import score, with_anchor_runs
    from srtrack.mlflow_runs import run_id_beside, stage_run

    split, index, sequences, out = opened.split, opened.index, opened.sequences, tracker.out
    benchmark, modality = index["benchmark"], index["modality"]
    spec = network = tuned_run = source = None
    if args.checkpoint is not None:
        from srtrack.models.files import source_note
        from srtrack.models.networks import resolve_network

        network = network_choice(cfg, args.model, split.tuned_on, modality, label)
        spec = resolve_network(cfg.model, args.checkpoint, name=network.name, default=network.default)
        beside = run_id_beside(args.checkpoint)
        tuned_run = beside if label is None or not label.is_baseline else None
        source = None if beside else source_note(args.checkpoint)
    # the run records the network that really runs (the checkpoint's own description), not the config's
    recorded = dataclasses.replace(cfg, model=model_that_ran(cfg.model, spec)) if spec else cfg
    name = (f"evaluate {benchmark}/{tracker.label}" + (f" (tuned on {split.tuned_on})" if split.tuned_on else "")
            + f" s{cfg.study.seed}")
    with stage_run(recorded, "evaluate", name=name, sections=("study", "model", "evaluate", "sampler", "encoding",
                                                              f"datasets.{benchmark}"),
                   parent_run_id=parent_run_id, dataset=benchmark, modality=modality,
                   label=tracker.label, method=label.method if label else None,
                   model=spec.name if spec else None, tuned_on=split.tuned_on, checkpoint_sha256=digest,
                   tune_run_id=tuned_run, checkpoint_source=source) as run_:
        run_.log_split(index, "test")
        if spec is not None:
            raw = out / "raw" / f"{digest[:16]}-{spec.name}-{tracking_settings_hash(cfg, spec)}"
            batch = track(cfg, args, with_anchor_runs(sequences, opened.profiles), raw, network, spec)
            if batch is not None:
                run_.log_params({"run/eval_batch": batch})
        else:
            raw = tracker.results
        results, notes = read_results(raw, sequences, cfg.evaluate.short_results, opened.profiles)
        sizes = image_sizes(index, sequences) if opened.needs_images else {}
        scores = score(benchmark, sequences, results, sizes, opened.profiles)
        toolkit = toolkit_scores(cfg, scores, sequences, Path(index["root"]), results, out / TOOLKIT_DIR)
        if opened.rewards is not None:
            add_boc(scores, opened.rewards)
        document = {"benchmark": benchmark, "modality": modality, "tracker": tracker.name,
                    "label": tracker.label, "tuned_on": split.tuned_on, "seed": cfg.study.seed,
                    "sequences": len(sequences),
                    "frames": int(sum(len(s) for s in sequences)), "data": str(split.data or index["root"]),
                    "raw_results": str(raw),
                    "profiles": {p: {k: v[k] for k in ("summary", "curves", "attributes") if k in v}
                                 for p, v in scores.items()},
                    "result_warnings": notes}
        run_.log_metrics(note_counts(notes))
        if toolkit:
            document["vot_toolkit"] = toolkit
            run_.log_metrics({f"vot_toolkit/{p}/{k}": v for p, values in toolkit.items() for k, v in values.items()})
        from srtrack.metrics.plots import plot_attributes, plot_curves

        # published together, metrics.json last (the DAG's output), or not at all
        with Publication(out, last=METRICS_FILE) as staged:
            write_json_atomic(staged.dir / METRICS_FILE, document)
            write_text_atomic(staged.dir / TABLE_FILE, per_sequence_csv(scores))
            plots = (plot_curves({tracker.name: [scores]}, benchmark, staged.dir)
                     + plot_attributes({tracker.name: [scores]}, benchmark, staged.dir)) if figures else []
        plots = [staged.final(path) for path in plots]
        for profile, values in scores.items():
            run_.log_metrics({f"{profile}/{k}": v for k, v in values["summary"].items() if isinstance(v, float)})
        if tuned_run:  # the tuning run shows how its tracker scores
            first = next(iter(scores.values()))["summary"]
            prefix = f"retained/{benchmark}" if split.tuned_on else f"eval/{benchmark}"
            run_.log_metrics_to(tuned_run, {f"{prefix}/{k}": v for k, v in first.items() if isinstance(v, float)})
        reports = [vot_toolkit.report_path(out / TOOLKIT_DIR / p) for p in toolkit]
        run_.log_outputs([out / METRICS_FILE, out / TABLE_FILE, *plots, *reports], "evaluate")
    headline = "; ".join(f"{p}: " + ", ".join(f"{k} {v:.3f}" for k, v in s["summary"].items() if isinstance(v, float))
                         for p, s in scores.items())
    print(f"evaluate {benchmark} {tracker.name}: {len(sequences)} sequences; {headline} -> {out}", file=sys.stderr)
    return scores


def boc_rewards(cfg: Config, benchmark: str) -> dict[str, float] | None:
    """COESOT's per-video BOC rewards when `evaluate.boc.reference` is set (srtrack.metrics.boc)."""
    from srtrack.metrics.boc import BOC_BENCHMARKS, load_rewards

    if benchmark not in BOC_BENCHMARKS or cfg.evaluate.boc.reference is None:
        return None
    return load_rewards(cfg.evaluate.boc.reference, cfg.evaluate.boc.sequences)


def add_boc(scores: dict, rewards: dict[str, float]) -> None:
    """The BOC score into the summary of the profile whose per-video AUC the COESOT toolkit uses."""
    from srtrack.metrics.boc import BOC_PROFILE, boc_score

    if BOC_PROFILE not in scores:
        log.warning("evaluate.boc: BOC uses the %s profile's per-video AUC, which is not among %s; no BOC",
                    BOC_PROFILE, list(scores))
        return
    per_video = {name: values["success_auc"] for name, values in scores[BOC_PROFILE]["per_sequence"].items()}
    scores[BOC_PROFILE]["summary"]["boc"] = boc_score(per_video, rewards)


def toolkit_scores(cfg: Config, scores: dict, sequences, dataset_root: Path, results: dict, workdir: Path) -> dict:
    """With `evaluate.vot_toolkit`, the real vot-toolkit's numbers for the VOT profiles beside ours
    (its workspace in `<workdir>/<profile>/`, reusable with `vot report`)."""
    if not cfg.evaluate.vot_toolkit:
        return {}
    from srtrack.metrics import vot_toolkit

    if not any(p in vot_toolkit.STACKS for p in scores):
        log.warning("evaluate.vot_toolkit: no VOT measure among %s; nothing for the toolkit to check", list(scores))
        return {}
    return vot_toolkit.cross_check(scores, sequences, dataset_root, results, workdir)


def image_sizes(index: dict, sequences) -> dict[str, tuple[int, int]]:
    """(width, height) of every sequence's RGB frames: from the index where prepare recorded it, else
    from its first frame."""
    recorded = {s["name"]: (s.get("resolution") or {}).get("rgb") for s in index["sequences"]}
    return {s.name: tuple(recorded[s.name]) if recorded.get(s.name) else image_size(s) for s in sequences}


def image_size(seq) -> tuple[int, int]:
    """(width, height) of the sequence's first RGB frame (VOT bounds overlaps by the image)."""
    import cv2

    image = cv2.imread(str(seq.frames["rgb"][0]), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetFormatError("cannot read the image", Path(seq.frames["rgb"][0]))
    return int(image.shape[1]), int(image.shape[0])


def read_results(folder: Path, sequences, short: str = "warn",
                 profiles: list[str] | None = None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict]]:
    """{name: (boxes (N, 4), confidences (N,))} and the notes on files that do not fit their sequence.

    Every sequence (and, for VOT multistart among `profiles`, every anchor run `<seq>_<anchor:08d>`)
    must have a box file. A file with fewer rows than frames (an empty one too) is noted, its missing frames are
    scored as each profile's reference does (srtrack/metrics/repair.py); with `short="error"` it
    is an error. Longer files, files aligned to the first present frame and NaN rows are noted too.
    """
    from srtrack.metrics.benchmark import with_anchor_runs

    problems, out, notes = ProblemLog(), {}, []
    for seq in with_anchor_runs(sequences, profiles):
        path, conf_path = result_paths(folder, seq.name)
        if not path.is_file():
            problems.error(path, f"no result file for sequence {seq.name}")
            continue
        boxes = read_result_boxes(path, problems)
        if boxes is None:
            continue
        confidence = read_confidence_file(conf_path, len(boxes), problems) if conf_path.is_file() else np.ones(len(boxes))
        if confidence is None:
            continue
        rows = len(boxes)
        boxes, confidence, aligned = align_to_first_present(boxes, confidence, seq.absent)
        note = {"file": str(path), "rows": rows, "expected": len(seq)}
        if aligned:
            notes.append({**note, "kind": "aligned", "first_present": aligned})
            log.warning("%s: %d rows for %d frames, the target first present at frame %d: the file is taken to "
                        "start there (as SRTrack/ViPT-style scripts write it); the %d frames before count as misses",
                        path, rows, len(seq), aligned, aligned)
        elif rows < len(seq):
            notes.append({**note, "kind": "short"})
            if short == "error":
                problems.error(path, f"{rows} rows, expected {len(seq)} (one per frame; evaluate.short_results: error)")
            else:
                log.warning("%s: %d rows, expected %d: the missing frames are scored as each evaluator scores them "
                            "(misses; rgbt's RGBT210/RGBT234/GTOT score only the rows there; pytracking pads 0,0,0,0)",
                            path, rows, len(seq))
        elif rows > len(seq):
            notes.append({**note, "kind": "long"})
            log.warning("%s: %d rows for %d frames; the extra rows are ignored", path, rows, len(seq))
        nan_rows = int(np.isnan(boxes[:len(seq)]).any(axis=1).sum()) - aligned
        if nan_rows:
            notes.append({**note, "kind": "nan_rows", "nan_rows": nan_rows})
        out[seq.name] = (boxes, confidence)
    if problems.items:
        raise DatasetFormatError(problems.items)
    with_nan = [n for n in notes if n["kind"] == "nan_rows"]
    if with_nan:  # one line, not one per file: a benchmark's worth of files can hold them
        log.warning("%d result file(s) hold NaN rows (%d rows in all), scored as each evaluator scores them; the "
                    "first: %s (%d of %d rows)", len(with_nan), sum(n["nan_rows"] for n in with_nan),
                    with_nan[0]["file"], with_nan[0]["nan_rows"], with_nan[0]["rows"])
    return out, notes


def note_counts(notes: list[dict]) -> dict[str, float]:
    """MLflow metrics of the result-file notes: how many files were short, long, aligned; NaN rows."""
    counts = {f"results/{kind}_files": float(sum(n["kind"] == kind for n in notes)) for kind in ("short", "long", "aligned")}
    counts["results/nan_rows"] = float(sum(n.get("nan_rows", 0) for n in notes))
    return counts


def align_to_first_present(boxes: np.ndarray, confidence: np.ndarray,
                           absent: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """A result file that is shorter by exactly the frames before the target first appears (COESOT
    sequences that start absent: tracking starts at the first present frame) is shifted to start
    there; the frames before become NaN boxes (misses) with confidence 0. Returns the boxes, the
    confidences and the number of rows prepended (0 when the file is left as it is)."""
    present = np.flatnonzero(~np.asarray(absent, bool))
    first = int(present[0]) if len(present) else 0
    if first == 0 or len(boxes) != len(absent) - first:
        return boxes, confidence, 0
    boxes = np.vstack([np.full((first, 4), np.nan), boxes])
    confidence = np.concatenate([np.zeros(first), confidence[: len(boxes) - first]])
    return boxes, confidence, first


def per_sequence_csv(scores: dict[str, dict]) -> str:
    import pandas as pd

    frames = []
    for profile, values in scores.items():
        table = pd.DataFrame.from_dict(values["per_sequence"], orient="index")
        table.insert(0, "profile", profile)
        frames.append(table.rename_axis("sequence").reset_index())
    return pd.concat(frames).to_csv(index=False, float_format="%.6f")


def network_choice(cfg: Config, model: str | None, tuned_on: str | None, modality: str, label: Label | None):
    """--model forces a network, and so does the baseline label (the pretrained weights run as the
    RGB-X model.name, or as its one-stream RGB counterpart on RGB data unless --tuned-on asks for the
    untuned RGB-X tracker there); else the file's own network, or that default for files that name none."""
    from srtrack.evaluation.runner import NetworkChoice

    default = Study(cfg).baseline_network(tuned_on or modality)
    forced = model or (default if label is not None and label.is_baseline else None)
    return NetworkChoice(forced, default)


def tracking_settings_hash(cfg: Config, spec) -> str:
    """What raw results depend on besides the weights: the network and the test-time settings."""
    from srtrack.config import config_to_dict
    from srtrack.io import json_sha256

    data = config_to_dict(cfg)
    return json_sha256({"network": spec.to_dict(), "sampler": {k: data["sampler"][k] for k in
                                                               ("template_factor", "search_factor", "crop")},
                        "encoding": data["encoding"], "precision": data["evaluate"]["precision"]})[:8]


def model_that_ran(model: ModelConfig, spec) -> ModelConfig:
    """`model` with what the network `spec` really is: its name, crop sizes, drop-path rate and
    candidate elimination (a checkpoint may turn it off: keep ratio 1)."""
    return dataclasses.replace(model, name=spec.name, template_size=spec.template_size, search_size=spec.search_size,
                               drop_path_rate=spec.drop_path_rate, candidate_elimination=CandidateEliminationConfig(
                                   layers=tuple(spec.ce_layers), keep_ratio=spec.ce_keep_ratio))


def track(cfg: Config, args: argparse.Namespace, sequences, raw: Path, model, spec) -> int | None:
    """Run the tracker over every sequence (and VOT anchor run) without results in `raw` (resumable per
    sequence); returns the lockstep batch it used (None: nothing left to track)."""
    from tqdm import tqdm

    from srtrack.evaluation.runner import device_memory_gb, lockstep_batch, run_batches

    todo = [s for s in sequences if not all(path.is_file() for path in result_paths(raw, s.name))]
    if len(todo) < len(sequences):
        log.info("%d of %d sequences already tracked with this checkpoint", len(sequences) - len(todo), len(sequences))
    if not todo:
        return None
    raw.mkdir(parents=True, exist_ok=True)
    workers = cfg.evaluate.workers if args.workers is None else args.workers
    batch = lockstep_batch(cfg, spec, len(todo), workers, device_memory_gb(cfg))
    log.info("tracking %d sequences, %d in lockstep per process, %d process(es)", len(todo), batch, workers)
    with tqdm(total=len(todo), desc="sequences", unit="seq", mininterval=2.0) as bar:
        run_batches(cfg, model, args.checkpoint, todo, raw, workers, batch, on_done=bar.update)
    return batch


if __name__ == "__main__":
    sys.exit(main())
