"""ViT backbones for tracking, built from timm's `Block` and `PatchEmbed` (no copy of timm code).

* `OneStreamViT`: OSTrack's one-stream backbone (Ye et al., ECCV 2022, arXiv 2203.11991;
  github.com/botaoye/OSTrack `lib/models/ostrack/vit.py`, `vit_ce.py`): template and search tokens with
  their own position embeddings, concatenated (template first) and run through one stack of blocks,
  with OSTrack's candidate elimination after the configured blocks (srtrack/models/elimination.py).
* `TwoStreamViT`: SRTrack's backbone (arXiv 2508.17488; github.com/zhiwen-xdu/SRTrack,
  `SIAMTrack`): an RGB and an X stream with their own patch embeddings and blocks, sharing the
  template/search position embeddings; after the blocks listed by `fusion_layers` (2, 5, 8, 11 for
  depth 12, 0-based) a fusion block runs on the concatenated RGB and X tokens, which are then split
  back; per-stream final norm; the mean of the two streams goes to the head. Names differ from the
  official code only in `event` -> `x` and `cross` -> `fusion`. No candidate elimination, as released.

DropTrack (Wu et al., CVPR 2023; github.com/jimmy-dq/DropTrack) and SRTrack's DropTrack variant add
one learned temporal embedding to every template token and one to every search token, after the
position embeddings, in every stream (`temporal_pos_embed_z` / `_x`, 1 x 1 x C); a backbone built
with `temporal_pos_embed=True` holds and adds them.

Parameter names follow timm/OSTrack (`patch_embed.proj`, `blocks.N.attn.qkv`, ...), so OSTrack,
DropTrack and MAE weights map onto them (srtrack/models/checkpoints.py).
"""

from __future__ import annotations

from functools import partial

import torch
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from srtrack.models.elimination import CandidateElimination, ce_blocks, template_centre

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def fusion_layers(depth: int, n_fusion: int = 4) -> list[int]:
    """0-based block indices followed by a fusion block: every depth/4-th block, ending with the last.

    Shallower than four blocks (test models), every block is followed by one.
    """
    n = min(n_fusion, depth)
    return [depth * (j + 1) // n - 1 for j in range(n)]


def make_blocks(indices: list[int], *, dim: int, num_heads: int, mlp_ratio: float, drop_path: list[float]) -> nn.ModuleList:
    """timm ViT blocks (qkv bias, LayerNorm eps 1e-6) with the stochastic-depth rate of each layer index."""
    return nn.ModuleList(Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, drop_path=drop_path[i],
                               norm_layer=LayerNorm) for i in indices)


def make_patch_embed(patch_size: int, dim: int) -> PatchEmbed:
    return PatchEmbed(img_size=None, patch_size=patch_size, in_chans=3, embed_dim=dim, strict_img_size=False)


class TrackingViTBase(nn.Module):
    """What both backbones share: sizes, position embeddings of template and search, init."""

    def __init__(self, *, embed_dim: int, depth: int, num_heads: int, template_size: int, search_size: int,
                 mlp_ratio: float = 4.0, drop_path_rate: float = 0.1, patch_size: int = 16,
                 temporal_pos_embed: bool = False):
        super().__init__()
        self.embed_dim, self.depth, self.patch_size = embed_dim, depth, patch_size
        self.num_heads, self.mlp_ratio = num_heads, mlp_ratio
        self.template_grid, self.search_grid = template_size // patch_size, search_size // patch_size
        self.pos_embed_z = nn.Parameter(torch.zeros(1, self.template_grid ** 2, embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, self.search_grid ** 2, embed_dim))
        self.drop_path = [float(r) for r in torch.linspace(0, drop_path_rate, depth, device="cpu")]
        trunc_normal_(self.pos_embed_z, std=0.02)
        trunc_normal_(self.pos_embed_x, std=0.02)
        # train.activation_checkpointing: keep only each block's input in training and recompute its
        # activations in the backward pass (the RNG state is replayed, so drop-path masks are the same)
        self.activation_checkpointing = False
        self.temporal_pos_embed = temporal_pos_embed
        if temporal_pos_embed:
            self.temporal_pos_embed_z = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.temporal_pos_embed_x = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def _blocks(self, indices: list[int]) -> nn.ModuleList:
        return make_blocks(indices, dim=self.embed_dim, num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                           drop_path=self.drop_path)

    def run(self, block: nn.Module, tokens: Tensor) -> Tensor:
        """One block on `tokens`, checkpointed when activation checkpointing is on and gradients are needed."""
        if self.activation_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, tokens, use_reentrant=False)
        return block(tokens)

    def positions(self, z: Tensor, x: Tensor) -> Tensor:
        """Template and search tokens with their position (and temporal) embeddings, concatenated."""
        z, x = z + self.pos_embed_z, x + self.pos_embed_x  # (B, N_z, C), (B, N_x, C)
        if self.temporal_pos_embed:
            z, x = z + self.temporal_pos_embed_z, x + self.temporal_pos_embed_x
        return torch.cat([z, x], dim=1)  # (B, N_z + N_x, C)

    def embed(self, patch_embed: PatchEmbed, template: Tensor, search: Tensor) -> Tensor:
        return self.positions(patch_embed(template), patch_embed(search))

    @property
    def num_search_tokens(self) -> int:
        return self.search_grid ** 2

    def init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


class OneStreamViT(TrackingViTBase):
    """OSTrack one-stream ViT over 3-channel template and search images, with candidate elimination
    after `ce_layers` (indices of a 12-block ViT; srtrack/models/elimination.py)."""

    def __init__(self, *, ce_layers: tuple[int, ...] = (), ce_keep_ratio: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.patch_embed = make_patch_embed(self.patch_size, self.embed_dim)
        self.blocks = self._blocks(list(range(self.depth)))
        self.norm = LayerNorm(self.embed_dim)
        self.ce_layers, self.ce_keep_ratio = tuple(ce_layers), float(ce_keep_ratio)
        self.ce_at = ce_blocks(self.ce_layers, self.depth) if ce_keep_ratio < 1 else ()
        self.ce_keep_rate: float | None = None  # the training warm-up's rate for every CE block (None: the ratio)
        self.init_weights()

    def ce_keep(self, index: int) -> float:
        """The share of search tokens block `index` keeps (1: no elimination)."""
        if index not in self.ce_at:
            return 1.0
        return self.ce_keep_ratio if self.ce_keep_rate is None else self.ce_keep_rate

    def eliminator(self, tokens: Tensor) -> CandidateElimination:
        return CandidateElimination(tokens, self.template_grid ** 2, self.search_grid ** 2,
                                    template_centre(self.template_grid))

    def run_block(self, i: int, tokens: Tensor, ce: CandidateElimination) -> Tensor:
        keep = self.ce_keep(i)
        # a block that eliminates tokens needs its attention map: it is never checkpointed
        return ce.block(self.blocks[i], tokens, keep) if keep < 1 else self.run(self.blocks[i], tokens)

    def forward(self, template: Tensor, search: Tensor) -> Tensor:
        """(B, 3, Hz, Wz), (B, 3, Hx, Wx) -> normalised tokens (B, N_z + N_x, C)."""
        tokens = self.embed(self.patch_embed, template, search)
        ce = self.eliminator(tokens)
        for i in range(self.depth):
            tokens = self.run_block(i, tokens, ce)
        return ce.restore(self.norm(tokens))


class TwoStreamViT(TrackingViTBase):
    """SRTrack's RGB + X backbone over 6-channel inputs (RGB channels first)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.patch_embed_rgb = make_patch_embed(self.patch_size, self.embed_dim)
        self.patch_embed_x = make_patch_embed(self.patch_size, self.embed_dim)
        self.blocks_rgb = self._blocks(list(range(self.depth)))
        self.blocks_x = self._blocks(list(range(self.depth)))
        self.fusion_after = fusion_layers(self.depth)
        self.blocks_fusion = self._blocks(self.fusion_after)
        self.norm_rgb = LayerNorm(self.embed_dim)
        self.norm_x = LayerNorm(self.embed_dim)
        self.init_weights()

    def forward(self, template: Tensor, search: Tensor) -> Tensor:
        """(B, 6, Hz, Wz), (B, 6, Hx, Wx) -> mean of the two normalised streams (B, N_z + N_x, C)."""
        rgb = self.embed(self.patch_embed_rgb, template[:, :3], search[:, :3])  # (B, N, C)
        aux = self.embed(self.patch_embed_x, template[:, 3:], search[:, 3:])  # (B, N, C)
        n_tokens = rgb.shape[1]
        fusion = iter(self.blocks_fusion)
        for i in range(self.depth):
            rgb, aux = self.run(self.blocks_rgb[i], rgb), self.run(self.blocks_x[i], aux)
            if i in self.fusion_after:
                joint = self.run(next(fusion), torch.cat([rgb, aux], dim=1))  # (B, 2N, C)
                rgb, aux = joint[:, :n_tokens], joint[:, n_tokens:]
        return (self.norm_rgb(rgb) + self.norm_x(aux)) / 2
