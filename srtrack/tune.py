"""`python -m srtrack.tune`: train one tracker (regularized tuning, or the RGB pre-training).

    python -m srtrack.tune --config config/config.yaml --modality rgbt --label srft \
        --init results/pretrain/model.pth --prior results/prior/got10k/prior.safetensors --out results/tune/rgbt-srft

`--modality rgbt|rgbd|rgbe --label L` tunes the study label L (a method, or a `study.variants`
entry: srtrack/study.py resolves it to its regularizer, its network — `vipt_<size>` for prompt,
`srtrack_lora_<size>` for lora, else `model.name` — and its settings) on the prepared train splits of
`study.tune_data.<modality>` (or the `--data` folders) with the `train` schedule;
`--modality rgb --label full` is the RGB pre-training of the embedded default: the one-stream
counterpart of `model.name`, from random weights, on the RGB set, with the `pretrain` schedule.
The MLflow run records that effective configuration (method.name, model.name and the variant's
settings applied), the splits it read and the runs its starting weights and prior came from.

Distributed: start it with `torchrun --nproc-per-node N`, with `srun` (one task per GPU) or through
submitit; the launcher is read from the environment (srtrack/train/distributed.py). Started again
in the same `--out`, a run resumes from `checkpoints/last.pt`; a finished one is not redone.
Outputs: `model.pth` (OSTrack layout, `{"net": state_dict}`, plus the network it holds under
`"srtrack"`: srtrack/models/files.py), `load_report.json` (how the starting weights were mapped),
`metrics.json`, `train.log`, `loss.png`; all of them and the metrics go to MLflow (rank 0). Exit codes: 0 done, 1 data or
training error (e.g. divergence), 2 config error, 75 stopped by SIGTERM/SIGUSR1/SIGUSR2 with a checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from srtrack import study
from srtrack.cli_common import add_config_arguments, config_for_label, config_from_args, parse, run_main
from srtrack.config import Config, config_to_dict
from srtrack.config.types import LOADER_ONLY_KEYS
from srtrack.errors import ConfigError, FileSystemError, SrtrackError, describe_os_error
from srtrack.io import (FolderBusy, Publication, file_sha256, hold_folder, json_sha256, prepare_output_dir, require_file,
                        write_json_atomic, write_text_atomic)
from srtrack.layout import (CHECKPOINTS_DIR, LAST_CHECKPOINT, LOAD_REPORT_FILE, METRICS_FILE, MODEL_FILE, RUN_ID_FILE,
                            TRAIN_LOG, epoch_model_file)

log = logging.getLogger("srtrack.tune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.tune", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--modality", required=True, choices=("rgb", *study.MODALITIES),
                        help="rgb = the RGB pre-training (pretrain schedule); otherwise the tuning target")
    parser.add_argument("--method", default=None, help="a regularizer to run without a study label (default: method.name)")
    parser.add_argument("--data", action="append", type=Path, default=None, metavar="DIR",
                        help="prepared train split (folder with index.json); repeat to mix 1:1 "
                             "(default: study.tune_data.<modality>, or sensitivity.dataset for rgb)")
    parser.add_argument("--init", type=Path, default=None,
                        help="starting weights (default: model.pretrained; rgb: random init)")
    parser.add_argument("--label", default=None,
                        help="the study label to run: a method or a study.variants entry (srtrack/study.py)")
    parser.add_argument("--prior", type=Path, default=None, help="prior.safetensors (methods that use the prior)")
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, model, metrics)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: sampler.workers)")
    parser.add_argument("--restart", action="store_true", help="discard a checkpoint in --out instead of resuming")
    parser.add_argument("--requeue", action="store_true",
                        help="after a SIGTERM/SIGUSR1/SIGUSR2 checkpoint, `scontrol requeue` the Slurm job")
    parser.add_argument("--allow-random-init", action="store_true",
                        help="tune from random weights when no --init/model.pretrained is given (tests only)")
    return parser


def default_data(cfg: Config, modality: str) -> list[Path]:
    """The prepared train splits a modality trains on by default (see srtrack/workflow.py)."""
    names = [cfg.sensitivity.dataset] if modality == "rgb" else list(getattr(cfg.study.tune_data, modality))
    if not names:
        raise ConfigError(f"study.tune_data.{modality} is empty: nothing to tune on (or pass --data)")
    return [Path(cfg.study.output_dir) / "data" / f"{name}-train" for name in names]


def run_key(cfg: Config, *, network: dict, method: str, modality: str, indexes: list[dict],
            init_sha256: str | None, prior_sha256: str | None) -> str:
    """Everything the trained weights depend on (not the number of ranks: see srtrack/train/data.py)."""
    data = config_to_dict(cfg)
    schedule = data["pretrain" if modality == "rgb" else "train"]
    parts = {"model": network, "pos_embed": [data["model"]["pos_embed_from"], data["model"]["pos_embed_resample"]],
             "method": [method, data["method"]], "modality": modality, "schedule": schedule, "seed": cfg.study.seed,
             "sampler": {k: v for k, v in data["sampler"].items() if k not in LOADER_ONLY_KEYS}, "encoding": data["encoding"],
             "data": [[s["boxes_sha256"] for s in index["sequences"]] for index in indexes],
             "init": init_sha256, "prior": prior_sha256}
    return json_sha256(parts)[:20]


def finished(out: Path, key: str, kept: int | None = None) -> bool:
    """`out` holds this run's result: its model, its metrics with this run key, the kept epoch's weights."""
    metrics = out / METRICS_FILE
    return ((out / MODEL_FILE).is_file() and metrics.is_file() and json.loads(metrics.read_text()).get("run_key") == key
            and (kept is None or (out / epoch_model_file(kept)).is_file()))


def kept_epoch(cfg: Config, modality: str) -> int | None:
    """The epoch whose weights a tuning run keeps for scoring (evaluate.epoch; pre-training keeps none)."""
    return None if modality == "rgb" else cfg.evaluate.epoch


def epoch_missed(out: Path, epoch: int, steps_per_epoch: int) -> bool:
    """The folder's checkpoint is past `epoch` but its weights were not kept (evaluate.epoch set later)."""
    import torch

    last, kept = out / LAST_CHECKPOINT, out / CHECKPOINTS_DIR / epoch_model_file(epoch)
    if kept.is_file() or not last.is_file():
        return False
    return int(torch.load(last, map_location="cpu", weights_only=True)["step"]) >= epoch * steps_per_epoch


def keep_epoch_weights(out: Path, trainer, epoch: int, config_sha256: str) -> None:
    """Write the tracker's current weights as the kept epoch's model file (under checkpoints/ until the
    run's results are published)."""
    from srtrack.io import write_bytes_atomic

    write_bytes_atomic(out / CHECKPOINTS_DIR / epoch_model_file(epoch), tracker_bytes(trainer, config_sha256))
    log.info("kept the weights after epoch %d for scoring (evaluate.epoch)", epoch)


class RunLogHandler(logging.FileHandler):
    """train.log; when it cannot be written (a full disk) it says so once and stops, instead of
    printing a traceback for every line (the console keeps every line)."""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        print(f"warning: {self.baseFilename} cannot be written ({exc}); the log goes on on the console only",
              file=sys.stderr)
        logging.getLogger().removeHandler(self)


def add_log_file(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RunLogHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    return run_main(lambda: train(args))


def train(args: argparse.Namespace) -> int:
    """The CLI body (see the module docstring): one process at a time trains in a run folder."""
    from srtrack.train import distributed

    cfg, label, init = resolve_run(args)
    env = distributed.detect()
    try:
        with hold_folder(args.out, "training") if env.is_main else contextlib.nullcontext():
            return train_held(args, cfg, label, init, env)
    except FolderBusy as exc:
        raise SrtrackError(f"tune: {exc}") from None


def train_held(args: argparse.Namespace, cfg: Config, label: study.Label, init: Path | None, env) -> int:
    """Train with the run folder held by this process (`train`)."""
    import torch

    from srtrack.train import distributed
    from srtrack.train.data import steps_per_epoch
    from srtrack.train.preemption import EXIT_PREEMPTED, StopRequest, job_deadline, requeue

    modality = args.modality
    method, model_name = label.method, cfg.model.name
    device = distributed.init(env, cfg.resources.ddp_backend)
    stop = StopRequest(job_deadline(cfg.resources.stop_margin_min)).install()
    try:
        folders = args.data or default_data(cfg, modality)
        setup, indexes, links = build_setup(cfg, args, model_name, method, modality, folders, init)
        key, kept = setup.run_key, kept_epoch(cfg, modality)
        if finished(args.out, key, kept):
            if env.is_main:
                print(f"tune: {args.out} already holds this run's result (run key {key})", file=sys.stderr)
            return 0
        missed = kept is not None and epoch_missed(args.out, kept, steps_per_epoch(setup.schedule))
        if (args.restart or missed) and env.is_main:
            if missed:
                log.warning("the weights after epoch %d (evaluate.epoch) were not kept by this run's checkpoints: "
                            "training again from the start", kept)
            shutil.rmtree(args.out / CHECKPOINTS_DIR, ignore_errors=True)
        if env.distributed:
            torch.distributed.barrier()
        handler = add_log_file(args.out / TRAIN_LOG) if env.is_main else None
        try:
            return run_training(cfg, args, setup, env, device, stop, label=label, modality=modality,
                                indexes=indexes, init=init, links=links)
        except OSError as exc:  # a full disk, a read-only folder: say where the run can go on from
            last = args.out / LAST_CHECKPOINT
            kept = f"; its last checkpoint {last} is intact: run the same command to resume" if last.is_file() else ""
            raise FileSystemError(describe_os_error(exc) + kept) from None
        except Exception as exc:
            if getattr(exc, "run_status", None) == "KILLED":
                print(f"tune: {exc}", file=sys.stderr)
                if args.requeue and env.is_main and requeue():
                    print("tune: Slurm job requeued", file=sys.stderr)
                return EXIT_PREEMPTED
            raise
        finally:
            if handler:
                logging.getLogger().removeHandler(handler)
    finally:
        stop.uninstall()
        distributed.shutdown()


def resolve_run(args: argparse.Namespace) -> tuple[Config, study.Label, Path | None]:
    """The run's config (its label's method, network and settings applied), label and starting weights."""
    modality = args.modality
    base = config_from_args(args)
    pretraining = study.rgb_counterpart(base.model.name) if modality == "rgb" else None
    cfg, label = config_for_label(args, base, args.label or args.method or base.method.name, model=pretraining)
    if args.method and label.method != args.method:
        raise ConfigError(f"--label {label.name} is method {label.method}, not --method {args.method}: "
                          "pass one of them")
    init = args.init or (None if modality == "rgb" else cfg.model.pretrained)
    if init is None and modality != "rgb" and not args.allow_random_init:
        raise ConfigError("no starting weights: pass --init, set model.pretrained, or --allow-random-init (tests)")
    if args.init is not None:
        require_file(args.init, "--init")
    prepare_output_dir(args.out)
    return cfg, label, init


def build_setup(cfg: Config, args: argparse.Namespace, model_name: str, method: str, modality: str,
                folders: list[Path], init: Path | None):
    """Model (seeded, initialised), regularizer (theta_0, prior) and data of the run, and where its
    starting weights and prior come from (`origins`)."""
    import torch

    from srtrack.method.prior import check_prior
    from srtrack.method.regularizers import create_regularizer
    from srtrack.models.checkpoints import prior_for_model
    from srtrack.models.networks import announce, network_for
    from srtrack.train.data import open_datasets, probe_batch, steps_per_epoch
    from srtrack.train.loop import TrainerSetup

    schedule = cfg.pretrain if modality == "rgb" else cfg.train
    dataset, indexes = open_datasets(cfg, folders, schedule, "pretrain" if modality == "rgb" else "train", modality)
    torch.manual_seed(cfg.study.seed)  # the same initial weights on every rank
    # without CE in training the network is trained, saved and evaluated without it
    model, spec, report = network_for(cfg.model, init, name=model_name,
                                      elimination=schedule.candidate_elimination.start_epoch is not None)
    announce("tune", spec, report)
    model.backbone.activation_checkpointing = schedule.activation_checkpointing
    total_steps = schedule.epochs * steps_per_epoch(schedule)
    regularizer = create_regularizer(method, cfg.method, total_steps)
    regularizer.configure_model(model)
    prior = None
    if regularizer.uses_prior:
        if args.prior is None:
            raise ConfigError(f"method {method!r} needs the prior sensitivity: pass --prior prior.safetensors "
                              "(python -m srtrack.sensitivity)")
        prior = prior_for_model(read_prior(args.prior), model)
        check_prior(prior, dict(model.named_parameters()), str(args.prior))
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        if not any(key.rsplit(".", 1)[0] in names for key in prior):
            raise ConfigError(f"{args.prior}: none of its statistics belongs to a trainable parameter of {model_name} "
                              "(computed for another model?)")
    regularizer.attach({n: p for n, p in model.named_parameters() if p.requires_grad}, prior)
    links = origins(init, args.prior if regularizer.uses_prior else None)
    key = run_key(cfg, network=spec.to_dict(), method=method, modality=modality, indexes=indexes,
                  init_sha256=links["init_sha256"], prior_sha256=links["prior_sha256"])
    setup = TrainerSetup(model=model, regularizer=regularizer, schedule=schedule, dataset=dataset, out=args.out,
                         run_key=key, seed=cfg.study.seed, workers=cfg.sampler.workers if args.workers is None else args.workers,
                         pin_memory=cfg.sampler.pin_memory, persistent_workers=cfg.sampler.persistent_workers,
                         probe=probe_batch(dataset, schedule.probe_samples), network=spec,
                         load_report=report.to_json() if report else None)
    return setup, indexes, links


def read_prior(path: Path) -> dict:
    """The prior's tensors, validated (srtrack.method.prior.validate_prior); a file that is not
    safetensors is refused (its parser never runs code)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from srtrack.errors import CheckpointError
    from srtrack.method.prior import validate_prior

    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"--prior {path}: file not found (python -m srtrack.sensitivity writes prior.safetensors)")
    require_file(path, "--prior")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors prior ({exc}); pass the prior.safetensors that "
                              "python -m srtrack.sensitivity writes") from None
    validate_prior(tensors, str(path))
    return tensors


def run_training(cfg: Config, args: argparse.Namespace, setup, env, device, stop, *, label: study.Label,
                 modality: str, indexes: list[dict], init: Path | None, links: dict[str, str | None]) -> int:
    """Resume or start, train, and write the outputs, inside the stage's MLflow run."""

    from srtrack.mlflow_runs import config_hash, stage_run, system_metrics
    from srtrack.train.loop import Trainer, score_probe
    from srtrack.train.optim import lr_scale

    model_name = cfg.model.name
    run_id_file = args.out / RUN_ID_FILE
    previous_run = run_id_file.read_text().strip() if run_id_file.is_file() and (
        args.out / LAST_CHECKPOINT).is_file() else None
    datasets = [index["benchmark"] for index in indexes]
    if modality == "rgb":  # the RGB tracker the study's baseline evaluates
        stage, name, tag = "pretrain", f"pretrain {'+'.join(datasets)} s{cfg.study.seed}", study.BASELINE
    else:
        stage, name, tag = "tune", f"tune {modality}/{label.name} s{cfg.study.seed}", label.name
    sections = ("study", "model", "method", stage if stage == "pretrain" else "train", "sampler", "encoding",
                "resources", *(f"datasets.{d}" for d in datasets))
    with stage_run(cfg, stage, name=name, sections=sections, parent_run_id=args.parent_run_id,
                   resume_run_id=previous_run, dataset="+".join(datasets), modality=modality, label=tag,
                   method=label.method, model=model_name, **links) as run:
        if env.is_main:
            write_text_atomic(run_id_file, run.run_id + "\n")
        if not previous_run:
            for index in indexes:
                run.log_split(index, "train")
        kept, config_sha256 = kept_epoch(cfg, modality), config_hash(cfg)
        trainer = Trainer(setup, env, device, on_log=run.log_metrics,
                          on_epoch=lambda epoch: keep_epoch_weights(args.out, trainer, epoch, config_sha256)
                          if epoch == kept else None)
        resumed = trainer.resume()
        if not resumed:
            schedule = setup.schedule
            run.log_params({"run/model": model_name, "run/network": setup.network.describe()[:500],
                            "run/world_size": env.world_size, "run/launcher": env.launcher,
                            "run/per_rank_batch": schedule.global_batch // env.world_size,
                            "run/lr_scale": lr_scale(schedule), "run/lr_rule": "linear (lr x B / reference)"
                            if schedule.lr_reference_batch else "none (LRs as configured)",
                            "run/bf16": trainer.bf16, "run/device": str(device), "run/run_key": setup.run_key,
                            "run/init": str(init) if init else "random", "run/prior": str(args.prior),
                            **{f"run/{k}": v for k, v in model_counts(setup.model).items()},
                            **{f"run/effective_{k.replace('/', '_')}": v
                               for k, v in trainer_rates(trainer).items()}})
        before = score_probe(setup.model, setup.probe, setup.loss_weights, device) if setup.probe and (
            not resumed) else None
        if before is not None:
            trainer.progress.history.insert(0, {"probe_before/loss": before["loss"], "probe_before/iou": before["iou"]})
            run.log_metrics({f"probe/{k}_before": v for k, v in before.items()}, 0)
        with system_metrics(cfg, run, resume=resumed):
            summary = trainer.run(stop)
        if env.is_main and (constants := setup.regularizer.constant_stats()):
            run.log_params({k: round(v, 6) for k, v in constants.items()})
        after = score_probe(setup.model, setup.probe, setup.loss_weights, device) if setup.probe else None
        if env.is_main:
            digest = write_outputs(args.out, run, trainer, summary, after, setup.run_key, config_sha256, kept)
            run.log_model(args.out / MODEL_FILE, name=f"{tag}-{modality}-s{cfg.study.seed}",
                          description=f"{setup.network.describe()}: {stage} on {'+'.join(datasets)} "
                                      f"({label.method}, seed {cfg.study.seed}), run key {setup.run_key[:12]}",
                          params={"network": setup.network.to_dict()},
                          tags={"label": tag, "method": label.method, "modality": modality, "seed": cfg.study.seed,
                                "run_key": setup.run_key, "model_sha256": digest})
    return 0


def origins(init: Path | None, prior: Path | None) -> dict[str, str | None]:
    """Where the starting weights and the prior came from: their hashes (part of the run key) and the
    MLflow runs that wrote them, where there are any, else where the start checkpoint comes from (tags of
    the run)."""
    from srtrack.mlflow_runs import run_id_beside
    from srtrack.models.files import source_note

    init_run = run_id_beside(init) if init else None
    return {"init_sha256": file_sha256(init) if init else None,
            "init_run_id": init_run, "init_source": source_note(init) if init and not init_run else None,
            "prior_sha256": file_sha256(prior) if prior else None,
            "prior_run_id": run_id_beside(prior) if prior else None}


def model_counts(model) -> dict[str, int]:
    return {f"params_{k}": v for k, v in model.parameter_report().items()}


def trainer_rates(trainer) -> dict[str, float]:
    """The effective (scaled, before the schedule) LR of every parameter group."""
    return {f"lr/{g['name']}": g["initial_lr"] for g in trainer.optimizer.param_groups}


def tracker_bytes(trainer, config_sha256: str) -> bytes:
    """The trainer's tracker as the bytes of a self-describing model file (model.pth, model-epoch<N>.pth)."""
    from srtrack.models.files import save_tracker

    return save_tracker(trainer.model, trainer.setup.network.to_dict(), config_sha256)


def write_outputs(out: Path, run, trainer, summary: dict[str, Any], after: dict[str, float] | None, key: str,
                  config_sha256: str, kept: int | None = None) -> str:
    """model.pth (self-describing), the kept epoch's model-epoch<N>.pth, metrics.json, load_report.json
    and loss.png, then the same to MLflow with the model's hash as a tag; returns that hash."""
    from srtrack.io import write_bytes_atomic
    from srtrack.train.plots import plot_history

    data = tracker_bytes(trainer, config_sha256)
    digest = hashlib.sha256(data).hexdigest()
    history = summary.pop("history")
    before = next((h for h in history if "probe_before/loss" in h), None)
    steps = [h for h in history if "step" in h]
    document = {"run_key": key, "model_sha256": digest, **summary,
                "probe_before": {"loss": before["probe_before/loss"], "iou": before["probe_before/iou"]} if before else None,
                "probe_after": after, "final": steps[-1] if steps else None,
                "schedule": asdict(trainer.setup.schedule), "world_size": trainer.env.world_size}
    # published together, metrics.json last (what `finished` checks), or not at all
    with Publication(out, last=METRICS_FILE) as staged:
        write_bytes_atomic(staged.dir / MODEL_FILE, data)
        if kept is not None:
            shutil.copyfile(out / CHECKPOINTS_DIR / epoch_model_file(kept), staged.dir / epoch_model_file(kept))
            document["kept_epoch"] = {"epoch": kept, "file": epoch_model_file(kept),
                                      "sha256": file_sha256(staged.dir / epoch_model_file(kept))}
        if trainer.setup.load_report:
            write_text_atomic(staged.dir / LOAD_REPORT_FILE, trainer.setup.load_report + "\n")
        write_json_atomic(staged.dir / METRICS_FILE, document)
        plots = plot_history(steps, staged.dir)
    plots = [staged.final(path) for path in plots]
    if after:
        run.log_metrics({f"probe/{k}_after": v for k, v in after.items()}, trainer.progress.step)
    run.set_tags({"model_sha256": digest, "run_key": key})
    kept_file = [out / epoch_model_file(kept)] if kept is not None else []
    outputs = [out / MODEL_FILE, *kept_file, out / METRICS_FILE, out / LOAD_REPORT_FILE, out / TRAIN_LOG, *plots]
    run.log_outputs([path for path in outputs if path.is_file()], "train")
    print(f"tune: {summary['steps']} steps -> {out / MODEL_FILE} (sha256 {digest[:12]})"
          + (f"; probe IoU {document['probe_before']['iou']:.3f} -> {after['iou']:.3f}"
             if after and document["probe_before"] else ""), file=sys.stderr)
    return digest


if __name__ == "__main__":
    sys.exit(main())
