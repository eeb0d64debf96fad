"""Per-frame box measures, vectorised over (N, 4) arrays of `x, y, w, h` rows.

Three IoU conventions exist in the official evaluators and give different numbers on the same
boxes (../shared/reference/benchmarks.md section 1): pixel-inclusive (+1; OTB/LaSOT MATLAB,
VisEvent/COESOT, pytracking, rgbt), continuous (got10k `rect_iou`) and rasterised (vot-toolkit).
Centres are taken as `x + (w - 1) / 2` (or `x + w / 2` where an evaluator does so); the offset cancels
in every error, but it is kept so that floating-point results equal the evaluators' bit for bit.
"""

from __future__ import annotations

import numpy as np

EPS = np.finfo(float).eps


def iou_inclusive(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Pixel-inclusive IoU: right edge x + w - 1, overlap + 1, areas w * h (rgbt `IoU`, OTB `calcRectInt`)."""
    x1, y1 = np.maximum(pred[:, 0], gt[:, 0]), np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2] - 1, gt[:, 0] + gt[:, 2] - 1)
    y2 = np.minimum(pred[:, 1] + pred[:, 3] - 1, gt[:, 1] + gt[:, 3] - 1)
    inter = np.maximum(0, x2 - x1 + 1) * np.maximum(0, y2 - y1 + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter)


def iou_continuous(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Continuous IoU clipped to [0, 1] with got10k's eps in the denominator (got10k `rect_iou`)."""
    x1, y1 = np.maximum(pred[:, 0], gt[:, 0]), np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter
    return np.clip(inter / (union + EPS), 0.0, 1.0)


def iou_raster(pred: np.ndarray, gt: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """vot-toolkit's overlap of two rectangles: x, y, w, h rounded half to even, pixels x .. x + w - 1
    filled, both clipped to the image (width, height); NaN rows are empty. Two empty regions: 1.0
    (vot-toolkit 0.9), an empty and a non-empty one: 0.0."""
    width, height = size

    def pixels(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
        r = np.round(np.nan_to_num(boxes, nan=0.0))
        empty = np.isnan(boxes).any(axis=1) | (r[:, 2] <= 0) | (r[:, 3] <= 0)
        left, top = np.clip(r[:, 0], 0, width), np.clip(r[:, 1], 0, height)
        right, bottom = np.clip(r[:, 0] + r[:, 2], 0, width), np.clip(r[:, 1] + r[:, 3], 0, height)
        right, bottom = np.where(empty, left, right), np.where(empty, top, bottom)
        return left, top, np.maximum(right, left), np.maximum(bottom, top)

    pl, pt, pr, pb = pixels(pred)
    gl, gt_, gr, gb = pixels(gt)
    inter = np.maximum(0, np.minimum(pr, gr) - np.maximum(pl, gl)) * np.maximum(0, np.minimum(pb, gb) - np.maximum(pt, gt_))
    area_p, area_g = (pr - pl) * (pb - pt), (gr - gl) * (gb - gt_)
    union = area_p + area_g - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)


def centers(boxes: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """(N, 2) centres: x + (w - 1) / 2 (inclusive) or x + w / 2."""
    offset = (boxes[:, 2:] - 1) / 2.0 if inclusive else boxes[:, 2:] / 2.0
    return offset + boxes[:, :2]


def center_errors(pred: np.ndarray, gt: np.ndarray, *, inclusive: bool = True,
                  power_root: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Centre distance in pixels, and with both centres divided by the GT size + 1e-8 (rgbt,
    pytracking), in the arrays' dtype; `power_root` takes `(.) ** 0.5` as rgbt does instead of sqrt."""
    c_pred, c_gt = centers(pred, inclusive), centers(gt, inclusive)
    d = c_pred - c_gt
    scale = gt[:, 2:] + np.asarray(1e-8, dtype=gt.dtype)
    dn = c_pred / scale - c_gt / scale
    root = (lambda x: x ** 0.5) if power_root else np.sqrt
    return root(d[:, 0] ** 2 + d[:, 1] ** 2), root(dn[:, 0] ** 2 + dn[:, 1] ** 2)
