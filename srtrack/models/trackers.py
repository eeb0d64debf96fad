"""Tracker networks (backbone + CENTER head), their registry and their parameter groups.

| name | backbone | input channels | embed / depth / heads | head channels | frozen by default |
|---|---|---|---|---|---|
| `ostrack_tiny` | one-stream | 3 | 192 / 4 / 3 | 64 | - |
| `ostrack_base` | one-stream (OSTrack ViT-B/16) | 3 | 768 / 12 / 12 | 256 | - |
| `srtrack_tiny` | two-stream | 6 | 192 / 4 / 3 | 64 | head, position embeddings |
| `srtrack_base` | two-stream (SRTrack ViT-B/16) | 6 | 768 / 12 / 12 | 256 | head, position embeddings |
| `vipt_tiny`, `vipt_base` | one-stream + deep modality prompts (ViPT) | 6 | as above | as above | all but the prompts |
| `srtrack_lora_tiny`, `srtrack_lora_base` | two-stream + LoRA (qkv rank 8, proj rank 16, alpha 1) | 6 | as above | as above | all but LoRA |

One-stream trackers (`ostrack_*`, `vipt_*`) take `ce_layers` / `ce_keep_ratio` (candidate
elimination); every tracker takes `temporal_pos_embed` (DropTrack's temporal embeddings).

Template/search sizes come from the config (paper: 128 / 256 or 192 / 384; embedded default
64 / 128, chosen for the CPU budget: tiny4 at 64/128 trains at about 75 samples/s on 2 cores).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from torch import Tensor, nn

from srtrack.models.backbones import OneStreamViT, TrackingViTBase, TwoStreamViT
from srtrack.models.head import CenterPredictor
from srtrack.models.peft import apply_lora
from srtrack.models.vipt import PromptedViT

TRACKERS: dict[str, Callable[..., "Tracker"]] = {}
ONE_STREAM: set[str] = set()  # trackers on the one-stream backbone (candidate elimination applies)
TINY = {"embed_dim": 192, "depth": 4, "num_heads": 3, "head_channels": 64}
BASE = {"embed_dim": 768, "depth": 12, "num_heads": 12, "head_channels": 256}

# optimizer groups (method notes section 3.2): regex on parameter names, first match wins
PARAM_GROUPS = (
    ("lora", r".*\.lora_[AB]$"),
    ("prompt", r"^backbone\.(prompt_|patch_embed_prompt\.)"),
    ("head", r"^box_head\."),
    ("pos_embed", r"^backbone\.(temporal_)?pos_embed_"),
    ("embeddings_x", r"^backbone\.patch_embed_x\."),   # the two-stream X side (its LR defaults to embeddings')
    ("embeddings", r"^backbone\.patch_embed"),
    ("fusion", r"^backbone\.blocks_fusion\."),
    ("norms", r"^backbone\.norm"),
    ("blocks_x", r"^backbone\.blocks_x\."),   # the two-stream X side (its LR defaults to blocks')
    ("blocks", r"^backbone\.blocks"),
)


class Tracker(nn.Module):
    """Backbone + CENTER head. `forward(template, search)` returns the head's maps and boxes."""

    def __init__(self, backbone: TrackingViTBase, *, head_channels: int, in_chans: int,
                 freeze: tuple[str, ...] = ()):
        super().__init__()
        self.backbone = backbone
        self.box_head = CenterPredictor(in_planes=backbone.embed_dim, channels=head_channels,
                                        feat_size=backbone.search_grid)
        self.in_chans = in_chans
        self.set_frozen(freeze)

    def forward_features(self, template: Tensor, search: Tensor) -> Tensor:
        return self.backbone(template, search)  # (B, N_z + N_x, C)

    def forward_head(self, tokens: Tensor) -> dict[str, Tensor]:
        search = tokens[:, -self.backbone.num_search_tokens:]  # (B, N_x, C)
        grid = self.backbone.search_grid
        feature_map = search.transpose(1, 2).reshape(search.shape[0], -1, grid, grid)  # (B, C, H_x, W_x)
        return self.box_head(feature_map)

    def forward(self, template: Tensor, search: Tensor) -> dict[str, Tensor]:
        return self.forward_head(self.forward_features(template, search))

    def param_group(self, name: str) -> str:
        """The optimizer group of a parameter name (see PARAM_GROUPS)."""
        for group, pattern in PARAM_GROUPS:
            if re.match(pattern, name):
                return group
        raise KeyError(f"parameter {name!r} matches no group of {[g for g, _ in PARAM_GROUPS]}")

    def set_frozen(self, groups: tuple[str, ...]) -> None:
        """Freeze exactly these groups (`head`, `pos_embed`, ...); everything else trains."""
        known = {g for g, _ in PARAM_GROUPS}
        if set(groups) - known:
            raise ValueError(f"unknown parameter group(s) {sorted(set(groups) - known)}; known: {sorted(known)}")
        for name, param in self.named_parameters():
            param.requires_grad = self.param_group(name) not in groups

    def train_only(self, groups: tuple[str, ...]) -> None:
        """Freeze every group except these (PEFT variants)."""
        self.set_frozen(tuple(g for g, _ in PARAM_GROUPS if g not in groups))

    def parameter_report(self) -> dict[str, int]:
        """Total and trainable parameter counts."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable}


def register_tracker(name: str, *, one_stream: bool = False) -> Callable[[Callable[..., Tracker]], Callable[..., Tracker]]:
    def decorate(factory: Callable[..., Tracker]) -> Callable[..., Tracker]:
        TRACKERS[name] = factory
        if one_stream:
            ONE_STREAM.add(name)
        return factory

    return decorate


def create_tracker(name: str, *, template_size: int, search_size: int, **overrides: Any) -> Tracker:
    """Build a registered tracker; `overrides` replace the variant's defaults (e.g. depth=2)."""
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; known: {sorted(TRACKERS)}")
    return TRACKERS[name](template_size=template_size, search_size=search_size, **overrides)


def _build(backbone_cls: type[TrackingViTBase], defaults: dict, in_chans: int, freeze: tuple[str, ...], **kwargs: Any) -> Tracker:
    args = {**defaults, **kwargs}
    head_channels = args.pop("head_channels")
    freeze = tuple(args.pop("freeze", freeze))
    return Tracker(backbone_cls(**args), head_channels=head_channels, in_chans=in_chans, freeze=freeze)


@register_tracker("ostrack_tiny", one_stream=True)
def ostrack_tiny(**kwargs: Any) -> Tracker:
    return _build(OneStreamViT, TINY, 3, (), **kwargs)


@register_tracker("ostrack_base", one_stream=True)
def ostrack_base(**kwargs: Any) -> Tracker:
    return _build(OneStreamViT, BASE, 3, (), **kwargs)


@register_tracker("srtrack_tiny")
def srtrack_tiny(**kwargs: Any) -> Tracker:
    return _build(TwoStreamViT, TINY, 6, ("head", "pos_embed"), **kwargs)


@register_tracker("srtrack_base")
def srtrack_base(**kwargs: Any) -> Tracker:
    return _build(TwoStreamViT, BASE, 6, ("head", "pos_embed"), **kwargs)


@register_tracker("vipt_tiny", one_stream=True)
def vipt_tiny(**kwargs: Any) -> Tracker:
    tracker = _build(PromptedViT, TINY, 6, (), **kwargs)
    tracker.train_only(("prompt",))
    return tracker


@register_tracker("vipt_base", one_stream=True)
def vipt_base(**kwargs: Any) -> Tracker:
    tracker = _build(PromptedViT, BASE, 6, (), **kwargs)
    tracker.train_only(("prompt",))
    return tracker


def _with_lora(tracker: Tracker, rank_qkv: int, rank_proj: int, alpha: float) -> Tracker:
    apply_lora(tracker.backbone, rank_qkv=rank_qkv, rank_proj=rank_proj, alpha=alpha)
    tracker.train_only(("lora",))
    return tracker


@register_tracker("srtrack_lora_tiny")
def srtrack_lora_tiny(*, rank_qkv: int = 8, rank_proj: int = 16, alpha: float = 1.0, **kwargs: Any) -> Tracker:
    return _with_lora(_build(TwoStreamViT, TINY, 6, (), **kwargs), rank_qkv, rank_proj, alpha)


@register_tracker("srtrack_lora_base")
def srtrack_lora_base(*, rank_qkv: int = 8, rank_proj: int = 16, alpha: float = 1.0, **kwargs: Any) -> Tracker:
    return _with_lora(_build(TwoStreamViT, BASE, 6, (), **kwargs), rank_qkv, rank_proj, alpha)
