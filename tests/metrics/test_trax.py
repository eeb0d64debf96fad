"""The vot-toolkit drives an srtrack tracker through TraX (`vot evaluate`), in a VOT-RGBD2022 workspace:
its runs equal our own multistart procedure on the same checkpoint, and its analysis equals ours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import layouts
from conftest import DEFAULT_CONFIG
from srtrack.metrics import vot_toolkit

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not vot_toolkit.available(), reason="vot-toolkit is not installed "
                                 "(scripts/setup.sh installs it)")]


def write_workspace(workspace: Path, rng: np.random.Generator, n: int = 24) -> list[str]:
    """A VOT-RGBD2022 workspace: its stack, and a sequence in the VOT layout with four anchors (one
    sequence: the toolkit starts a tracker process per sequence and experiment)."""
    from test_vot_toolkit import random_gt

    names = ["bag"]
    for name in names:
        seq = workspace / "sequences" / name
        for i in range(n):  # textured frames, so that the tracker's boxes move
            layouts.write_image(seq / "color" / f"{i + 1:08d}.jpg", int(rng.integers(30, 220)))
            layouts.write_image(seq / "depth" / f"{i + 1:08d}.png", int(rng.integers(500, 3000)), depth=True)
        gt = random_gt(rng, n)
        (seq / "groundtruth.txt").write_text("\n".join(gt) + "\n")
        anchor = np.zeros(n)
        anchor[[0, 9]], anchor[[16, n - 1]] = 1, -1
        visible = [i for i, row in enumerate(gt) if row[0] != "n" and row != "0,0,0,0"]
        anchor[[i for i in range(n) if i not in visible]] = 0  # anchors on frames with a box
        layouts.write_lines(seq / "anchor.value", [f"{v:g}" for v in anchor])
        (seq / "sequence").write_text("channels.color=color/%08d.jpg\nchannels.depth=depth/%08d.png\n"
                                      f"width={layouts.WIDTH}\nheight={layouts.HEIGHT}\nlength={n}\n")
    layouts.write_lines(workspace / "sequences" / "list.txt", names)
    (workspace / "config.yaml").write_text("stack: vot2022/rgbd\nregistry:\n- ./trackers.ini\n")
    return names


def toolkit_run(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One run the toolkit wrote (its binary trajectory and `_confidence.value`), read by its own reader:
    the boxes (NaN on the initialisation frame) and the confidences."""
    from vot.region.io import read_trajectory

    regions = read_trajectory(str(folder / f"{name}.bin"))
    assert regions[0].code == 1  # the toolkit's initialisation marker
    boxes = np.array([[np.nan] * 4] + [[r.x, r.y, r.width, r.height] for r in regions[1:]])
    confidence = [line.strip() for line in (folder / f"{name}_confidence.value").read_text().splitlines()]
    return boxes, np.array([float(c) if c else np.nan for c in confidence])


def toolkit_multistart(workspace: Path, tracker_name: str) -> None:
    """vot-toolkit 0.9.0's multistart loop (`MultiStartExperiment.execute`) through its own workspace,
    registry, TraX runtime, anchors and frame maps, with the line that fails in 0.9.0 mended: it hands
    `ObjectQuery` the `ObjectStatus` around the initial region (which `ObjectQuery` refuses, so `vot
    evaluate` stops on the vot2022/rgbd stack before any tracker starts) and the anchor's index in
    the sequence as the query's frame, where the runtime expects the frame of the run (0)."""
    from vot.dataset.proxy import FrameMapSequence
    from vot.experiment.multistart import find_anchors
    from vot.region import Special
    from vot.tracker import ObjectQuery, Trajectory
    from vot.workspace import Workspace

    loaded = Workspace.load(str(workspace))
    (tracker,) = loaded.registry.resolve(tracker_name, storage=loaded.storage.substorage("results"),
                                         skip_unknown=False)
    experiment = loaded.stack.experiments["baseline"]
    for sequence in [t for s in loaded.dataset for t in experiment.transform(s)]:
        results = experiment.results(tracker, sequence)
        forward, backward = find_anchors(sequence, experiment.anchor)
        with experiment._get_runtime(tracker, sequence) as runtime:
            for anchor, reverse in [(f, False) for f in forward] + [(b, True) for b in backward]:
                frames = list(reversed(range(0, anchor + 1))) if reverse else list(range(anchor, len(sequence)))
                proxy = FrameMapSequence(sequence, frames)
                status = runtime.run(proxy, [ObjectQuery(experiment._get_initialization(proxy, 0).region, {}, 0)])
                trajectory = Trajectory(len(proxy))
                trajectory.set(0, Special(Trajectory.INITIALIZATION))
                for frame in range(1, len(proxy)):
                    trajectory.set(frame, status.objects[0][frame].region, status.objects[0][frame].properties)
                trajectory.write(results, f"{sequence.name}_{anchor:08d}")


def run_vot(*arguments: str) -> None:
    done = subprocess.run([sys.executable, "-m", "vot", *arguments], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_toolkit_runs_our_tracker_through_trax_as_our_evaluation_runs_it(tmp_path: Path) -> None:
    """Two VOT-RGBD workspaces over the same sequences, the tracker entered by our `ini` command:
    `vot evaluate` on the long-term stack (vot2021/rgbd) and the toolkit's multistart loop
    (vot2022/rgbd) start it and drive it over TraX. Every run's boxes are the ones our evaluation
    writes for the same checkpoint and anchors, and `vot analysis` of the toolkit's runs (Pr / Re /
    F, EAO / A / R) equals our scores of the same files."""
    import torch

    from srtrack import evaluate, prepare, trax_tracker
    from srtrack.models.files import save_tracker
    from srtrack.models.spec import NetworkSpec

    rng = np.random.default_rng(4)
    longterm, multistart = tmp_path / "vot2021", tmp_path / "vot2022"
    names = write_workspace(longterm, rng)
    (longterm / "config.yaml").write_text("stack: vot2021/rgbd\nregistry:\n- ./trackers.ini\n")
    multistart.mkdir()
    (multistart / "sequences").symlink_to(longterm / "sequences")
    (multistart / "config.yaml").write_text("stack: vot2022/rgbd\nregistry:\n- ./trackers.ini\n")
    torch.manual_seed(0)
    spec = NetworkSpec("srtrack_tiny", template_size=64, search_size=128)
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(save_tracker(spec.build(), spec.to_dict(), "test"))
    overlay = tmp_path / "site.yaml"
    overlay.write_text(yaml.safe_dump({"study": {"output_dir": str(tmp_path / "results")},
                                       "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                                       "evaluate": {"batch": 1, "workers": 1},
                                       "datasets": {"vot_rgbd22": {"root": str(longterm / "sequences")}}}))
    configs = ["--config", str(DEFAULT_CONFIG), "--config", str(overlay)]
    for workspace in (longterm, multistart):
        assert trax_tracker.main(["ini", *configs, "--checkpoint", str(checkpoint), "--modality", "rgbd",
                                  "--workspace", str(workspace), "--name", "srtrack_tiny"]) == 0
    run_vot("evaluate", "--workspace", str(longterm), "srtrack_tiny")
    toolkit_multistart(multistart, "srtrack_tiny")
    runs = {**{f"{name}_001": longterm / "results/srtrack_tiny/rgbd-unsupervised" / name for name in names},
            **{path.stem: path.parent for path in (multistart / "results/srtrack_tiny/baseline").glob("*/*.bin")}}
    theirs = {name: toolkit_run(folder, name) for name, folder in runs.items()}
    assert len(theirs) == 1 + 4  # the sequence's run, a run per anchor

    # our own procedure on the same folder: prepare, then evaluate with the same checkpoint and config
    assert prepare.main([*configs, "--dataset", "vot_rgbd22", "--split", "test", "--out", str(tmp_path / "data")]) == 0
    assert evaluate.main([*configs, "--data", str(tmp_path / "data"), "--checkpoint", str(checkpoint),
                          "--name", "ours", "--out", str(tmp_path / "ours")]) == 0
    raw = Path(json.loads((tmp_path / "ours/metrics.json").read_text())["raw_results"])
    flat = tmp_path / "toolkit-results"  # the toolkit's runs under our file names
    flat.mkdir()
    for name, (boxes, confidence) in theirs.items():
        ours_name = name.removesuffix("_001")
        mine = np.loadtxt(raw / f"{ours_name}.txt", delimiter=",", ndmin=2)
        assert mine.shape == boxes.shape, name
        # TraX carries regions as float32: the same boxes to float32's precision (and our files' 4 decimals)
        assert np.abs(boxes[1:] - mine[1:]).max() < 1e-3, name
        if name.endswith("_001"):
            assert np.allclose(confidence[1:], np.loadtxt(raw / f"{ours_name}_confidence.value")[1:], atol=1e-6)
        np.savetxt(flat / f"{ours_name}.txt", np.nan_to_num(boxes), delimiter=",", fmt="%.17g")
        np.savetxt(flat / f"{ours_name}_confidence.value", np.nan_to_num(confidence), fmt="%.17g")

    # the toolkit's analyses of its runs equal ours on the same files
    assert evaluate.main([*configs, "--data", str(tmp_path / "data"), "--results", str(flat), "--name", "toolkit",
                          "--out", str(tmp_path / "scored")]) == 0
    scored = json.loads((tmp_path / "scored/metrics.json").read_text())["profiles"]
    for workspace, profile in ((longterm, "vot_longterm"), (multistart, "vot_multistart")):
        run_vot("analysis", "--workspace", str(workspace), "--format", "json", "--name", "check", "srtrack_tiny")
        toolkit = vot_toolkit.parse_report(json.loads((workspace / "analysis/check.json").read_text()), profile)
        for key, value in toolkit.items():
            assert scored[profile]["summary"][key] == pytest.approx(value, abs=1e-12, rel=0), (profile, key)
