"""OSTrack's training objective: focal loss on the score map, GIoU and L1 on boxes.

OSTrack `lib/train/actors/ostrack.py` and `lib/utils/focal_loss.py` / `box_ops.py`:
L = w_focal * focal(score_map, gaussian) + w_giou * GIoU(pred, gt) + w_l1 * L1(pred, gt), with the
CenterNet focal loss (alpha 2, beta 4) and boxes as normalised x1, y1, x2, y2 (ground truth clamped
to [0, 1]). The paper's weights are 1 / 2 / 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LossWeights:
    focal: float = 1.0
    giou: float = 2.0
    l1: float = 5.0


def focal_loss(pred: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """CenterNet focal loss; pred and target (B, H, W) or (B, 1, H, W), pred in (0, 1)."""
    pred, target = pred.reshape(target.shape[0], -1), target.reshape(target.shape[0], -1)
    positive = target.eq(1).float()
    negative = 1.0 - positive
    pos_loss = torch.log(pred) * (1 - pred) ** alpha * positive
    neg_loss = torch.log(1 - pred) * pred ** alpha * (1 - target) ** beta * negative
    # CenterNet divides by the number of peaks, or by 1 without a peak (then pos_loss sums to 0);
    # written without a branch so that torch.func.vmap can take per-sample gradients through it
    return -(pos_loss.sum() + neg_loss.sum()) / positive.sum().clamp(min=1.0)


def cxcywh_to_xyxy(box: Tensor) -> Tensor:
    cx, cy, w, h = box.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def xywh_to_xyxy(box: Tensor) -> Tensor:
    x, y, w, h = box.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def giou(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Generalised IoU and IoU of (N, 4) x1, y1, x2, y2 boxes, element-wise."""
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    lt, rb = torch.max(pred[:, :2], target[:, :2]), torch.min(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter
    iou = inter / union
    hull = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).clamp(min=0).prod(dim=1)
    return iou - (hull - union) / hull, iou


def loss_terms(outputs: dict[str, Tensor], search_box: Tensor, score_target: Tensor) -> dict[str, Tensor]:
    """The unweighted terms (and the mean IoU) as tensors; free of Python control flow on data, so
    that `torch.func.vmap` can differentiate it per sample."""
    pred = cxcywh_to_xyxy(outputs["pred_boxes"])
    target = xywh_to_xyxy(search_box).clamp(0.0, 1.0)
    giou_value, iou = giou(pred, target)
    return {"focal": focal_loss(outputs["score_map"], score_target), "giou": (1 - giou_value).mean(),
            "l1": torch.nn.functional.l1_loss(pred, target), "iou": iou.mean()}


def objective(outputs: dict[str, Tensor], search_box: Tensor, score_target: Tensor,
              weights: LossWeights = LossWeights()) -> Tensor:
    """The weighted tracking loss as one tensor (the form per-sample gradients need)."""
    return weighted_loss(loss_terms(outputs, search_box, score_target), weights)


def weighted_loss(terms: dict[str, Tensor], weights: LossWeights) -> Tensor:
    """The objective from its terms: focal + GIoU + L1 with the configured weights."""
    return weights.focal * terms["focal"] + weights.giou * terms["giou"] + weights.l1 * terms["l1"]
