"""Transfer sensitivity: per-element gradient statistics on the RGB-X data during tuning, turned into
an interpolation factor m that damps the update of the most sensitive elements.

What the released SRTrack code runs (method notes section 1.3) after every optimizer step, for every
trainable tensor W with (clipped) gradient g:

    q_t = g * g;  s = (q_{t-1} + q_t) / 2;  s = s / max(s)
    m   = linspace(m_min, m_max)[rank(s)]        (most sensitive -> m_max -> smallest step)
    W   = m * W_before + (1 - m) * W_after

`window=2` reproduces the two-step mean; `ema` (beta) is the smoothed alternative. The released code
gathers (`linspace[sort_index]`) where it means to scatter (`out[sort_index] = linspace`), which makes
m a permutation unrelated to the element's own sensitivity; `bug_compatible=True` reproduces that.
The per-step full sort is what makes the released code slow: `rank_method: quantile` reads each
element's rank from a 4096-bin histogram of log10(s) (O(n), no sort), and `rank_every` re-ranks only
every few steps and reuses the factors in between (exact and 1 = the released behaviour).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

RELEASED_SCALE = 1e8  # the released code scales g^2 before the window (it changes float32 rounding, not ranks)


def rank_to_factor(s: Tensor, m_min: float, m_max: float, *, bug_compatible: bool = False) -> Tensor:
    """Per-element factors in [m_min, m_max] by the rank of `s` (ascending: largest s gets m_max).
    `bug_compatible`: the released code's arithmetic, the default `torch.sort` (not stable: its order
    of ties decides the gathered factors) and a float32 linspace made on the CPU, gathered by the
    sort index.

    >>> [round(v, 2) for v in rank_to_factor(torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7]), 0.25, 0.65).tolist()]
    [0.65, 0.25, 0.45, 0.35, 0.55]
    """
    flat = s.reshape(-1)
    if bug_compatible:
        _, order = flat.sort(descending=False)
        values = torch.linspace(m_min, m_max, steps=flat.numel()).to(flat.device)
        return values[order].view(s.shape)  # the released code's gather
    order = torch.argsort(flat, stable=True)
    values = torch.linspace(m_min, m_max, flat.numel(), dtype=flat.dtype, device=flat.device)
    factors = torch.empty_like(values)
    factors[order] = values
    return factors.reshape(s.shape)


def quantile_rank_to_factor(s: Tensor, m_min: float, m_max: float, *, bins: int = 4096, decades: float = 12.0) -> Tensor:
    """rank_to_factor with each element's rank read from a histogram of log10(s): O(n), no sort.

    `s` is normalised to max 1 (as the transfer sensitivity is), so log10(s) lies in [-decades, 0]
    after clamping; elements in the same of `bins` log-spaced bins share the mid-bin CDF value.
    Deterministic; exact (a full sort) when s has at most `bins` elements.
    """
    flat = s.reshape(-1)
    n = flat.numel()
    if n <= bins:
        return rank_to_factor(s, m_min, m_max)
    position = (torch.log10(flat.clamp(min=10.0 ** -decades)) / decades + 1.0) * (bins - 1)  # 0 .. bins-1
    index = position.round_().clamp_(0, bins - 1).long()
    counts = torch.bincount(index, minlength=bins).to(flat.dtype)
    below = torch.cumsum(counts, 0) - counts  # elements in lower bins
    rank = below + (counts - 1) / 2  # mid-bin rank
    share = rank / max(n - 1, 1)
    return (m_min + (m_max - m_min) * share[index]).reshape(s.shape)


def hoyer_sparsity(g: Tensor) -> float:
    """(sqrt(n) - |g|_1 / |g|_2) / (sqrt(n) - 1): 0 for a flat gradient, 1 for a single spike."""
    n = g.numel()
    if n < 2:
        return 0.0
    l2 = float(g.norm())
    if l2 == 0.0:
        return 0.0
    return (math.sqrt(n) - float(g.abs().sum()) / l2) / (math.sqrt(n) - 1)


class TransferSensitivity:
    """Running per-element sensitivity of named tensors, with a state dict for exact resume."""

    def __init__(self, *, m_min: float = 0.25, m_max: float = 0.65, smoothing: str = "window", beta: float = 0.5,
                 bug_compatible: bool = False, rank_every: int = 1, rank_method: str = "exact"):
        if smoothing not in ("window", "ema"):
            raise ValueError(f"smoothing must be 'window' or 'ema', got {smoothing!r}")
        if rank_method not in ("exact", "quantile") or (bug_compatible and rank_method != "exact"):
            raise ValueError(f"rank_method must be 'exact' or 'quantile' ('exact' with bug_compatible), got {rank_method!r}")
        if bug_compatible and (rank_every != 1 or smoothing != "window"):
            raise ValueError("bug_compatible ranks every step over the two-step window, as the released code does")
        self.rank_method = rank_method
        self.m_min, self.m_max, self.smoothing, self.beta = m_min, m_max, smoothing, beta
        self.bug_compatible, self.rank_every = bug_compatible, rank_every
        self.previous: dict[str, Tensor] = {}
        self.factors: dict[str, Tensor] = {}
        self.steps = 0
        self.mean_factor = 0.0  # mean and standard deviation of all factors at the last re-rank, for logging
        self.spread_factor = 0.0

    def update(self, grads: dict[str, Tensor]) -> dict[str, Tensor]:
        """Fold in this step's gradients; returns the factor m of every tensor."""
        rerank = self.steps % self.rank_every == 0
        for name, g in grads.items():
            if self.bug_compatible:  # the released window: q = g^2 * 1e8 against the previous q, zeros at first
                q = torch.square(g.detach().float()) * RELEASED_SCALE
                prev = self.previous.get(name, torch.zeros_like(q))
            else:
                q = torch.square(g.detach().float())
                prev = self.previous.get(name)
            needed = rerank or name not in self.factors
            if self.smoothing == "ema":
                s = (1 - self.beta) * q if prev is None else self.beta * prev + (1 - self.beta) * q
                self.previous[name] = s
            else:  # the window mean is only needed when ranking: between re-ranks, just remember q
                s = (q if prev is None else (prev + q) / 2) if needed else None
                self.previous[name] = q
            if needed:
                # the released code divides by the max as it is (an all-zero gradient gives NaN, which only
                # reorders its sort); ours keeps such a tensor at the smallest factors
                s = s / (s.max() if self.bug_compatible else s.max().clamp(min=1e-30))
                if self.rank_method == "quantile":
                    self.factors[name] = quantile_rank_to_factor(s, self.m_min, self.m_max)
                else:
                    self.factors[name] = rank_to_factor(s, self.m_min, self.m_max, bug_compatible=self.bug_compatible)
        if rerank and self.factors:
            count = sum(m.numel() for m in self.factors.values())
            total = sum(float(m.sum(dtype=torch.float64)) for m in self.factors.values())
            squares = sum(float(torch.square(m.double()).sum()) for m in self.factors.values())
            self.mean_factor = total / count
            self.spread_factor = max(squares / count - self.mean_factor ** 2, 0.0) ** 0.5
        self.steps += 1
        return self.factors

    def state_dict(self) -> dict:
        return {"previous": dict(self.previous), "factors": dict(self.factors), "steps": self.steps,
                "mean_factor": self.mean_factor, "spread_factor": self.spread_factor}

    def load_state_dict(self, state: dict) -> None:
        self.previous, self.factors, self.steps = dict(state["previous"]), dict(state["factors"]), int(state["steps"])
        self.mean_factor = float(state.get("mean_factor", 0.0))
        self.spread_factor = float(state.get("spread_factor", 0.0))
