"""OSTrack's candidate elimination (CE): search tokens the template hardly attends to are dropped.

From the official definitions (OSTrack `lib/models/ostrack/vit_ce.py`, `lib/models/layers/attn_blocks.py`
`CEBlock` / `candidate_elimination`, `lib/utils/ce_utils.py`; ViPT's `vit_ce_prompt.py` uses the same):

* After the attention of a CE block (OSTrack CE_LOC 3, 6, 9, 0-based, keep ratio 0.7), the attention
  of the template's centre token (CE_TEMPLATE_RANGE `CTR_POINT`: cell ((g - 1) // 2, same) of the
  g x g template grid) to every search token, averaged over the heads, ranks the remaining search
  tokens; the first ceil(keep x remaining) stay (sorted by attention, descending), the others leave
  the sequence. The block's MLP then runs on the shorter sequence.
* After the final norm the removed positions are filled with zeros and the search tokens put back in
  their grid order, so the head sees a full map.
* In training, OSTrack's `adjust_keep_rate` keeps every token before `start_epoch` (1-based epochs)
  and lowers the rate by a half cosine to the keep ratio over `warm_epochs`; the rate replaces every
  CE block's own ratio.

CE is a property of one-stream backbones only: SRTrack's two-stream backbone ignores the CE settings
of its configs, as released.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

REFERENCE_DEPTH = 12  # the CE layer indices are given for OSTrack's 12-block ViT


def ce_blocks(layers: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """The configured CE blocks of a 12-block ViT at the same relative depths of a `depth`-block one."""
    return tuple(sorted({layer * depth // REFERENCE_DEPTH for layer in layers}))


def template_centre(grid: int) -> int:
    """Index of OSTrack's CTR_POINT template token (grids 7, 8, 12, 14 as released; the same rule elsewhere)."""
    centre = (grid - 1) // 2
    return centre * grid + centre


def keep_rate(epoch: int, start_epoch: int | None, warm_epochs: int, keep_ratio: float) -> float:
    """OSTrack's `adjust_keep_rate` with ITERS_PER_EPOCH = 1 (as its actor calls it), `epoch` 1-based."""
    if start_epoch is None or epoch < start_epoch:
        return 1.0
    if epoch >= start_epoch + warm_epochs:
        return keep_ratio
    progress = (epoch - start_epoch) / warm_epochs
    return keep_ratio + (1 - keep_ratio) * (math.cos(progress * math.pi) + 1) * 0.5


def attention(block: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """A timm `Block`'s attention branch computed explicitly: (its output, the attention weights)."""
    attn_module = block.attn
    b, n, c = x.shape
    qkv = attn_module.qkv(block.norm1(x)).reshape(b, n, 3, attn_module.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn_module.q_norm(q), attn_module.k_norm(k)
    weights = ((q @ k.transpose(-2, -1)) * attn_module.scale).softmax(dim=-1)
    weights = attn_module.attn_drop(weights)
    out = (weights @ v).transpose(1, 2).reshape(b, n, -1)
    return attn_module.proj_drop(attn_module.proj(attn_module.norm(out))), weights


def eliminate(weights: Tensor, tokens: Tensor, lens_t: int, keep: float, index: Tensor,
              centre: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """Keep the ceil(keep x L_s) search tokens the template centre attends to most.

    Returns the shorter tokens, the kept tokens' grid indices and the removed ones (None: nothing removed).
    """
    lens_s = weights.shape[-1] - lens_t
    lens_keep = math.ceil(keep * lens_s)
    if lens_keep == lens_s:
        return tokens, index, None
    score = weights[:, :, centre, lens_t:].mean(dim=1)  # (B, L_s): the centre token's attention, mean over heads
    order = torch.sort(score, dim=1, descending=True).indices
    top, rest = order[:, :lens_keep], order[:, lens_keep:]
    channels = tokens.shape[-1]
    kept = tokens[:, lens_t:].gather(1, top.unsqueeze(-1).expand(-1, -1, channels))
    return torch.cat([tokens[:, :lens_t], kept], dim=1), index.gather(1, top), index.gather(1, rest)


def restore_grid(search: Tensor, kept: Tensor, removed: list[Tensor], lens_x: int) -> Tensor:
    """Search tokens back in grid order, zeros where tokens were removed."""
    if not removed:
        return search
    b, _, c = search.shape
    padded = torch.cat([search, search.new_zeros(b, lens_x - search.shape[1], c)], dim=1)
    order = torch.cat([kept, *removed], dim=1).unsqueeze(-1).expand(-1, -1, c)
    return torch.zeros_like(padded).scatter(1, order, padded)


class CandidateElimination:
    """The CE state of one forward pass through a one-stream backbone."""

    def __init__(self, tokens: Tensor, lens_t: int, lens_x: int, centre: int):
        self.lens_t, self.lens_x, self.centre = lens_t, lens_x, centre
        self.index = torch.arange(lens_x, device=tokens.device).expand(tokens.shape[0], -1)
        self.removed: list[Tensor] = []

    def block(self, block: nn.Module, x: Tensor, keep: float) -> Tensor:
        """A CE block: attention, elimination with `keep` (< 1), MLP."""
        out, weights = attention(block, x)
        x = x + block.drop_path1(block.ls1(out))
        x, self.index, removed = eliminate(weights, x, self.lens_t, keep, self.index, self.centre)
        if removed is not None:
            self.removed.append(removed)
        return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))

    def restore(self, tokens: Tensor) -> Tensor:
        """Template tokens, then the full search grid (removed positions zero)."""
        search = restore_grid(tokens[:, self.lens_t:], self.index, self.removed, self.lens_x)
        return torch.cat([tokens[:, :self.lens_t], search], dim=1)

    def kept(self, search: Tensor) -> Tensor:
        """The rows of a full-grid search tensor that are still in the sequence (ViPT's prompts)."""
        return search.gather(1, self.index.unsqueeze(-1).expand(-1, -1, search.shape[-1]))
