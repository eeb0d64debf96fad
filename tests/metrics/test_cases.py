"""Hand-computed cases for every row of the evaluator table (benchmarks.md section 2.2) and the
VOT long-term measure, including the edge cases: absent frames, zero-size, NaN and out-of-image
predictions, sequences of length 1, ties at thresholds and in confidences."""

from __future__ import annotations

import numpy as np
import pytest

from srtrack.metrics.boxes import iou_continuous, iou_inclusive, iou_raster
from srtrack.metrics.longterm import LongTermSequence, evaluate_longterm, thresholds
from srtrack.metrics import ope
from srtrack.metrics.ope import PROFILES, SequenceBoxes, evaluate

BOX = [10.0, 10.0, 20.0, 20.0]
FAR = [200.0, 200.0, 20.0, 20.0]


def one(gt, pred, **kw) -> list[SequenceBoxes]:
    return [SequenceBoxes("s", np.array(gt, float), np.array(pred, float), **kw)]


def test_iou_conventions_on_one_pair() -> None:
    a, b = np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 0, 10, 10]])
    assert iou_continuous(a, b)[0] == pytest.approx(50 / 150)
    assert iou_inclusive(a, b)[0] == pytest.approx(50 / 150)  # columns 5..9 overlap: 5 x 10 pixels
    assert iou_inclusive(np.array([[0.0, 0, 10, 10]]), np.array([[9.5, 0, 10, 10]]))[0] == pytest.approx(5 / 195)
    assert iou_raster(a, b, (100, 100))[0] == pytest.approx(50 / 150)
    # rasterised: bounded by the image, both empty = 1, one empty = 0
    assert iou_raster(np.array([[-5.0, 0, 10, 10]]), np.array([[0.0, 0, 5, 10]]), (100, 100))[0] == 1.0
    assert iou_raster(np.full((1, 4), np.nan), np.full((1, 4), np.nan), (100, 100))[0] == 1.0
    assert iou_raster(np.array([[0.0, 0, 10, 10]]), np.full((1, 4), np.nan), (100, 100))[0] == 0.0


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_perfect_tracking_scores_the_maximum(name: str) -> None:
    gt = np.array([[10.0 + i, 10.0, 20.0, 20.0] for i in range(5)])
    result = evaluate(name, [SequenceBoxes("s", gt, gt.copy(), gt_x=gt.copy())])
    assert result.precision == 1.0 and result.norm_precision == 1.0
    # IoU 1 is not > 1: the last grid point is a miss; GTOT's trapezoid gives (0.95 + 1.0) / 2
    assert result.success_auc == pytest.approx(20 / 21 if name != "gtot" else 0.975)


def test_length_one_sequence_first_frame_rule() -> None:
    assert evaluate("got10k_otb", one([BOX], [FAR])).success_auc == pytest.approx(20 / 21)  # frame 0 := GT
    assert evaluate("rgbt234", one([BOX], [FAR], gt_x=np.array([BOX]))).success_auc == 0.0  # not replaced


def test_invalid_zero_row_scores_per_evaluator() -> None:
    # frame 0 = GT, frame 1 GT all zero (invalid), prediction anywhere
    seqs = one([BOX, [0, 0, 0, 0]], [BOX, FAR])
    lasher, pytracking, got10k = evaluate("lasher_rgbt", seqs), evaluate("pytracking", seqs), evaluate("got10k_otb", seqs)
    assert lasher.precision == 1.0 and lasher.norm_precision == 1.0          # hit in PR and NPR
    assert lasher.success_auc == pytest.approx(0.5 * 20 / 21)                # miss in SR
    assert pytracking.precision == 0.5 and pytracking.norm_precision == 1.0  # miss in PR, hit in NPR
    assert got10k.precision == 0.5


def test_border_box_is_invalid_for_matlab_rules_but_scored_by_ostrack() -> None:
    border = [0.0, 15.0, 20.0, 20.0]
    seqs = one([BOX, border], [BOX, border])  # a perfect prediction on a box touching the left edge
    assert evaluate("otb_matlab", seqs).success_auc == pytest.approx(0.5 * 20 / 21)  # forced miss
    assert evaluate("ostrack", seqs).success_auc == pytest.approx(20 / 21)


def test_absent_frames_are_misses_everywhere_for_the_visevent_toolkit() -> None:
    seqs = one([BOX, BOX, BOX, BOX], [BOX, BOX, BOX, BOX], absent=np.array([0, 0, 1, 1]))
    result = evaluate("otb_matlab", seqs)
    assert result.precision == 0.5 and result.norm_precision == 0.5 and result.success_auc == pytest.approx(10 / 21)


def test_bad_predictions_repeat_the_previous_one_or_miss() -> None:
    gt = [BOX, BOX, BOX]
    repaired = evaluate("ostrack", one(gt, [BOX, [10, 10, 0, 20], [10, 10, 20, -1]]))
    # pytracking's rule: the zero-size row repeats frame 0's box, the negative one (which pytracking
    # refuses with an exception) is a miss
    assert repaired.precision == pytest.approx(2 / 3)
    matlab = evaluate("otb_matlab", one(gt, [BOX, [10, 10, 0, 20], [10, 10, 20, -1]]))
    assert matlab.precision == 1.0  # MATLAB: both rows repeat the previous one
    nan = evaluate("got10k_otb", one(gt, [BOX, [np.nan] * 4, BOX]))
    assert nan.precision == pytest.approx(2 / 3) and nan.success_auc == pytest.approx(2 / 3 * 20 / 21)
    short = evaluate("got10k_otb", one(gt, [BOX, BOX]))  # a result file one row short
    assert short.precision == pytest.approx(2 / 3)


def test_threshold_ties() -> None:
    at_20 = [30.0, 10.0, 20.0, 20.0]  # centre error exactly 20 px: a hit with <=
    assert evaluate("got10k_otb", one([BOX, BOX], [BOX, at_20])).precision == 1.0
    at_5 = [15.0, 10.0, 20.0, 20.0]   # exactly 5 px: a miss with GTOT's strict <
    gtot = evaluate("gtot", one([BOX, BOX], [BOX, at_5], gt_x=np.array([BOX, BOX])))
    assert gtot.precision == 0.5
    half = [10.0, 10.0, 20.0, 10.0]  # IoU exactly 0.5: a miss at the 0.5 threshold (strict >), a hit at 0.45
    result = evaluate("got10k_otb", one([BOX, BOX], [BOX, half]))
    assert result.success_curve[10] == 0.5 and result.success_curve[9] == 1.0


@pytest.mark.parametrize("grid", [ope.SUCCESS_THRESHOLDS, ope.PRECISION_THRESHOLDS, ope.NORM_THRESHOLDS,
                                  np.linspace(0, 25, 51), np.array([0.0, 0.1, 0.5, 2.0])],
                         ids=["success", "precision", "norm", "gtot", "uneven"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_threshold_positions_equal_searchsorted(grid: np.ndarray, side: str) -> None:
    """The arithmetic position (evenly spaced grids) at, just below and just above every threshold."""
    rng = np.random.default_rng(0)
    values = np.concatenate([grid, np.nextafter(grid, -np.inf), np.nextafter(grid, np.inf),
                             rng.uniform(-1, grid[-1] * 1.5, 5000), [-1.0, -np.inf, np.inf, 1e300]])
    positions = ope.Thresholds(grid).positions(values, side=side)
    assert positions.tolist() == np.searchsorted(grid, values, side=side).tolist()


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_blocks_do_not_change_the_numbers(profile: str, monkeypatch) -> None:
    """Sequences are scored in blocks of frames; tiny blocks give the numbers of one block."""
    rng = np.random.default_rng(3)
    seqs = []
    for i in range(9):
        n = int(rng.integers(1, 30))
        gt = np.abs(rng.normal(50, 20, (n, 4))).round()
        pred = gt + rng.normal(0, 5, (n, 4))
        pred[rng.random(n) < 0.1, 2] = -1.0
        seqs.append(SequenceBoxes(f"s{i}", gt, pred, gt_x=gt + 1, absent=rng.random(n) < 0.1))
    whole = evaluate(profile, seqs)
    monkeypatch.setattr(ope, "BLOCK_FRAMES", 7)
    blocked = evaluate(profile, seqs)
    assert blocked.per_sequence == whole.per_sequence
    assert (blocked.success_auc, blocked.precision, blocked.norm_precision) == \
        (whole.success_auc, whole.precision, whole.norm_precision)


def test_vot_longterm_by_hand() -> None:
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [np.nan] * 4, [0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 10, 10]], float)
    conf = np.array([np.nan, 0.9, 0.8, 0.5])
    result = evaluate_longterm([LongTermSequence("a", gt, pred, conf, (100, 100))])
    # thresholds: +inf, 0.9, 0.8, 0.5, 0 (frame 0), -inf; overlaps 0 (init), 1, 0 (absent GT), 1/3
    # tau 0.9: Pr 1, Re 1/3;  tau 0.8: Pr 1/2, Re 1/3;  tau 0.5: Pr 4/9, Re 4/9;  tau <= 0: Pr 1/3, Re 4/9
    assert result["precision"] == pytest.approx(1.0) and result["recall"] == pytest.approx(1 / 3)
    assert result["f_score"] == pytest.approx(0.5)
    f = result["f_curve"]
    assert f[0] == 0.0 and f[3] == pytest.approx(4 / 9)


def test_vot_threshold_thinning() -> None:
    taus = thresholds(np.arange(1000, dtype=float))
    assert len(taus) == 100 and taus[0] == np.inf and taus[-1] == -np.inf
    assert np.all(np.diff(taus[1:-1]) < 0)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_attribute_results_are_the_measure_on_the_subset(profile: str) -> None:
    from srtrack.metrics.ope import evaluate_subsets

    rng = np.random.default_rng(0)
    boxes = []
    for i in range(5):
        n = int(rng.integers(5, 40))
        gt = np.column_stack([10.0 + np.arange(n), np.full(n, 10.0), np.full(n, 20.0), np.full(n, 20.0)])
        gt[rng.random(n) < 0.2] = 0.0
        pred = gt + rng.normal(0, 4, gt.shape)
        boxes.append(SequenceBoxes(f"s{i}", gt, pred, gt_x=gt + rng.normal(0, 1, gt.shape), absent=rng.random(n) < 0.1))
    subsets = {"LI": [0, 1, 3], "FM": [1], "all": [0, 1, 2, 3, 4]}
    whole, parts = evaluate_subsets(profile, boxes, subsets)
    for name, rows in {**subsets, "": list(range(5))}.items():
        got, expected = parts.get(name, whole), evaluate(profile, [boxes[i] for i in rows])
        assert got.summary() == expected.summary() and got.per_sequence == expected.per_sequence
        assert got.success_curve.tobytes() == expected.success_curve.tobytes()


def test_results_that_start_at_the_first_present_frame_are_aligned() -> None:
    from srtrack.evaluate import align_to_first_present

    absent = np.array([1, 1, 0, 0, 0], bool)
    boxes, conf, shifted = align_to_first_present(np.ones((3, 4)), np.full(3, 0.5), absent)
    assert shifted == 2 and boxes.shape == (5, 4) and np.isnan(boxes[:2]).all() and (boxes[2:] == 1).all()
    assert conf.tolist() == [0.0, 0.0, 0.5, 0.5, 0.5]
    same, _, none = align_to_first_present(np.ones((5, 4)), np.ones(5), absent)  # full length: untouched
    assert none == 0 and same.shape == (5, 4)
    _, _, other = align_to_first_present(np.ones((4, 4)), np.ones(4), absent)   # another length: untouched
    assert other == 0


def test_attribute_plots_bars_and_radar(tmp_path) -> None:
    from srtrack.metrics.plots import plot_attributes

    def scores(shift: float) -> dict:
        attributes = {a: {"success_auc": 0.2 + shift + 0.1 * i, "sequences": i + 1} for i, a in enumerate("ABCD")}
        return {"lasher_rgbt": {"attributes": attributes}}

    written = plot_attributes({"one": [scores(0.0)], "two": [scores(0.1), scores(0.2)]}, "lasher", tmp_path)
    assert sorted(p.name for p in written) == ["attributes_lasher_rgbt.pdf", "attributes_lasher_rgbt.png",
                                               "attributes_radar_lasher_rgbt.pdf", "attributes_radar_lasher_rgbt.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    two = plot_attributes({"one": [{"lasher_rgbt": {"attributes": {a: scores(0)["lasher_rgbt"]["attributes"][a]
                                                                   for a in "AB"}}}]}, "lasher", tmp_path / "two")
    assert [p.name for p in two if "radar" in p.name] == []  # two spokes make no radar
