"""The training loop: one run of `python -m srtrack.tune` on one rank.

Per global step: this rank's micro-batches are forwarded and back-propagated (DDP all-reduces the
gradients on the last one; the regularizer's penalty is added there once), then
`srtrack.method.regularizers.apply_update` runs the regularizer hooks, clipping and AdamW on the
all-reduced gradients, so every rank applies the same update and the replicas cannot drift.
Checkpoints are written every `checkpoint_every` steps, at the end, and when SIGTERM/SIGUSR1/SIGUSR2
arrives (then the run stops with `Preempted`); a run started again in the same folder resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from srtrack.config.types import TrainConfig
from srtrack.errors import SrtrackError
from srtrack.layout import LAST_CHECKPOINT
from srtrack.method.regularizers import NonFiniteGradientError, Regularizer, apply_update
from srtrack.models.elimination import keep_rate
from srtrack.models.losses import LossWeights, loss_terms, weighted_loss
from srtrack.train import distributed
from srtrack.train.data import TENSOR_KEYS, micro_batches, per_rank_batch, step_loaders, steps_per_epoch
from srtrack.train.distributed import DistEnv
from srtrack.train.optim import build_optimizer, build_scheduler, group_rates, schedule_varies
from srtrack.train.preemption import StopRequest
from srtrack.train.state import capture_rng, load_checkpoint, restore_rng, save_checkpoint

log = logging.getLogger(__name__)


class TrainingDiverged(SrtrackError):
    """NaN or infinite loss/gradients; the last good checkpoint is kept."""


class Preempted(SrtrackError):
    """SIGTERM/SIGUSR1/SIGUSR2 arrived; a checkpoint was written and the run can be resumed."""

    run_status = "KILLED"

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


@dataclass
class TrainerSetup:
    """What a run trains and how (built by srtrack.tune from the config and the command line)."""

    model: nn.Module
    regularizer: Regularizer
    schedule: TrainConfig
    dataset: Any
    out: Path
    run_key: str
    seed: int = 0
    workers: int = 0
    pin_memory: bool = False  # page-locked batches (used on CUDA only)
    persistent_workers: bool = True  # one DataLoader (and its workers) for the whole run
    probe: dict[str, Tensor] | None = None
    loss_weights: LossWeights = field(default_factory=LossWeights)
    network: Any = None  # srtrack.models.spec.NetworkSpec of `model` (written into model.pth)
    load_report: str | None = None  # how the starting weights were mapped (JSON)


@dataclass
class Progress:
    """Where the run is; saved in every checkpoint."""

    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def frozen_batchnorms(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers none of whose parameters are trained."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and not any(p.requires_grad for p in m.parameters())]


def micro_batch_seed(seed: int, step: int, index: int) -> int:
    """A distinct 63-bit seed per (run seed, step, micro-batch)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{step}/{index}".encode()).digest()[:8], "little") >> 1


def batch_loss(model: nn.Module, batch: dict[str, Tensor], weights: LossWeights) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted tracking loss of one (micro-)batch and its unweighted terms."""
    terms = loss_terms(model(batch["template"], batch["search"]), batch["search_box"], batch["score_map"])
    return weighted_loss(terms, weights), terms


@torch.no_grad()
def score_probe(model: nn.Module, probe: dict[str, Tensor], weights: LossWeights, device: torch.device,
                chunk: int = 32) -> dict[str, float]:
    """Mean loss and IoU of the tracker in eval mode on the fixed probe pairs."""
    was_training = model.training
    model.eval()
    backbone = getattr(model, "backbone", None)
    rate = getattr(backbone, "ce_keep_rate", None)
    if rate is not None:
        backbone.ce_keep_rate = None  # the test-time ratio
    sums, n = {"loss": 0.0, "iou": 0.0}, probe["search"].shape[0]
    for part in micro_batches(probe, chunk):
        part = {k: v.to(device) for k, v in part.items()}
        total, terms = batch_loss(model, part, weights)
        size = part["search"].shape[0]
        sums["loss"] += float(total) * size
        sums["iou"] += float(terms["iou"]) * size
    model.train(was_training)
    if rate is not None:
        backbone.ce_keep_rate = rate
    return {k: v / n for k, v in sums.items()}


class Trainer:
    """Runs one training run on this rank; see the module docstring."""

    def __init__(self, setup: TrainerSetup, env: DistEnv, device: torch.device,
                 on_log: Callable[[dict[str, float], int], None] = lambda metrics, step: None,
                 on_epoch: Callable[[int], None] = lambda epoch: None):
        """`on_log(metrics, step)` gets every logging window's means, `on_epoch(epoch)` is called on the
        main rank after the last step of each epoch (1-based), before that step's checkpoint."""
        self.setup, self.env, self.device, self.on_log, self.on_epoch = setup, env, device, on_log, on_epoch
        cfg = setup.schedule
        self.steps_per_epoch = steps_per_epoch(cfg)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.local_batch = per_rank_batch(cfg, env.world_size)
        self.model = setup.model.to(device)
        self.params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self.wrapped: nn.Module = DistributedDataParallel(
            self.model, device_ids=[device.index] if device.type == "cuda" else None) if env.distributed else self.model
        # compiled: the step's forward and backward; the probe, the checkpoints and DDP's no_sync use the modules
        self.forward_module = self.wrapped if cfg.compile == "none" else torch.compile(self.wrapped, backend=cfg.compile)
        cuda = device.type == "cuda"
        self.optimizer = build_optimizer(self.model, cfg, fused=cfg.fused_adamw and cuda)
        if cuda:  # process-wide switches, meaningless on CPU
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.tf32
        self.scheduler = build_scheduler(self.optimizer, cfg.schedule, self.steps_per_epoch, self.total_steps)
        # constant LRs are the run's params (tune logs them), not flat metric charts
        self.logs_rates = schedule_varies(cfg.schedule, self.steps_per_epoch, self.total_steps)
        self.bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
        self.pinned = setup.pin_memory and device.type == "cuda"
        self.progress = Progress()
        self.checkpoint_path = setup.out / LAST_CHECKPOINT
        self.saved_at: int | None = None  # the step of the checkpoint this trainer last wrote or resumed from

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"run_key": self.setup.run_key, "step": self.progress.step, "history": self.progress.history,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "regularizer": self.setup.regularizer.state_dict(),
                "rng": capture_rng(), "world_size": self.env.world_size}

    def resume(self) -> bool:
        """Continue from the folder's last checkpoint, if there is one."""
        if not self.checkpoint_path.is_file():
            return False
        state = load_checkpoint(self.checkpoint_path, self.setup.run_key)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.setup.regularizer.load_state_dict(state["regularizer"])
        restore_rng(state["rng"])
        self.progress = Progress(int(state["step"]), list(state["history"]))
        self.saved_at = self.progress.step
        log.info("resumed from %s at step %d of %d", self.checkpoint_path, self.progress.step, self.total_steps)
        return True

    def save(self) -> None:
        """Rank 0 writes the checkpoint; the others wait so that nobody runs ahead of a kill-safe state."""
        if self.env.is_main:
            save_checkpoint(self.checkpoint_path, self.state_dict())
            self.saved_at = self.progress.step
        if self.env.distributed:
            torch.distributed.barrier()

    # -- one step ----------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def ce_keep_rate(self, step: int) -> float:
        """Candidate elimination's keep rate at `step` (OSTrack's warm-up over 1-based epochs)."""
        ce = self.setup.schedule.candidate_elimination
        ratio = getattr(self.model.backbone, "ce_keep_ratio", 1.0)
        return keep_rate(step // self.steps_per_epoch + 1, ce.start_epoch, ce.warm_epochs, ratio)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """Forward/backward over this rank's micro-batches, then the regularized update."""
        step, reg = self.progress.step, self.setup.regularizer
        if hasattr(self.model.backbone, "ce_keep_rate"):
            self.model.backbone.ce_keep_rate = self.ce_keep_rate(step)
        self.optimizer.zero_grad(set_to_none=True)
        parts = micro_batches(batch, self.setup.schedule.micro_batch)
        sums = {"loss/task": 0.0, "loss/focal": 0.0, "loss/giou": 0.0, "loss/l1": 0.0, "train/iou": 0.0}
        penalty_value = 0.0
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            # stochastic depth draws from a stream fixed by (seed, step, global micro-batch index): the same
            # masks for any number of ranks, and no RNG state to carry across a resume
            torch.manual_seed(micro_batch_seed(self.setup.seed, step, self.env.rank * len(parts) + i))
            share = part["search"].shape[0] / self.local_batch
            sync = contextlib.nullcontext() if last or not self.env.distributed else self.wrapped.no_sync()
            with sync:
                with self._autocast():
                    loss, terms = batch_loss(self.forward_module, {k: v.to(self.device, non_blocking=self.pinned)
                                                            for k, v in part.items()},
                                             self.setup.loss_weights)
                total = loss * share
                if last:
                    penalty = reg.penalty(self.params, step)
                    if penalty is not None:
                        total = total + penalty
                        penalty_value = float(penalty)
                total.backward()
            sums["loss/task"] += float(loss.detach()) * share
            for key in ("focal", "giou", "l1"):
                sums[f"loss/{key}"] += float(terms[key].detach()) * share
            sums["train/iou"] += float(terms["iou"].detach()) * share
        try:
            stats = apply_update(self.params, self.optimizer, reg, step, self.setup.schedule.grad_clip)
        except NonFiniteGradientError as exc:
            kept = f"the last good checkpoint is {self.checkpoint_path} (step {self._saved_step()})" \
                if self.checkpoint_path.is_file() else "no checkpoint was written yet"
            raise TrainingDiverged(f"training diverged at step {step}: {exc} (task loss on rank {self.env.rank}: "
                                   f"{sums['loss/task']}); {kept}") from exc
        self.scheduler.step()
        ce = {"train/ce_keep_rate": self.model.backbone.ce_keep_rate} if getattr(self.model.backbone, "ce_at", ()) else {}
        return {**sums, "reg/penalty": penalty_value, **stats, **ce}

    def _save_before_exit(self) -> None:
        """A checkpoint of the current step before a fatal error ends the run, without the barrier
        (the other ranks may not get there); a failure to write it (a full disk) is only logged."""
        if not self.env.is_main or self.progress.step in (0, self.saved_at):
            return
        try:
            save_checkpoint(self.checkpoint_path, self.state_dict())
            self.saved_at = self.progress.step
            log.warning("checkpoint at step %d written before the error below", self.progress.step)
        except Exception as exc:  # noqa: BLE001 - the original error is the one to report
            log.warning("could not write a checkpoint before the error below (%s): the last one is kept", exc)

    def _saved_step(self) -> int | str:
        try:
            return int(torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)["step"])
        except Exception:  # only for the message
            return "?"

    def train_mode(self) -> None:
        """Train mode, except that the BatchNorm layers of frozen modules (the box head while tuning) stay
        in eval mode with `frozen_batchnorm: eval`, as the released FIX_BN: their running statistics
        normalise and are never updated."""
        self.wrapped.train()
        if self.setup.schedule.frozen_batchnorm == "eval":
            for module in frozen_batchnorms(self.model):
                module.eval()

    # -- the run -----------------------------------------------------------------------------
    def batches(self) -> Iterator[dict[str, Tensor]]:
        """This rank's batches from the current step to the end of the run."""
        loaders = step_loaders(self.setup.dataset, self.setup.schedule, self.env.rank, self.env.world_size,
                               self.progress.step, self.total_steps, self.setup.workers, self.setup.persistent_workers,
                               pin_memory=self.pinned)
        for loader in loaders:
            for batch in loader:
                yield {k: batch[k] for k in TENSOR_KEYS}

    def run(self, stop: StopRequest) -> dict[str, Any]:
        """Train to the end (or to a stop request); returns the run's summary."""
        from tqdm import tqdm

        cfg = self.setup.schedule
        self.train_mode()
        started_step, started = self.progress.step, time.perf_counter()
        window: list[dict[str, float]] = []
        window_start = time.perf_counter()
        bar = tqdm(total=self.total_steps, initial=self.progress.step, desc="train", unit="step",
                   disable=not self.env.is_main, mininterval=2.0, dynamic_ncols=True)
        updating = False
        try:
            for batch in self.batches():
                updating = True
                stats = self.train_step(batch)
                self.progress.step += 1
                updating = False
                window.append(stats)
                bar.update(1)
                step = self.progress.step
                if step % cfg.log_every == 0 or step == self.total_steps:
                    self._log_window(window, time.perf_counter() - window_start)
                    bar.set_postfix(loss=f"{self.progress.history[-1]['loss/task']:.3f}",
                                    iou=f"{self.progress.history[-1]['train/iou']:.3f}")
                    window, window_start = [], time.perf_counter()
                if self.env.is_main and step % self.steps_per_epoch == 0:
                    self.on_epoch(step // self.steps_per_epoch)
                stopping = distributed.any_rank(stop.requested, self.env)
                if step % cfg.checkpoint_every == 0 or step == self.total_steps or stopping:
                    self.save()
                if stopping and step < self.total_steps:
                    bar.close()
                    raise Preempted(f"stopped by {stop.name or 'a stop request'}: checkpoint at step {step} of "
                                    f"{self.total_steps} in {self.checkpoint_path}; run the same command to resume", step)
        except (Preempted, TrainingDiverged):
            raise
        except Exception:
            if not updating:  # between steps the state is whole: keep it (a failed update keeps the last one)
                self._save_before_exit()
            raise
        bar.close()
        seconds = time.perf_counter() - started
        done = self.progress.step - started_step
        drift = distributed.replica_difference(list(self.model.parameters()), self.env)
        return {"steps": self.total_steps, "steps_this_process": done, "seconds_this_process": seconds,
                "replica_max_abs_diff": drift,
                "samples_per_s": done * cfg.global_batch / seconds if done and seconds else None,
                "history": self.progress.history}

    def _log_window(self, window: list[dict[str, float]], seconds: float) -> None:
        keys = sorted({k for stats in window for k in stats})
        means = {k: sum(s.get(k, 0.0) for s in window) / len(window) for k in keys}
        means = distributed.mean_over_ranks(means, self.env)
        means["train/samples_per_s"] = len(window) * self.setup.schedule.global_batch / max(seconds, 1e-9)
        means.update(group_rates(self.optimizer))
        means["step"] = float(self.progress.step)
        self.progress.history.append(means)
        if self.env.is_main:
            self.on_log({k: v for k, v in means.items()
                         if k != "step" and (self.logs_rates or not k.startswith("lr/"))}, self.progress.step)
            log.info("step %d/%d %s", self.progress.step, self.total_steps,
                     " ".join(f"{k}={v:.4g}" for k, v in means.items() if k.startswith(("loss/", "train/", "reg/"))))
