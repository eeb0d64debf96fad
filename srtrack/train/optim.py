"""Parameter groups, AdamW and the learning-rate schedule of a training run.

`released_lr_override` puts every group at RELEASED_OVERRIDE_LR (1e-6): the released
`get_optimizer_scheduler` defines the parameter groups twice and the second definition, at 1e-6
everywhere, overwrites the first (per-group LRs, what `lr` holds). Off by default.

LR scaling with the global batch (`lr_reference_batch`): every group's LR is multiplied by
`global_batch / lr_reference_batch` (the linear scaling rule, Goyal et al. 2017); null keeps the
configured LRs, which is what the released code does (its LRs were set for a global batch of 80 or
56). The effective LRs are logged as params.

The schedule is a pure function of the global step, so a resumed run continues it exactly:
`constant`; `step` (x gamma at epoch `drop_epoch`, the released StepLR); `cosine` (to zero over the
run). All three start with `warmup_steps` of linear warm-up from zero (0 = none).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict
from typing import Callable

import torch
from torch import nn

from srtrack.config.types import ScheduleConfig, TrainConfig


RELEASED_OVERRIDE_LR = 1.0e-6
# the two-stream X side's groups and the RGB group whose LR they take when theirs is null
X_STREAM_GROUPS = {"blocks_x": "blocks", "embeddings_x": "embeddings"}


def lr_scale(cfg: TrainConfig) -> float:
    """The factor applied to every configured LR (see the module docstring)."""
    return 1.0 if cfg.lr_reference_batch is None else cfg.global_batch / cfg.lr_reference_batch


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Trainable parameters grouped by the model's `param_group` names, each with its LR."""
    configured = asdict(cfg.lr)
    for stream, rgb in X_STREAM_GROUPS.items():
        if configured[stream] is None:
            configured[stream] = configured[rgb]
    if cfg.released_lr_override:
        configured = dict.fromkeys(configured, RELEASED_OVERRIDE_LR)
    rates = {k: v * lr_scale(cfg) for k, v in configured.items()}
    grouped: dict[str, list[nn.Parameter]] = defaultdict(list)
    for name, param in model.named_parameters():
        if param.requires_grad:
            grouped[model.param_group(name)].append(param)
    return [{"name": group, "params": params, "lr": rates[group]} for group, params in grouped.items()]


def build_optimizer(model: nn.Module, cfg: TrainConfig, *, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over the parameter groups; `fused`: one fused kernel per step (the caller decides where:
    `train.fused_adamw` on CUDA), else torch's default implementation."""
    groups = param_groups(model, cfg)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay, **({"fused": True} if fused else {}))


def schedule_factor(schedule: ScheduleConfig, steps_per_epoch: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base LRs at a global step."""

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / schedule.warmup_steps) if schedule.warmup_steps else 1.0
        if schedule.kind == "constant":
            return warm
        if schedule.kind == "step":
            return warm * (schedule.gamma if step // steps_per_epoch >= schedule.drop_epoch else 1.0)
        progress = min(1.0, max(0, step - schedule.warmup_steps) / max(1, total_steps - schedule.warmup_steps))
        return warm * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def schedule_varies(schedule: ScheduleConfig, steps_per_epoch: int, total_steps: int) -> bool:
    """Whether the LRs change during the run (warm-up, a drop or a decay before the last step)."""
    factor = schedule_factor(schedule, steps_per_epoch, total_steps)
    return any(factor(step) != factor(0) for step in range(total_steps))


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: ScheduleConfig, steps_per_epoch: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_factor(schedule, steps_per_epoch, total_steps))


def group_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Current LR per named group, for logging."""
    return {f"lr/{g['name']}": g["lr"] for g in optimizer.param_groups}
