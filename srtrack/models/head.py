"""OSTrack's CENTER head: score, size and offset maps on the stride-16 search grid.

OSTrack (Ye et al., ECCV 2022, arXiv 2203.11991; github.com/botaoye/OSTrack `lib/models/layers/head.py`,
`CenterPredictor`). Parameter names follow the official module (`conv1_ctr.0.weight`, ...) so that
OSTrack checkpoints load into it without renaming.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def conv_bn_relu(in_planes: int, out_planes: int) -> nn.Sequential:
    """3x3 conv + BatchNorm + ReLU, as OSTrack's `conv` helper (indices 0/1 carry the weights)."""
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 3, padding=1, bias=True), nn.BatchNorm2d(out_planes),
                         nn.ReLU(inplace=True))


class CenterPredictor(nn.Module):
    """Three conv towers on the search tokens: centre score (1), size (2) and offset (2) maps."""

    def __init__(self, *, in_planes: int, channels: int, feat_size: int):
        super().__init__()
        self.feat_size = feat_size
        widths = [in_planes, channels, channels // 2, channels // 4, channels // 8]
        for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
            for i in range(4):
                setattr(self, f"conv{i + 1}_{branch}", conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{branch}", nn.Conv2d(widths[4], out, kernel_size=1))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _tower(self, x: Tensor, branch: str) -> Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{branch}")(x)
        return x

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        """features (B, C, H, W) -> maps and the decoded box (normalised cx, cy, w, h)."""
        score = torch.clamp(torch.sigmoid(self._tower(features, "ctr")), min=1e-4, max=1 - 1e-4)  # (B, 1, H, W)
        size = torch.sigmoid(self._tower(features, "size"))  # (B, 2, H, W)
        offset = self._tower(features, "offset")  # (B, 2, H, W)
        return {"score_map": score, "size_map": size, "offset_map": offset,
                "pred_boxes": decode_boxes(score, size, offset)}


def decode_boxes(score: Tensor, size: Tensor, offset: Tensor, window: Tensor | None = None) -> Tensor:
    """Arg-max of the (optionally windowed) score map -> (B, 4) normalised cx, cy, w, h (`cal_bbox`)."""
    batch, _, height, width = score.shape
    flat = score.flatten(1) if window is None else (score * window).flatten(1)
    index = flat.argmax(dim=1, keepdim=True)  # (B, 1)
    idx_y, idx_x = index // width, index % width
    gather = index.unsqueeze(1).expand(batch, 2, 1)  # (B, 2, 1)
    box_size = size.flatten(2).gather(2, gather).squeeze(-1)  # (B, 2)
    box_offset = offset.flatten(2).gather(2, gather).squeeze(-1)  # (B, 2)
    cx = (idx_x.float() + box_offset[:, :1]) / width
    cy = (idx_y.float() + box_offset[:, 1:]) / height
    return torch.cat([cx, cy, box_size], dim=1)
