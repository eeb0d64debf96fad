"""`python -m srtrack.plan`: the study's jobs, GPU-hours and GPU memory, before anything is queued.

    python -m srtrack.plan --config config/config.yaml --config config/paper/common.yaml \\
        --config config/paper/ostrack256-rgbt.yaml --config my-site.yaml [--calibration gpu.json]

For every training job of the resolved study (one per modality, label and seed): its steps, the
network's cost (srtrack/costs.py: parameters, FLOPs and activations counted on the meta device), the
peak memory of one training process at the configured micro-batch and precision against
`resources.gpu_mem_gb` (measured: from the calibration's real steps on that GPU type where it holds
them, plus the regularizer's state; else counted on the meta device), and its hours on
`resources.gpus_per_node` x `nodes` GPUs. Training time comes from a measured step time (`--calibration`, the JSON `benchmarks/train_throughput.py
--calibration` writes on a GPU: seconds per sample per GPU for a network, crop sizes and
precision), else from the network's FLOPs at DEFAULT_UTILIZATION of the GPU's peak (GPU_PEAK_TFLOPS,
`resources.gpu_type`). A job that does not fit is listed with what would make it fit (a micro-batch,
activation checkpointing). Per tuned network also the sequences one tracking process follows in
lockstep (`evaluate.batch`; `auto` resolved as the evaluate stage resolves it on a GPU of
`resources.gpu_mem_gb`) and that process's peak memory. Tracking jobs are counted, with the frames of
the test splits already prepared. Exit status 0; 1 when a job does not fit. The DAG prints the same
plan when it starts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from srtrack import layout
from srtrack.cli_common import add_config_arguments, config_from_args, parse, run_main
from srtrack.config import Config, load_config
from srtrack.errors import ConfigError
from srtrack.study import Study

# dense peak TFLOP/s per GPU (vendor figures) of plain fp32, TF32 tensor-core and bf16 matmuls (None: the GPU has
# no TF32 tensor cores, so TF32 runs at the fp32 peak); the defaults' basis
GPU_PEAK_TFLOPS = {
    "v100-32gb": {"fp32": 15.7, "tf32": None, "bf16": None},
    "a100-40gb": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "a100-80gb": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "h100-80gb": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.0},
    "h200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.0},
    "rtx3090": {"fp32": 35.6, "tf32": 35.6, "bf16": 71.0},
    "l40s": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0},
}
# the matmuls a precision runs on: fp32 with train.tf32 on a GPU is TF32 on tensor cores
PEAK_NAMES = {"fp32": "plain fp32", "tf32": "TF32 tensor-core", "bf16": "bf16 tensor-core"}
# the share of that peak a ViT training step reaches when nothing is measured (a rough, stated assumption)
DEFAULT_UTILIZATION = 0.35


@dataclass(frozen=True)
class TrainingPlan:
    """One training job of the study."""

    run: str  # modality/label/seed
    network: str
    method: str
    steps: int
    micro_batch: int
    precision: str
    memory_gb: float
    fits: bool | None  # None: no resources.gpu_mem_gb to check against
    hours: float | None  # None: no GPU type and no calibration
    gpus: int
    fixes: tuple[str, ...]
    track_batch: int  # sequences its tracker follows in lockstep per tracking process
    track_memory_gb: float  # that process's peak
    memory_measured: bool  # memory_gb from the calibration's measured peaks (else counted on the meta device)


def _precision(cfg: Config) -> str:
    """The precision a training run uses (auto: bf16 autocast on GPUs, fp32 on CPUs)."""
    gpus = cfg.resources.gpus_per_node > 0
    return "bf16" if cfg.train.precision == "bf16" or (cfg.train.precision == "auto" and gpus) else "fp32"


def read_calibration(path: Path | None) -> list[dict]:
    """Measured steps: entries {gpu_type, network, template_size, search_size, precision,
    activation_checkpointing, batch, seconds_per_sample, and optionally peak_gib (at batch) and
    peak_gib_per_sample}."""
    if path is None:
        return []
    try:
        entries = json.loads(path.read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--calibration {path}: not a calibration file ({exc}); benchmarks/train_throughput.py "
                          "--calibration writes one") from None
    return list(entries)


def calibration_entry(cfg: Config, cost, precision: str, calibration: list[dict]) -> dict | None:
    """The measurement of this GPU type, network, crop sizes, precision and checkpointing, if any."""
    wanted = {"gpu_type": cfg.resources.gpu_type, "network": cost.name, "template_size": cost.template_size,
              "search_size": cost.search_size, "precision": precision,
              "activation_checkpointing": cfg.train.activation_checkpointing}
    return next((entry for entry in calibration if all(entry.get(k) == v for k, v in wanted.items())), None)


def measured_memory_gb(cost, method: str, micro_batch: int, entry: dict | None) -> float | None:
    """Peak GB of one training process from a calibration entry's measured peaks (plain AdamW steps at
    `batch` and the growth per sample), plus the state `method`'s regularizer keeps; None without them."""
    from srtrack.costs import REGULARIZER_BYTES

    if entry is None or "peak_gib" not in entry or "peak_gib_per_sample" not in entry:
        return None
    peak_gib = entry["peak_gib"] + (micro_batch - entry["batch"]) * entry["peak_gib_per_sample"]
    return peak_gib * 2**30 / 1e9 + cost.trainable * REGULARIZER_BYTES.get(method, 12) / 1e9


def seconds_per_sample(cfg: Config, cost, precision: str, entry: dict | None) -> tuple[float | None, str]:
    """Training seconds per sample on one GPU (`entry`: its calibration measurement, if any), and where
    the number comes from."""
    if entry is not None:
        return float(entry["seconds_per_sample"]), "measured (calibration)"
    if not cfg.resources.gpu_type:
        return None, "no step time (set resources.gpu_type or pass --calibration)"
    peaks = GPU_PEAK_TFLOPS[cfg.resources.gpu_type]  # a name plan_text has checked
    matmuls = "tf32" if precision == "fp32" and cfg.train.tf32 and peaks["tf32"] else precision
    peak = peaks.get(matmuls)
    if peak is None:
        return None, f"no step time ({cfg.resources.gpu_type} has no {PEAK_NAMES[matmuls]} peak; pass --calibration)"
    flops = cost.train_flops(cfg.train.activation_checkpointing)
    return flops / (peak * 1e12 * DEFAULT_UTILIZATION), (f"FLOPs at {DEFAULT_UTILIZATION:.0%} of the "
                                                          f"{PEAK_NAMES[matmuls]} peak, {peak:g} TFLOP/s")


def check_gpu_type(cfg: Config, calibration: list[dict]) -> None:
    """A `resources.gpu_type` the plan can use: a name of GPU_PEAK_TFLOPS or of the calibration."""
    name = cfg.resources.gpu_type
    known = sorted({*GPU_PEAK_TFLOPS, *(e.get("gpu_type") for e in calibration if e.get("gpu_type"))})
    if name and name not in known:
        from srtrack.config import config_location

        raise ConfigError(f"{config_location(cfg, 'resources.gpu_type')}: resources.gpu_type {name!r} is not a GPU the "
                          f"plan knows; use one of: {', '.join(known)} (or measure it: benchmarks/train_throughput.py "
                          "--calibration on that GPU, then --calibration FILE)")


def training_plans(cfg: Config, calibration: list[dict], splits: dict[str, dict | None]) -> tuple[list[TrainingPlan], str]:
    """The plan of every tuning job and its tracker (and where its step time comes from); `splits`:
    the tracked test splits' indexes (`tracking_splits`)."""
    from srtrack.costs import MEMORY_HEADROOM, inference_memory_gb, largest_micro_batch, network_cost, training_memory_gb
    from srtrack.evaluation.runner import lockstep_batch
    from srtrack.models.spec import spec_from_config
    from srtrack.slurm import training_job
    from srtrack.train.data import per_rank_batch, steps_per_epoch

    job = training_job(cfg)
    gpus = job.nodes * job.gpus_per_node
    plans, source = [], ""
    label_configs: dict[str, Config] = {}
    tracked = max((index["n_sequences"] for index in splits.values() if index), default=10**6)
    tracking_gpu_mem = cfg.resources.gpu_mem_gb if gpus else None
    for run in Study(cfg).tuning_runs():
        # the label's effective config, as its tuning job loads it (the command line's --set last); once per label
        if run.label.name not in label_configs:
            label_configs[run.label.name] = load_config(cfg.sources, [*run.label.assignments(), *cfg.overrides])
        run_cfg = label_configs[run.label.name]
        spec = spec_from_config(run_cfg.model, run.label.model)
        cost = network_cost(spec)
        schedule = run_cfg.train
        micro = schedule.micro_batch or per_rank_batch(schedule, job.world_size)
        precision = _precision(run_cfg)
        bf16 = precision == "bf16"
        entry = calibration_entry(run_cfg, cost, precision, calibration)
        measured = measured_memory_gb(cost, run.label.method, micro, entry)
        memory = measured if measured is not None else training_memory_gb(
            cost, run.label.method, micro, bf16=bf16, checkpointing=schedule.activation_checkpointing)
        budget = cfg.resources.gpu_mem_gb * MEMORY_HEADROOM if cfg.resources.gpu_mem_gb else None
        fits = None if budget is None else memory <= budget
        fixes: list[str] = []
        if fits is False:
            plain = largest_micro_batch(cost, run.label.method, budget, bf16=bf16, checkpointing=False)
            checkpointed = largest_micro_batch(cost, run.label.method, budget, bf16=bf16, checkpointing=True)
            if plain:
                fixes.append(f"train.micro_batch: {plain}")
            if checkpointed and not schedule.activation_checkpointing:
                fixes.append(f"train.activation_checkpointing: true (micro-batch up to {checkpointed})")
            if not bf16 and gpus:
                fixes.append("train.precision: bf16")
        steps = schedule.epochs * steps_per_epoch(schedule)
        per_sample, source = seconds_per_sample(run_cfg, cost, precision, entry)
        hours = None if per_sample is None or not gpus else steps * schedule.global_batch * per_sample / gpus / 3600
        track_batch = lockstep_batch(run_cfg, spec, tracked, run_cfg.evaluate.workers, tracking_gpu_mem)
        track_memory = inference_memory_gb(cost, track_batch, bf16=bool(gpus) and run_cfg.evaluate.precision == "bf16")
        if budget is not None and track_memory > budget:
            fits = False
            fixes.append(f"evaluate.batch: auto (tracking {track_batch} sequences needs {track_memory:.1f} GB)")
        plans.append(TrainingPlan(run=f"{run.modality}/{run.label.name}/seed{run.seed}", network=cost.name,
                                  method=run.label.method, steps=steps, micro_batch=micro, precision=precision,
                                  memory_gb=memory, fits=fits, hours=hours, gpus=gpus, fixes=tuple(fixes),
                                  track_batch=track_batch, track_memory_gb=track_memory,
                                  memory_measured=measured is not None))
    return plans, source


def tracking_splits(cfg: Config) -> dict[str, dict | None]:
    """The prepared index of each test split the study tracks on (None: not prepared yet), read once."""
    splits: dict[str, dict | None] = {}
    for dataset in dict.fromkeys(run.dataset for run in Study(cfg).evaluation_runs()):
        index = Path(layout.index_path(cfg.study.output_dir, dataset, "test"))
        splits[dataset] = json.loads(index.read_text()) if index.is_file() else None
    return splits


def render(cfg: Config, plans: list[TrainingPlan], source: str, splits: dict[str, dict | None]) -> str:
    """The plan as Markdown: job counts per stage, then one row per training job and the totals."""
    from srtrack.costs import MEMORY_HEADROOM

    study = Study(cfg)
    counts = job_counts(cfg)
    retention_runs = sum(1 for _ in study.retention_runs())
    lines = [f"# Plan of study {cfg.study.name!r}", "",
             "jobs: " + ", ".join(f"{stage} {n}" for stage, n in counts.items() if n)
             + f" (tracking runs: {sum(1 for _ in study.evaluation_runs())} on test splits, {retention_runs} on RGB)", "",
             *requests_table(cfg, counts), ""]
    gpu_mem = f"{cfg.resources.gpu_mem_gb:g} GB" if cfg.resources.gpu_mem_gb else "not set (resources.gpu_mem_gb)"
    lines += [f"training: {plans[0].gpus if plans else 0} GPU(s) per job ({cfg.resources.gpu_type or 'GPU type not set'}), "
              f"GPU memory {gpu_mem}; step time: {source or 'n/a'}", "",
              "| run | network | steps | micro-batch | precision | peak GB / process | fits | hours | GPU-hours "
              "| tracking batch | tracking GB / process |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for plan in plans:
        fits = {None: "?", True: "yes", False: "NO"}[plan.fits]
        hours = f"{plan.hours:.1f}" if plan.hours is not None else "?"
        gpu_hours = f"{plan.hours * plan.gpus:.0f}" if plan.hours is not None else "?"
        lines.append(f"| {plan.run} | {plan.network} | {plan.steps} | {plan.micro_batch} | {plan.precision} | "
                     f"{plan.memory_gb:.1f}{'*' if plan.memory_measured else ''} | {fits} | {hours} | {gpu_hours} | "
                     f"{plan.track_batch} | "
                     f"{plan.track_memory_gb:.1f} |")
    if any(plan.memory_measured for plan in plans):
        lines += ["", "\\* peak memory from the GPU's measured peaks (calibration), plus the regularizer's state; "
                  "the others are counted on the meta device"]
    known = [p.hours * p.gpus for p in plans if p.hours is not None]
    if known:
        lines += ["", f"training total: {sum(known):.0f} GPU-hours over {len(known)} job(s)"]
    for plan in plans:
        if plan.fits is False:
            lines.append(f"- {plan.run} does not fit in {gpu_mem} x {MEMORY_HEADROOM:.0%}: "
                         + ("; ".join(plan.fixes) if plan.fixes else "no micro-batch fits; more GPU memory needed"))
    limit, margin = cfg.resources.runtime_min, cfg.resources.stop_margin_min
    for plan in plans:
        if plan.hours is not None and plan.hours * 60 > limit - margin:
            segments = math.ceil(plan.hours * 60 / max(limit - margin, 1))
            lines.append(f"- WARNING: {plan.run} needs about {plan.hours:.1f} h, more than its time limit "
                         f"(resources.runtime_min {limit} min, stopping {margin:g} min before it): about {segments} "
                         "submissions, each resuming from the last checkpoint (the profile's retries: 2 allow 3"
                         + (f"; run snakemake with --retries {segments - 1})" if segments > 3 else ")"))
    if cfg.evaluate.epoch is not None:
        lines.append(f"- the tuned trackers are scored with their weights after epoch {cfg.evaluate.epoch} of "
                     f"{cfg.train.epochs} (evaluate.epoch)")
    if splits:
        lines += ["", "tracking: " + ", ".join(f"{name} {index['n_frames'] if index else '? (not prepared)'} frames"
                                               for name, index in splits.items())]
    return "\n".join(lines) + "\n"


def job_counts(cfg: Config) -> Counter:
    """Every job of the study's DAG, by rule (what `snakemake` builds for this config)."""
    from srtrack import workflow as dag

    study = Study(cfg)
    used = {name for name, _ in study.used_splits()}
    retention_runs = sum(1 for _ in study.retention_runs())
    return Counter({"synth": sum(study.is_synthetic(name) for name in used),
                    "prepare": len(dag.study_data_targets(cfg)),
                    "pretrain": int(cfg.model.pretrained is None and study.has_rgb_data()),
                    "sensitivity": len(dag.sensitivity_targets(cfg)), "tune": len(dag.tune_targets(cfg)),
                    "evaluate": sum(1 for _ in study.scoring_runs()), "retention": int(retention_runs > 0),
                    "compare": len(dag.compare_targets(cfg)), "report": int(bool(dag.eval_targets(cfg)))})


def requests_table(cfg: Config, counts: Counter) -> list[str]:
    """What each rule's jobs ask Slurm for (srtrack.slurm.rule_resources, which the rules read)."""
    from srtrack import workflow as dag
    from srtrack.slurm import rule_resources

    scored = Study(cfg).scored_modalities()
    splits = len(dag.score_indexes(cfg, scored[0])) if scored else 1
    rows = ["| rule | jobs | partition | GPUs (gres) | memory | time limit |", "|---|---:|---|---|---|---|"]
    for stage, n in counts.items():
        if not n:
            continue
        request = rule_resources(cfg, stage, splits=splits)
        memory = request["mem_mb"]
        grows = f", x attempt up to {cfg.resources.node_mem_gb} GB" if cfg.resources.node_mem_gb else ", x attempt"
        memory = f"{memory(None, 1) / 1024:.1f} GB{grows}" if callable(memory) else f"{memory / 1024:.1f} GB"
        runtime = request["runtime"](None) if callable(request["runtime"]) else request["runtime"]
        rows.append(f"| {stage} | {n} | {request.get('slurm_partition', 'default')} | {request.get('gres') or '-'} | "
                    f"{memory} | {runtime} min |")
    return rows


def plan_text(cfg: Config, calibration: list[dict] = ()) -> tuple[str, bool]:
    """The plan as Markdown, and whether every training job fits in GPU memory."""
    check_gpu_type(cfg, list(calibration))
    splits = tracking_splits(cfg)
    plans, source = training_plans(cfg, list(calibration), splits)
    return render(cfg, plans, source, splits), not any(plan.fits is False for plan in plans)


def print_plan(cfg: Config) -> None:
    """Snakemake `onstart` on a config with GPUs: the plan (jobs, GPU-hours, GPU memory per process),
    printed and written to <output_dir>/plan.md before jobs are submitted."""
    from srtrack.io import write_text_atomic

    if not cfg.resources.gpus_per_node:
        return
    text, fits = plan_text(cfg)
    write_text_atomic(Path(cfg.study.output_dir) / layout.PLAN_FILE, text)
    print(text if fits else f"{text}\nWARNING: some training jobs will not fit in GPU memory (fixes above)",
          file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.plan", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--calibration", type=Path, default=None,
                        help="measured step times (benchmarks/train_throughput.py --calibration on a GPU)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)

    def body() -> int:
        from srtrack import preflight

        cfg = config_from_args(args)
        preflight.check(cfg)
        text, fits = plan_text(cfg, read_calibration(args.calibration))
        sys.stdout.write(text)
        return 0 if fits else 1

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
