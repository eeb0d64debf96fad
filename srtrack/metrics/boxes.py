"""Per-frame box measures, vectorised over (N, 4) arrays of `x, y, w, h` rows.

Three IoU conventions exist in the official evaluators and give different numbers on the same
boxes: pixel-inclusive (+1; OTB/LaSOT MATLAB,
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
    x2 = pred[:, 0] + pred[:, 2]
    np.minimum(x2, gt[:, 0] + gt[:, 2], out=x2)
    y2 = pred[:, 1] + pred[:, 3]
    np.minimum(y2, gt[:, 1] + gt[:, 3], out=y2)
    x2 -= x1
    y2 -= y1
    inter = np.maximum(x2, 0, out=x2)
    inter *= np.maximum(y2, 0, out=y2)
    union = pred[:, 2] * pred[:, 3]  # the same operations in the same order as rect_iou, in place
    union += gt[:, 2] * gt[:, 3]
    union -= inter
    union += EPS
    inter /= union
    return np.clip(inter, 0.0, 1.0, out=inter)


def iou_raster(pred: np.ndarray, gt: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """vot-toolkit 0.9.0's bounded overlap of two rectangles (`calculate_overlap`, vot/region/raster.py),
    vectorised. x, y, w, h are taken to float32 and rounded half to even, as the toolkit does; a box
    covers pixels x .. x + w - 1. A NaN row is
    the toolkit's empty region, whose bounds count as (0, 0, 0, 0). When the union of the two bounds
    [left, top, right, bottom] has no extent (left >= right or top >= bottom) the overlap is 1.0 ("two
    empty regions are identical"); when that union clipped to the image [0, W - 1] x [0, H - 1] has
    none, 0.0; otherwise the pixel IoU inside the clipped union (0.0 when no pixel is set)."""
    width, height = size

    def bounds(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        empty = np.isnan(boxes).any(axis=1)
        # the toolkit keeps rectangles in float32: 20.5 + 1e-9 is 20.5 there, rounded to 20
        r = np.round(np.where(empty[:, None], 0.0, boxes).astype(np.float32)).astype(float)
        edges = np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2] - 1, r[:, 1] + r[:, 3] - 1], axis=1)
        return np.where(empty[:, None], 0.0, edges), empty

    (p, p_empty), (g, g_empty) = bounds(np.asarray(pred, float)), bounds(np.asarray(gt, float))
    union = np.concatenate([np.minimum(p[:, :2], g[:, :2]), np.maximum(p[:, 2:], g[:, 2:])], axis=1)
    identical = (union[:, 0] >= union[:, 2]) | (union[:, 1] >= union[:, 3])
    clip = np.stack([np.maximum(union[:, 0], 0), np.maximum(union[:, 1], 0),
                     np.minimum(union[:, 2], width - 1), np.minimum(union[:, 3], height - 1)], axis=1)
    outside = (clip[:, 0] >= clip[:, 2]) | (clip[:, 1] >= clip[:, 3])

    def pixels(*rects: np.ndarray) -> np.ndarray:
        """Pixels inside every rectangle and the clipped union (inclusive edges)."""
        lo, hi = np.maximum.reduce([r[:, :2] for r in (*rects, clip)]), np.minimum.reduce([r[:, 2:] for r in (*rects, clip)])
        extent = np.maximum(hi - lo + 1, 0)
        return extent[:, 0] * extent[:, 1]

    area_p, area_g = np.where(p_empty, 0.0, pixels(p)), np.where(g_empty, 0.0, pixels(g))
    inter = np.where(p_empty | g_empty, 0.0, pixels(p, g))
    union_area = area_p + area_g - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = np.where(union_area > 0, inter / np.where(union_area > 0, union_area, 1), 0.0)
    return np.where(identical, 1.0, np.where(outside, 0.0, overlap))


def _centre(boxes: np.ndarray, axis: int, inclusive: bool) -> np.ndarray:
    """One centre coordinate, computed as the evaluators do: (size - 1) / 2 + corner."""
    size = boxes[:, axis + 2]
    return ((size - 1) / 2.0 if inclusive else size / 2.0) + boxes[:, axis]


def center_errors(pred: np.ndarray, gt: np.ndarray, *, inclusive: bool = True,
                  power_root: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Centre distance in pixels, and with both centres divided by the GT size + 1e-8 (rgbt,
    pytracking), in the arrays' dtype; `power_root` takes `(.) ** 0.5` as rgbt does instead of sqrt.
    Coordinate by coordinate, so column-major boxes are read contiguously."""
    eps = np.asarray(1e-8, dtype=gt.dtype)
    squared, squared_norm = [], []
    for axis in (0, 1):
        c_pred, c_gt = _centre(pred, axis, inclusive), _centre(gt, axis, inclusive)
        d = c_pred - c_gt
        squared.append(d * d)
        scale = gt[:, axis + 2] + eps
        c_pred /= scale
        c_gt /= scale
        c_pred -= c_gt
        squared_norm.append(c_pred * c_pred)
    root = (lambda x: x ** 0.5) if power_root else np.sqrt
    return root(squared[0] + squared[1]), root(squared_norm[0] + squared_norm[1])
