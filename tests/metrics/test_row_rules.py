"""Broken prediction rows, short and empty files: every repairing profile follows its reference.

References, written here from the official rules (not imported):
* the VisEvent / COESOT MATLAB toolkit's `calc_seq_err_robust.m` and `eval_tracker.m` (otb_matlab);
* pytracking's / OSTrack's `calc_seq_err_robust` and `extract_results` (pytracking, ostrack);
* rgbt 1.0.1 itself (lasher_rgbt, rgbt210, rgbt234, gtot), run with its own file loaders on the
  LasHeR test ground truth it ships.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN and zero-size rows, on purpose

from srtrack.metrics.ope import SequenceBoxes, evaluate

BOX = [50.0, 50.0, 20.0, 20.0]


def inclusive_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """calc_rect_int.m / calc_iou_overlap: right edge x + w - 1, overlap + 1, areas w * h. MATLAB's
    max(0, NaN) is 0."""
    w = np.fmax(0, np.minimum(a[:, 0] + a[:, 2] - 1, b[:, 0] + b[:, 2] - 1) - np.maximum(a[:, 0], b[:, 0]) + 1)
    h = np.fmax(0, np.minimum(a[:, 1] + a[:, 3] - 1, b[:, 1] + b[:, 3] - 1) - np.maximum(a[:, 1], b[:, 1]) + 1)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def visevent_toolkit(pred: np.ndarray, gt: np.ndarray, absent: np.ndarray, norm: bool) -> tuple[np.ndarray, np.ndarray]:
    """One sequence's success and (normalised) precision curves, step by step as the MATLAB code."""
    n = len(gt)
    res = pred[:n].copy()
    for i in range(1, n):
        r, anno = res[i], gt[i]
        if (np.isnan(r).any() or r[2] <= 0 or r[3] <= 0) and not np.isnan(anno).any():
            res[i] = res[i - 1]
    rect = res.copy()
    rect[0] = gt[0]
    keep = absent != 1
    rect, anno = rect[keep], gt[keep]
    centre_gt = anno[:, :2] + (anno[:, 2:] - 1) / 2
    centre = rect[:, :2] + (rect[:, 2:] - 1) / 2
    if norm:
        centre, centre_gt = centre / anno[:, 2:], centre_gt / anno[:, 2:]
    err = np.sqrt(((centre - centre_gt) ** 2).sum(axis=1))
    valid = (anno > 0).sum(axis=1) == 4
    coverage = -np.ones(len(valid))
    coverage[valid] = inclusive_iou(rect[valid], anno[valid])
    err[~valid] = -1
    thresholds = np.arange(0, 51) / (100 if norm else 1)
    success = np.array([(coverage > t).sum() for t in np.arange(0, 21) * 0.05]) / n
    precision = np.array([(err <= t).sum() for t in thresholds]) / n
    return success, precision


def pytracking_analysis(pred: np.ndarray, anno: np.ndarray, ostrack: bool) -> tuple[np.ndarray, ...]:
    """calc_seq_err_robust and the curves of extract_results (the `valid` rule differs in OSTrack)."""
    pred = pred.copy()
    if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
        raise ValueError("Error: Invalid results")
    for i in range(1, len(pred)):
        if (pred[i, 2:] == 0).any() and not np.isnan(anno[i]).any():
            pred[i] = pred[i - 1]
    if len(pred) > len(anno):
        pred = pred[: len(anno)]
    elif len(pred) < len(anno):
        pred = np.vstack([pred, np.zeros((len(anno) - len(pred), 4))])
    pred[0] = anno[0]
    valid = (anno[:, 2:] > 0).sum(1) == 2 if ostrack else (anno > 0).sum(1) == 4
    centre_p, centre_a = pred[:, :2] + 0.5 * (pred[:, 2:] - 1), anno[:, :2] + 0.5 * (anno[:, 2:] - 1)
    err = np.sqrt(((centre_p - centre_a) ** 2).sum(1))
    nerr = np.sqrt(((centre_p / anno[:, 2:] - centre_a / anno[:, 2:]) ** 2).sum(1))
    overlap = inclusive_iou(pred, anno)
    err[~valid], nerr[~valid], overlap[~valid] = np.inf, -1.0, -1.0
    n = len(anno)
    success = np.array([(overlap > t).sum() for t in np.linspace(0, 1, 21)]) / n
    precision = np.array([(err <= t).sum() for t in np.arange(0, 51)]) / n
    norm_precision = np.array([(nerr <= t).sum() for t in np.linspace(0, 0.5, 51)]) / n
    return success, precision, norm_precision


def adversarial(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centre = np.cumsum(rng.normal(0, 3, (n, 2)), axis=0) + 200
    size = np.clip(40 + np.cumsum(rng.normal(0, 1, (n, 2)), axis=0), 4, None)
    gt = np.round(np.hstack([centre - size / 2, size]))
    pred = gt + rng.normal(0, 6, (n, 4)) * np.array([1, 1, 0.5, 0.5])
    pred[n // 3: n // 3 + n // 8, :2] += 300  # lost
    for column, value, share in ((2, 0.0, 0.04), (3, -3.0, 0.02), (0, np.nan, 0.02)):
        pred[rng.random(n) < share, column] = value
    pred[rng.random(n) < 0.03] = np.nan
    gt[rng.random(n) < 0.04] = 0.0
    gt[rng.random(n) < 0.04, 1] = 0.0  # border rows
    return gt, pred


@pytest.mark.parametrize("seed", range(5))
def test_otb_matlab_equals_the_visevent_toolkit_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    seqs = []
    for i in range(8):
        n = int(rng.integers(2, 300))
        gt, pred = adversarial(rng, n)
        nan_gt = rng.random(n) < 0.02  # a NaN GT row stops the repair of that frame
        gt[nan_gt] = np.nan
        seqs.append(SequenceBoxes(f"s{i}", gt, pred, absent=rng.random(n) < 0.1))
    ours = evaluate("otb_matlab", seqs)
    curves = [visevent_toolkit(s.pred, s.gt, s.absent, norm=False) for s in seqs]
    norm = [visevent_toolkit(s.pred, s.gt, s.absent, norm=True)[1] for s in seqs]
    assert ours.success_auc == pytest.approx(np.mean([c[0] for c in curves]), abs=1e-12)
    assert ours.precision == pytest.approx(np.mean([c[1][20] for c in curves]), abs=1e-12)
    assert ours.norm_precision == pytest.approx(np.mean([c[20] for c in norm]), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("profile", ["pytracking", "ostrack"])
def test_pytracking_profiles_equal_calc_seq_err_robust(seed: int, profile: str) -> None:
    rng = np.random.default_rng(10 + seed)
    seqs = []
    for i in range(8):
        n = int(rng.integers(2, 300))
        gt, pred = adversarial(rng, n)
        pred = np.where(np.isnan(pred), 0.0, np.abs(pred))  # what pytracking accepts: no NaN, no w, h < 0
        pred = pred[: int(rng.integers(1, n + 1))] if i % 3 == 0 else pred  # short files
        seqs.append(SequenceBoxes(f"s{i}", gt, pred))
    ours = evaluate(profile, seqs)
    ref = [pytracking_analysis(s.pred, s.gt, ostrack=profile == "ostrack") for s in seqs]
    assert ours.success_auc == pytest.approx(np.mean([r[0] for r in ref]), abs=1e-12)
    assert ours.precision == pytest.approx(np.mean([r[1][20] for r in ref]), abs=1e-12)
    assert ours.norm_precision == pytest.approx(np.mean([r[2][20] for r in ref]), abs=1e-12)


def moving_gt(n: int = 10) -> np.ndarray:
    return np.array([[50.0 + 10 * t, 50.0, 20.0, 20.0] for t in range(n)])


@pytest.mark.parametrize("profile", ["lasher_rgbt", "otb_matlab", "pytracking", "ostrack"])
@pytest.mark.parametrize("rows", ["nan", "empty"])
def test_a_file_without_predictions_scores_only_the_first_frame(profile: str, rows: str) -> None:
    gt = moving_gt()
    pred = np.full((len(gt), 4), np.nan) if rows == "nan" else np.zeros((0, 4))
    result = evaluate(profile, [SequenceBoxes("s", gt, pred)])
    assert result.precision == pytest.approx(1 / len(gt))
    assert result.success_auc == pytest.approx(1 / len(gt) * 20 / 21)


def test_lasher_keeps_nan_rows_as_misses_and_zero_rows_copy_them() -> None:
    gt = moving_gt(4) * [1, 1, 1, 1]
    gt[:, 0] = 50.0  # a still target: a repeated box would be a hit
    pred = np.array([BOX, [np.nan] * 4, [0.0, 0.0, 0.0, 0.0], BOX])
    assert evaluate("lasher_rgbt", [SequenceBoxes("s", gt, pred)]).precision == 0.5  # rows 1 and 2 miss
    zeros_only = np.array([BOX, [0.0] * 4, [0.0] * 4, [0.0] * 4])
    # rgbt repairs after frame 0 := GT: zero rows copy the first frame's ground truth
    assert evaluate("lasher_rgbt", [SequenceBoxes("s", gt, zeros_only)]).precision == 1.0


def test_matlab_repairs_nan_rows_unless_the_ground_truth_row_is_nan() -> None:
    gt = np.array([BOX, BOX, BOX, [np.nan] * 4])
    pred = np.array([BOX, [np.nan] * 4, [BOX[0], np.nan, 20, 20], [0.0, 0, 0, 0]])
    result = evaluate("otb_matlab", [SequenceBoxes("s", gt, pred)])
    # rows 1 and 2 repeat row 0; row 3 keeps 0,0,0,0 (its GT row is NaN: an invalid row, a PR hit anyway)
    assert result.precision == 1.0 and result.success_auc == pytest.approx(3 / 4 * 20 / 21)


def test_pytracking_pads_short_files_with_zero_boxes() -> None:
    gt = np.array([[0.0, 0.0, 10.0, 10.0]] * 3)
    gt[:, :2] += 1  # valid rows (every coordinate > 0) whose centre is 5.5 px from a 0,0,0,0 box
    result = evaluate("pytracking", [SequenceBoxes("s", gt, gt[:1])])
    assert result.precision == 1.0 and result.success_auc == pytest.approx(1 / 3 * 20 / 21)
    assert evaluate("otb_matlab", [SequenceBoxes("s", gt, gt[:1])]).precision == pytest.approx(1 / 3)


# -- rgbt on the LasHeR test ground truth it ships, through its own file loaders ----------------

def realistic_results(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    """A tracker's file: drift, scale noise, lost stretches, zero-size rows, NaN rows, fractions."""
    n = len(gt)
    drift = np.cumsum(rng.normal(0, 0.8, (n, 2)), axis=0)
    scale = np.exp(np.cumsum(rng.normal(0, 0.01, (n, 1)), axis=0))
    centre = gt[:, :2] + gt[:, 2:] / 2 + drift
    size = np.maximum(gt[:, 2:], 1) * scale
    pred = np.hstack([centre - size / 2, size]) + rng.normal(0, 0.3, (n, 4))
    for _ in range(int(rng.integers(0, 3))):
        start = int(rng.integers(0, n))
        pred[start: start + int(rng.integers(5, 60)), :2] += rng.uniform(-400, 400, 2)
    pred[rng.random(n) < 0.01] = 0.0
    pred[rng.random(n) < 0.01, 3] = 0.0
    pred[rng.random(n) < 0.01] = np.nan
    return pred


def write_results(folder: Path, name: str, pred: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    np.savetxt(path, pred, fmt="%.4f", delimiter=",")
    return path


def rgbt_scores(gt_dir: Path, names: list[str], results: Path) -> tuple[float, float, float]:
    """rgbt's LasHeR numbers from files: its single-file GT loader and its result loader."""
    from rgbt.dataset.basedataset import BaseRGBTDataet
    from rgbt.metrics import NPR, PR_LasHeR, SR_LasHeR

    dataset = BaseRGBTDataet(gt_path=str(gt_dir) + "/", seqs=names, bbox_type="ltwh")
    result = dataset("tracker", str(results) + "/")
    return tuple(float(m(dataset, result, names)[0]) for m in (PR_LasHeR(), NPR(), SR_LasHeR()))


def our_scores(gt_dir: Path, names: list[str], results: Path) -> tuple[float, float, float]:
    """Ours from the same files, through the readers evaluate uses."""
    from srtrack.datasets.annotations import read_boxes
    from srtrack.errors import ProblemLog
    from srtrack.inference.results import read_result_boxes

    log = ProblemLog()
    seqs = [SequenceBoxes(n, read_boxes(gt_dir / f"{n}.txt", log), read_result_boxes(results / f"{n}.txt", log))
            for n in names]
    assert not log.errors
    ours = evaluate("lasher_rgbt", seqs)
    return ours.precision, ours.norm_precision, ours.success_auc


def test_lasher_profile_equals_rgbt_on_the_shipped_test_ground_truth(tmp_path: Path) -> None:
    import rgbt

    gt_dir = Path(rgbt.__file__).parent / "gt_file" / "LasHeR" / "lasher_gt"
    names = (gt_dir.parent / "lashertest.txt").read_text().split()
    assert len(names) == 245
    rng = np.random.default_rng(7)
    for name in names:
        gt = np.loadtxt(gt_dir / f"{name}.txt", delimiter=",", ndmin=2)
        write_results(tmp_path / "res", name, realistic_results(rng, gt))
    expected = rgbt_scores(gt_dir, names, tmp_path / "res")
    assert our_scores(gt_dir, names, tmp_path / "res") == pytest.approx(expected, abs=1e-12)


def test_lasher_rounds_fractional_ground_truth_as_rgbt_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    names = [f"seq{i}" for i in range(6)]
    for name in names:
        n = int(rng.integers(20, 120))
        centre = np.cumsum(rng.normal(0, 2, (n, 2)), axis=0) + 150
        gt = np.hstack([centre - 15, np.full((n, 2), 30.0)]) + rng.uniform(-0.5, 0.5, (n, 4))
        gt[rng.random(n) < 0.1, 0] = rng.uniform(-0.4, 0.4)  # rounds to 0: invalid only after rounding
        write_results(tmp_path / "gt", name, gt)
        write_results(tmp_path / "res", name, realistic_results(rng, gt))
    expected = rgbt_scores(tmp_path / "gt", names, tmp_path / "res")
    assert our_scores(tmp_path / "gt", names, tmp_path / "res") == pytest.approx(expected, abs=1e-12)
