"""VOT multistart EAO / A / R: the vectorised curve against a line-by-line port of vot-toolkit's
`compute_eao_partial` and failure scan, and hand-computed cases; then the whole chain through
`python -m srtrack.evaluate` on a VOT-RGBD2022 fixture with anchors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import layouts
from conftest import DEFAULT_CONFIG
from srtrack.metrics.multistart import Run, anchors, eao_partial, evaluate_multistart, progress, run_frames


def reference_partial(runs: list[Run], high: int) -> tuple[list[float], list[float]]:
    """vot-toolkit's loop (vot/analysis/multistart.py), for comparison."""
    phi, active = high * [0.0], high * [0.0]
    for run in runs:
        o = list(run.overlaps)
        grace, prog = 10, len(o)
        for j, overlap in enumerate(o):
            if overlap <= 0.1 and not run.gt_empty[j]:
                grace -= 1
                if grace == 0:
                    prog = j + 1 - 10
                    break
            else:
                grace = 10
        success = prog >= len(o)
        o[prog:] = (len(o) - prog) * [0.0]
        arr = np.array(o)
        for j in range(1, high):
            if j < len(o):
                phi[j] += np.mean(arr[1:j + 1])
                active[j] += 1
            elif not success:
                phi[j] += np.sum(arr[1:len(o)]) / (j - 1)
                active[j] += 1
    return phi, active


@pytest.mark.parametrize("seed", range(5))
def test_eao_curve_equals_the_toolkit_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(6):
        n = int(rng.integers(5, 120))
        overlaps = np.clip(rng.normal(0.6, 0.3, n), 0, 1)
        if rng.random() < 0.6:  # a lost stretch that may fail the run
            start = int(rng.integers(1, n))
            overlaps[start:start + int(rng.integers(5, 30))] = 0.0
        runs.append(Run(overlaps, rng.random(n) < 0.05))
    phi, active = eao_partial(runs, 150)
    ref_phi, ref_active = reference_partial(runs, 150)
    assert np.allclose(phi, ref_phi, rtol=1e-12, atol=1e-12) and active.tolist() == ref_active


def test_failure_accuracy_robustness_by_hand() -> None:
    ok = Run(np.array([0.0] + [0.8] * 19), np.zeros(20, bool))
    assert progress(ok) == 20
    failing = Run(np.array([0.0, 0.5, 0.5] + [0.0] * 17), np.zeros(20, bool))
    assert progress(failing) == 3  # 10 bad frames from frame 3 on: fails at frame 3
    empty_gt = Run(np.array([0.0, 0.5] + [0.0] * 18), np.array([False, False] + [True] * 18))
    assert progress(empty_gt) == 20  # frames without a target never count toward a failure
    result = evaluate_multistart({"a": (20, [ok, failing])})
    assert result["robustness"] == pytest.approx(23 / 40)
    assert result["accuracy"] == pytest.approx((0.8 * 19 + 1.0) / 23)
    assert anchors(np.array([1, 0, 0, -1])) == ([0], [3])
    assert run_frames(3, True, 10).tolist() == [3, 2, 1, 0] and run_frames(7, False, 10).tolist() == [7, 8, 9]


@pytest.mark.slow
def test_evaluate_runs_every_anchor_of_a_vot_rgbd22_sequence(tmp_path: Path, srft_inputs) -> None:
    from srtrack import evaluate, prepare

    root = tmp_path / "vot"
    layouts.BUILDERS["vot_rgbd22"](root, "s1", 24)
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({
        "study": {"output_dir": str(tmp_path / "results")},
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "datasets": {"vot_rgbd22": {"root": str(root)}}}))
    base = ["--config", str(DEFAULT_CONFIG), "--config", str(overlay)]
    data = tmp_path / "results/data/vot_rgbd22-test"
    assert prepare.main([*base, "--dataset", "vot_rgbd22", "--split", "test", "--out", str(data)]) == 0
    init, _ = srft_inputs
    out = tmp_path / "eval"
    assert evaluate.main([*base, "--data", str(data), "--checkpoint", str(init), "--name", "x", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["profiles"]["vot_multistart"]["summary"]
    assert 0 <= summary["eao"] <= 1 and 0 <= summary["accuracy"] <= 1 and 0 <= summary["robustness"] <= 1
    raw = Path(metrics["raw_results"])
    assert (raw / "s1_00000000.txt").is_file() and (raw / "s1_00000023.txt").is_file()
    backward = np.loadtxt(raw / "s1_00000023.txt", delimiter=",", ndmin=2)
    assert len(backward) == 24  # frames 23 .. 0
    assert "vot_longterm" in metrics["profiles"] and (out / "eao_curve_vot_multistart.png").is_file()
