"""SRFT and the baselines behind one interface, selected by name (`method.name` in the config).

A regularizer acts at four points of a training step (the trainer's `train_step` adds the penalty
before its backward pass, then calls `apply_update`):

    loss = task loss + penalty(params, t)         # L2-SP, EWC, SRFT's optional penalty form
    backward; before_step(params, t)              # SRFT prior: remove kappa(t) of the gradient in the prior subspace
    optimizer.step()                              # (params snapshotted before it where needed)
    after_step(params, snapshot, t)               # SRFT transfer: per-element interpolation toward the snapshot

Equations as implemented (docs/method.md): for a weight matrix with prior bases P_out, P_in,
`D <- D - kappa(t) P_out P_out^T D P_in P_in^T`; for other tensors `d <- d - kappa(t) (F / max F) d`,
where D is the optimizer's update (`prior_on: update`, default) or the gradient (`prior_on: gradient`).
On the update because AdamW's per-element scaling rotates a projected gradient back into the prior
subspace: in the two-task test a gradient projection with kappa = 1 forgot as much as plain
fine-tuning, an update projection did not.
transfer: `theta <- theta_new + w(t) m (theta_prev - theta_new)` with m from the rank of the smoothed
squared gradient and w(t) = 1 - kappa(t) (`transfer_weight: complement`) or 1 (`independent`).
Every regularizer has a state dict, so a resumed run continues exactly.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from srtrack.config.types import KappaConfig, MethodConfig
from srtrack.method.transfer import TransferSensitivity, hoyer_sparsity

REGULARIZERS: dict[str, type["Regularizer"]] = {}


def kappa_at(schedule: KappaConfig, step: int, total: int) -> float:
    """kappa(t) between `start` (t = 0) and `end` (t = total): constant, linear or cosine."""
    if schedule.kind == "constant":
        return schedule.start
    progress = min(max(step / max(total, 1), 0.0), 1.0)
    if schedule.kind == "linear":
        return schedule.start + (schedule.end - schedule.start) * progress
    if schedule.kind == "cosine":
        return schedule.end + (schedule.start - schedule.end) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown kappa schedule {schedule.kind!r}; known: constant, linear, cosine")


Params = dict[str, nn.Parameter]


def register_regularizer(cls: type["Regularizer"]) -> type["Regularizer"]:
    REGULARIZERS[cls.name] = cls
    return cls


def create_regularizer(name: str, settings: MethodConfig, total_steps: int) -> "Regularizer":
    if name not in REGULARIZERS:
        raise ValueError(f"unknown method {name!r}; known: {sorted(REGULARIZERS)}")
    return REGULARIZERS[name](settings, total_steps)


class Regularizer:
    """Plain fine-tuning: every hook does nothing. Subclasses override what they need."""

    name: ClassVar[str] = "full"
    uses_prior: ClassVar[bool] = False
    needs_snapshot: ClassVar[bool] = False

    def __init__(self, settings: MethodConfig, total_steps: int):
        self.settings, self.total_steps = settings, total_steps
        self.theta0: dict[str, Tensor] = {}
        self.prior: dict[str, Tensor] = {}

    def attach(self, params: Params, prior: dict[str, Tensor] | None = None) -> None:
        """Remember theta_0 and the prior statistics (keyed `<param>.<statistic>`)."""
        if self.uses_prior and prior is None:
            raise ValueError(f"method {self.name!r} needs a prior-sensitivity artifact (python -m srtrack.sensitivity)")
        self.theta0 = {n: p.detach().clone() for n, p in params.items()}
        self.prior = prior or {}

    def configure_model(self, model: nn.Module) -> None:
        """Choose what trains before the optimizer is built (default: leave the model as it is)."""

    def penalty(self, params: Params, step: int) -> Tensor | None:
        return None

    def before_step(self, params: Params, step: int) -> dict[str, float]:
        return {}

    def after_step(self, params: Params, snapshot: dict[str, Tensor] | None, step: int) -> dict[str, float]:
        return {}

    def constant_stats(self) -> dict[str, float]:
        """Statistics that do not change from step to step (logged once, as params)."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


register_regularizer(Regularizer)


class TrainOnly(Regularizer):
    """Plain fine-tuning of some parameter groups only (the model's `train_only`)."""

    groups: ClassVar[tuple[str, ...]] = ()

    def configure_model(self, model: nn.Module) -> None:
        known = {model.param_group(n) for n, _ in model.named_parameters()}
        if not set(self.groups) & known:
            raise ValueError(f"method {self.name!r} trains {list(self.groups)}, but the model has none of them "
                             f"(its groups: {sorted(known)}); pick the matching model.name")
        model.train_only(self.groups)


@register_regularizer
class FrozenBackbone(TrainOnly):
    """Baseline: the backbone stays at theta_0, only the head trains."""

    name = "frozen"
    groups = ("head",)


@register_regularizer
class PromptTuning(TrainOnly):
    """Baseline: ViPT-style prompt tuning (model.name vipt_*): only the prompt modules train."""

    name = "prompt"
    groups = ("prompt",)


@register_regularizer
class LoRATuning(TrainOnly):
    """Baseline: LoRA (model.name srtrack_lora_*): only the low-rank matrices train."""

    name = "lora"
    groups = ("lora",)


@register_regularizer
class L2SP(Regularizer):
    """L2-SP (Li et al., ICML 2018): penalty_weight / 2 * ||theta - theta_0||^2."""

    name = "l2sp"

    def penalty(self, params: Params, step: int) -> Tensor | None:
        terms = [((p - self.theta0[n]) ** 2).sum() for n, p in params.items()]
        return 0.5 * self.settings.penalty_weight * torch.stack(terms).sum() if terms else None


@register_regularizer
class EWC(Regularizer):
    """EWC (Kirkpatrick et al., PNAS 2017): penalty_weight / 2 * sum F_diag (theta - theta_0)^2,
    with the prior artifact's diagonal Fisher (parameters without one are not penalised)."""

    name = "ewc"
    uses_prior = True

    def penalty(self, params: Params, step: int) -> Tensor | None:
        terms = [(self.prior[f"{n}.fisher"] * (p - self.theta0[n]) ** 2).sum() for n, p in params.items()
                 if f"{n}.fisher" in self.prior]
        return 0.5 * self.settings.penalty_weight * torch.stack(terms).sum() if terms else None


@register_regularizer
class SRFT(Regularizer):
    """Prior projection (kappa) + transfer interpolation (1 - kappa or independent)."""

    name = "srft"
    uses_prior = True
    needs_snapshot = True
    use_prior_term: ClassVar[bool] = True
    use_transfer_term: ClassVar[bool] = True

    def __init__(self, settings: MethodConfig, total_steps: int):
        super().__init__(settings, total_steps)
        self.transfer = TransferSensitivity(m_min=settings.m_min, m_max=settings.m_max, smoothing=settings.smoothing,
                                            bug_compatible=settings.bug_compatible, rank_every=settings.rank_every,
                                            rank_method=settings.rank_method)

    def kappa(self, step: int) -> float:
        return kappa_at(self.settings.kappa, step, self.total_steps) if self.use_prior_term else 0.0

    def penalty(self, params: Params, step: int) -> Tensor | None:
        """The prior term as a penalty (`prior_form: penalty`), weighted by kappa at the current step."""
        if self.settings.prior_form != "penalty" or not self.use_prior_term:
            return None
        kappa = self.kappa(step)
        terms = [self._prior_penalty(n, p - self.theta0[n]) for n, p in params.items()]
        terms = [t for t in terms if t is not None]
        return kappa * self.settings.penalty_weight * torch.stack(terms).sum() if terms and kappa else None

    def _prior_penalty(self, name: str, delta: Tensor) -> Tensor | None:
        """1/2 sum_ij (l_out_i l_in_j / l_out_1 l_in_1) (p_out_i^T D p_in_j)^2 for matrices, the
        max-normalised diagonal Fisher for the rest (docs/method.md)."""
        if f"{name}.out_vectors" in self.prior:
            p_out, p_in = self.prior[f"{name}.out_vectors"], self.prior[f"{name}.in_vectors"]
            l_out, l_in = self.prior[f"{name}.out_values"], self.prior[f"{name}.in_values"]
            weight = torch.outer(l_out, l_in) / (l_out[0] * l_in[0]).clamp(min=1e-30)
            core = p_out.T @ delta.reshape(delta.shape[0], -1) @ p_in  # (k_out, k_in)
            return 0.5 * (weight * core ** 2).sum()
        if f"{name}.fisher" in self.prior:
            fisher = self.prior[f"{name}.fisher"]
            return 0.5 * (fisher / fisher.max().clamp(min=1e-30) * delta ** 2).sum()
        return None

    def before_step(self, params: Params, step: int) -> dict[str, float]:
        if self.settings.prior_on != "gradient" or self.settings.prior_form != "projection":
            return {}
        return self._remove_prior(params, {n: p.grad for n, p in params.items() if p.grad is not None}, step)

    def _remove_prior(self, params: Params, vectors: dict[str, Tensor], step: int) -> dict[str, float]:
        """Subtract kappa(t) of each vector's prior component in place (gradients or updates)."""
        kappa = self.kappa(step)
        if kappa == 0.0:
            return {"reg/kappa": 0.0}
        removed, total = 0.0, 0.0
        with torch.no_grad():
            for name, v in vectors.items():
                inside = self._prior_component(name, v)
                if inside is None:
                    continue
                flat_v, flat_inside = v.reshape(-1), inside.reshape(-1)
                total += float(torch.dot(flat_v, flat_v))
                removed += kappa * float(torch.dot(flat_inside, flat_v))
                v.sub_(inside, alpha=kappa)
        return {"reg/kappa": kappa, "reg/prior_removed": removed / total if total else 0.0}

    def _has_prior(self, name: str) -> bool:
        return f"{name}.fisher" in self.prior or f"{name}.out_vectors" in self.prior

    def _prior_component(self, name: str, g: Tensor) -> Tensor | None:
        """The part of a gradient inside the prior subspace (matrices) or Fisher-weighted (others)."""
        if f"{name}.out_vectors" in self.prior:
            p_out, p_in = self.prior[f"{name}.out_vectors"], self.prior[f"{name}.in_vectors"]
            matrix = g.reshape(g.shape[0], -1)  # (d_out, d_in)
            return (p_out @ (p_out.T @ matrix @ p_in) @ p_in.T).reshape(g.shape)
        if f"{name}.fisher" in self.prior:
            fisher = self.prior[f"{name}.fisher"]
            return fisher / fisher.max().clamp(min=1e-30) * g
        return None

    def after_step(self, params: Params, snapshot: dict[str, Tensor] | None, step: int) -> dict[str, float]:
        stats: dict[str, float] = {}
        if snapshot is None:
            return stats
        if self.settings.prior_on == "update" and self.settings.prior_form == "projection":
            # the update of every tensor with prior statistics, projected, then written back
            updates = {n: p.detach() - snapshot[n] for n, p in params.items() if self._has_prior(n)}
            stats.update(self._remove_prior(params, updates, step))
            with torch.no_grad():
                for name, update in updates.items():
                    torch.add(snapshot[name], update, out=params[name].data)
        if not self.use_transfer_term:
            return stats
        weight = 1.0 - self.kappa(step) if self.settings.transfer_weight == "complement" else 1.0
        grads = {n: p.grad for n, p in params.items() if p.grad is not None}
        factors = self.transfer.update(grads)
        with torch.no_grad():
            for name, m in factors.items():
                p = params[name]
                scale = weight * (hoyer_sparsity(grads[name]) if self.settings.sparsity_scaling else 1.0)
                if self.settings.bug_compatible:  # the released arithmetic: theta_prev * m + theta_new * (1 - m)
                    m = m if scale == 1.0 else m * scale
                    p.data = snapshot[name] * m + p.data * (1.0 - m)
                else:
                    p.addcmul_(m, snapshot[name] - p, value=scale)
        stats["reg/transfer_weight"] = weight
        return stats

    def constant_stats(self) -> dict[str, float]:
        # ranks map onto the same evenly spaced factors in [m_min, m_max] at every re-rank: their mean and
        # spread are fixed by construction, a run's params rather than per-step metrics
        if not self.use_transfer_term or not self.transfer.mean_factor:
            return {}
        return {"reg/m_mean": self.transfer.mean_factor, "reg/m_std": self.transfer.spread_factor}

    def state_dict(self) -> dict:
        return {"transfer": self.transfer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.transfer.load_state_dict(state["transfer"])


@register_regularizer
class PriorOnly(SRFT):
    """Ablation: the prior projection without the transfer interpolation."""

    name = "prior_only"
    use_transfer_term = False


@register_regularizer
class TransferOnly(SRFT):
    """Ablation (and what the released code runs): the transfer interpolation alone, no prior."""

    name = "transfer_only"
    uses_prior = False
    use_prior_term = False


class NonFiniteGradientError(FloatingPointError):
    """The gradient norm is NaN or infinite; the parameters were not updated."""


def apply_update(params: Params, optimizer: torch.optim.Optimizer, regularizer: Regularizer, step: int,
                 grad_clip: float | None = None) -> dict[str, float]:
    """Everything after the backward pass: before_step, clipping, optimizer step, after_step.

    Raises NonFiniteGradientError before touching the parameters when the gradient norm is NaN or
    infinite (under DDP the gradients are all-reduced, so every rank raises at the same step).
    """
    stats = dict(regularizer.before_step(params, step))
    grads = [p for p in params.values() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(grads, grad_clip if grad_clip is not None else math.inf)
    if not torch.isfinite(norm):
        raise NonFiniteGradientError(f"gradient norm is {float(norm)} at step {step}")
    stats["train/grad_norm"] = float(norm)
    snapshot = {n: p.detach().clone() for n, p in params.items()} if regularizer.needs_snapshot else None
    optimizer.step()
    stats.update(regularizer.after_step(params, snapshot, step))
    return stats
