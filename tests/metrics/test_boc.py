"""COESOT's BOC score: the toolkit's formula by hand, its .mat read with its video list, bad
references, and the score through `python -m srtrack.evaluate` on a COESOT-layout fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import layouts
from conftest import DEFAULT_CONFIG
from srtrack.errors import ConfigError, DatasetFormatError
from srtrack.metrics.boc import boc_score, load_rewards, rewards_from_curves


def test_rewards_and_score_by_hand() -> None:
    # two reference trackers, two videos, 2 thresholds: per-video AUCs (0.5, 1.0) and (0.0, 0.5)
    curves = np.array([[[0.25, 0.75], [1.0, 1.0]], [[0.0, 0.0], [0.5, 0.5]]])
    rewards = rewards_from_curves(curves, ["a", "b"])
    assert rewards == pytest.approx({"a": 1 - 0.25, "b": 1 - 0.75})
    # a tracker scoring 0.8 on the hard video and 0.9 on the easy one
    assert boc_score({"a": 0.8, "b": 0.9}, rewards) == pytest.approx((0.8 * 0.75 + 0.9 * 0.25) / 2)
    with pytest.raises(ConfigError, match="no reward for 1 scored video"):
        boc_score({"a": 0.8, "c": 0.1}, rewards)


def test_the_toolkit_mat_and_its_video_list(tmp_path: Path) -> None:
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    curves = rng.random((15, 3, 21))
    savemat(tmp_path / "ave.mat", {"ave_success_rate_plot": curves})
    (tmp_path / "list.txt").write_text("v1\nv2\nv3\n")
    rewards = load_rewards(tmp_path / "ave.mat", tmp_path / "list.txt")
    assert list(rewards) == ["v1", "v2", "v3"]
    assert rewards["v2"] == pytest.approx(1 - curves[:, 1, :].mean())
    with pytest.raises(ConfigError, match="video list"):
        load_rewards(tmp_path / "ave.mat", None)
    (tmp_path / "short.txt").write_text("v1\nv2\n")
    with pytest.raises(DatasetFormatError, match="lists 2 videos"):
        load_rewards(tmp_path / "ave.mat", tmp_path / "short.txt")
    (tmp_path / "bad.csv").write_text("sequence,weight\nv1,0.5\n")
    with pytest.raises(DatasetFormatError, match="expected columns sequence,reward"):
        load_rewards(tmp_path / "bad.csv")


@pytest.mark.slow
def test_evaluate_adds_boc_to_the_matlab_profile(tmp_path: Path, capsys) -> None:
    from srtrack import evaluate, prepare

    root = tmp_path / "coesot"
    names = ["dvSave-a", "dvSave-b", "dvSave-c"]
    for name in names:
        layouts.coesot(root, name, 12)
    layouts.write_lines(root / "testlist.txt", names)
    rewards = {name: r for name, r in zip(names, (0.9, 0.5, 0.1))}
    pd.DataFrame({"sequence": list(rewards), "reward": list(rewards.values())}).to_csv(tmp_path / "r.csv", index=False)
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"study": {"output_dir": str(tmp_path / "results")},
                                       "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                                       "datasets": {"coesot": {"root": str(root), "train_list": "testlist.txt",
                                                               "test_list": "testlist.txt"}},
                                       "evaluate": {"boc": {"reference": str(tmp_path / "r.csv"), "sequences": None}}}))
    base = ["--config", str(DEFAULT_CONFIG), "--config", str(overlay)]
    data = tmp_path / "data"
    assert prepare.main([*base, "--dataset", "coesot", "--split", "test", "--out", str(data)]) == 0
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(1)
    for name in names:
        boxes = layouts.boxes(12) + rng.normal(0, 4, (12, 4))
        np.savetxt(raw / f"{name}.txt", boxes, delimiter=",")
    out = tmp_path / "eval"
    assert evaluate.main([*base, "--data", str(data), "--results", str(raw), "--name", "x", "--out", str(out)]) == 0
    profiles = json.loads((out / "metrics.json").read_text())["profiles"]
    per_video = pd.read_csv(out / "per_sequence.csv").query("profile == 'otb_matlab'").set_index("sequence")
    expected = np.mean([per_video.loc[n, "success_auc"] * rewards[n] for n in names])
    assert profiles["otb_matlab"]["summary"]["boc"] == pytest.approx(expected, abs=1e-6)
    assert "boc" not in profiles["ostrack"]["summary"]  # CEUTrack's analysis has no BOC

    overlay.write_text(overlay.read_text().replace(str(tmp_path / "r.csv"), str(tmp_path / "missing.csv")))
    assert evaluate.main([*base, "--data", str(data), "--results", str(raw), "--name", "x",
                          "--out", str(tmp_path / "eval2")]) != 0
    assert "missing.csv does not exist" in capsys.readouterr().err
    assert not (tmp_path / "eval2").exists()  # checked before anything is tracked or written
