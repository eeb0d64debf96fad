"""Our vectorised OPE metrics equal the peer toolkits that run here, on random and adversarial
trajectories: got10k 0.1.3 (ExperimentOTB: rect_iou, center_error, _calc_curves) and rgbt 1.0.1
(PR_LasHeR / NPR / SR_LasHeR, PR / SR, MPR / MSR, MPR_GTOT / MSR_GTOT).

Tolerance: 1e-12 on every headline number. Both sides compute the same per-frame values (rgbt in
float32, which the profile reproduces); the only freedom left is the order of the final averages.
"""

from __future__ import annotations

import got10k.utils.metrics as got10k_metrics  # peers: installed by the test extras
import numpy as np
import pytest
import rgbt.metrics as rgbt_metrics

from srtrack.metrics.ope import SequenceBoxes, evaluate


def trajectory(rng: np.random.Generator, n: int, *, integer: bool, adversarial: bool) -> tuple[np.ndarray, np.ndarray]:
    """A GT random walk and a noisy prediction; adversarial adds zero rows, border boxes, lost
    stretches, zero/negative-size and NaN predictions, exact ties at the thresholds."""
    centre = np.cumsum(rng.normal(0, 3, (n, 2)), axis=0) + 200
    size = np.clip(40 + np.cumsum(rng.normal(0, 1, (n, 2)), axis=0), 4, None)
    gt = np.hstack([centre - size / 2, size])
    pred = gt + rng.normal(0, 6, (n, 4)) * np.array([1, 1, 0.5, 0.5])
    if adversarial:
        gt[rng.random(n) < 0.05] = 0.0
        border = rng.random(n) < 0.05
        gt[border, 0] = 0.0
        lost = slice(n // 3, n // 3 + n // 10)
        pred[lost, :2] += 300
        pred[rng.random(n) < 0.03, 2] = 0.0
        pred[rng.random(n) < 0.02, 3] = -5.0
        ties = rng.random(n) < 0.05
        pred[ties] = gt[ties] + np.array([20.0, 0.0, 0.0, 0.0])  # centre error exactly 20 px
    if integer:
        gt = np.round(gt)
    return gt, pred


def sequences(seed: int, count: int, *, integer: bool, adversarial: bool, nan_pred: bool = False) -> list[SequenceBoxes]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        gt, pred = trajectory(rng, int(rng.integers(2, 400)), integer=integer, adversarial=adversarial)
        if nan_pred:
            pred[rng.random(len(pred)) < 0.02] = np.nan
        gt_x = gt + np.round(rng.normal(0, 2, gt.shape)) * (gt[:, 2:3] > 0)
        out.append(SequenceBoxes(f"s{i}", gt, pred, gt_x=gt_x))
    return out


def got10k_otb(seqs: list[SequenceBoxes]) -> tuple[float, float, float]:
    from got10k.experiments.otb import ExperimentOTB

    stand_in = type("S", (), {"nbins_iou": 21, "nbins_ce": 51})()
    succ, prec = [], []
    for seq in seqs:
        boxes = seq.pred.copy()
        boxes[0] = seq.gt[0]
        ious = got10k_metrics.rect_iou(boxes, seq.gt)
        errors = got10k_metrics.center_error(boxes, seq.gt)
        s, p = ExperimentOTB._calc_curves(stand_in, ious, errors)
        succ.append(s), prec.append(p)
    succ, prec = np.mean(succ, axis=0), np.mean(prec, axis=0)
    return float(np.mean(succ)), float(prec[20]), float(succ[10])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("adversarial", [False, True])
def test_got10k_otb_profile_equals_the_got10k_toolkit(seed: int, adversarial: bool) -> None:
    seqs = sequences(seed, 12, integer=False, adversarial=adversarial, nan_pred=adversarial)
    ours = evaluate("got10k_otb", seqs)
    auc, precision, sr50 = got10k_otb(seqs)
    assert ours.success_auc == pytest.approx(auc, abs=1e-12)
    assert ours.precision == pytest.approx(precision, abs=1e-12)
    assert float(ours.success_curve[10]) == pytest.approx(sr50, abs=1e-12)


def rgbt_inputs(seqs: list[SequenceBoxes], two_gt: bool) -> tuple[dict, dict]:
    """The dataset and result mappings rgbt's metric classes index (float32 as rgbt loads them;
    results rounded as rgbt's loader does; list of rows as its serial_process returns)."""
    dataset, result = {}, {}
    for seq in seqs:
        gt = [row for row in seq.gt.astype(np.float32)]
        if two_gt:
            dataset[seq.name] = {"visible": gt, "infrared": [row for row in seq.gt_x.astype(np.float32)]}
        else:
            dataset[seq.name] = gt
        result[seq.name] = [row for row in seq.pred.astype(np.float32).round(0)]
    return dataset, result


def rgbt_call(metric, seqs: list[SequenceBoxes], two_gt: bool) -> float:
    dataset, result = rgbt_inputs(seqs, two_gt)
    return float(metric(dataset, result, [s.name for s in seqs])[0])


def assert_rgbt210_rgbt234_gtot_equal_rgbt(seqs: list[SequenceBoxes]) -> None:
    """Our rgbt210, rgbt234 and gtot profiles against rgbt's PR/SR, MPR/MSR and MPR_GTOT/MSR_GTOT."""
    from rgbt import utils as rgbt_utils

    plain = evaluate("rgbt210", seqs)
    assert plain.precision == pytest.approx(rgbt_call(rgbt_metrics.PR(), seqs, False), abs=1e-12)
    assert plain.success_auc == pytest.approx(rgbt_call(rgbt_metrics.SR(), seqs, False), abs=1e-12)
    both = evaluate("rgbt234", seqs)
    assert both.precision == pytest.approx(rgbt_call(rgbt_metrics.MPR(), seqs, True), abs=1e-12)
    assert both.success_auc == pytest.approx(rgbt_call(rgbt_metrics.MSR(), seqs, True), abs=1e-12)
    rgbt_utils.RGBT_start()  # GTOT mode: centres x + w/2
    try:
        gtot = evaluate("gtot", seqs)
        assert gtot.precision == pytest.approx(rgbt_call(rgbt_metrics.MPR_GTOT(), seqs, True), abs=1e-12)
        assert gtot.success_auc == pytest.approx(rgbt_call(rgbt_metrics.MSR_GTOT(), seqs, True), abs=1e-12)
    finally:
        rgbt_utils.RGBT_end()


@pytest.mark.parametrize("seed", range(3))
def test_short_result_files_are_scored_as_the_rgbt_toolkit_scores_them(seed: int) -> None:
    """rgbt pairs result rows with GT rows by zip: on RGBT210, RGBT234 and GTOT a short file scores the
    frames it has. Its LasHeR metrics index past a short file's end and fail: there the missing frames
    are misses, as a file padded with NaN rows scores."""
    import copy

    seqs = sequences(300 + seed, 8, integer=True, adversarial=True)
    for seq in seqs[::2]:
        seq.pred = seq.pred[: max(1, 2 * len(seq.pred) // 3)]
    assert_rgbt210_rgbt234_gtot_equal_rgbt(seqs)
    with pytest.raises(IndexError):
        rgbt_call(rgbt_metrics.SR_LasHeR(), seqs, False)
    padded = copy.deepcopy(seqs)
    for seq in padded:
        seq.pred = np.vstack([seq.pred, np.full((len(seq.gt) - len(seq.pred), 4), np.nan)])
    assert evaluate("lasher_rgbt", seqs).success_auc == evaluate("lasher_rgbt", padded).success_auc


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("adversarial", [False, True])
def test_rgbt_profiles_equal_the_rgbt_toolkit(seed: int, adversarial: bool) -> None:
    seqs = sequences(100 + seed, 10, integer=True, adversarial=adversarial, nan_pred=adversarial)
    lasher = evaluate("lasher_rgbt", seqs)
    assert lasher.precision == pytest.approx(rgbt_call(rgbt_metrics.PR_LasHeR(), seqs, False), abs=1e-12)
    assert lasher.norm_precision == pytest.approx(rgbt_call(rgbt_metrics.NPR(), seqs, False), abs=1e-12)
    assert lasher.success_auc == pytest.approx(rgbt_call(rgbt_metrics.SR_LasHeR(), seqs, False), abs=1e-12)
    assert_rgbt210_rgbt234_gtot_equal_rgbt(seqs)
