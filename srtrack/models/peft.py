"""LoRA on attention `qkv` and `proj` (Hu et al., ICLR 2022), as SRTrack's LoRA compatibility variant.

The official `vit_siam_lora.py` uses loralib's `lora.Linear(..., r=8)` on `qkv` and `r=16` on `proj` in
all RGB, X and fusion blocks, with loralib's default `lora_alpha=1`, i.e. a scale alpha / r of 1/8 on
qkv and 1/16 on proj (`model.lora.alpha`; alpha = r gives scale 1), and trains only the LoRA matrices. `LoRALinear` subclasses `nn.Linear` so the
frozen weight keeps its name (`attn.qkv.weight`) and pretrained checkpoints load unchanged; the
low-rank update adds `lora_A` / `lora_B`. A small own module rather than `peft`: it has to keep
timm's module names and our parameter groups, which `peft`'s wrapping would rename.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LoRALinear(nn.Linear):
    """y = W x + b + (alpha / r) B A x, with B initialised to zero (starts equal to the base layer)."""

    def __init__(self, in_features: int, out_features: int, *, rank: int, alpha: float, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.rank, self.scaling = rank, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, rank: int, alpha: float) -> "LoRALinear":
        lora = cls(linear.in_features, linear.out_features, rank=rank, alpha=alpha, bias=linear.bias is not None)
        lora.weight.data.copy_(linear.weight.data)
        if linear.bias is not None:
            lora.bias.data.copy_(linear.bias.data)
        return lora

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling


def apply_lora(model: nn.Module, *, rank_qkv: int = 8, rank_proj: int = 16, alpha: float = 1.0) -> int:
    """Replace every attention `qkv` / `proj` Linear by a LoRALinear (scale alpha / rank); returns how
    many were replaced. alpha 1 is loralib's default and the released setting."""
    replaced = 0
    for module in list(model.modules()):
        attn_like = hasattr(module, "qkv") and hasattr(module, "proj")
        if not attn_like:
            continue
        for name, rank in (("qkv", rank_qkv), ("proj", rank_proj)):
            layer = getattr(module, name)
            if isinstance(layer, nn.Linear) and not isinstance(layer, LoRALinear):
                setattr(module, name, LoRALinear.from_linear(layer, rank=rank, alpha=alpha))
                replaced += 1
    return replaced
