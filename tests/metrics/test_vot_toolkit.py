"""Our VOT measures against the real vot-toolkit 0.9.0 (`python -m vot analysis`, its own stacks
vot2021/rgbd and vot2022/rgbd), on random and adversarial trajectories written in the VOT layout.

Tolerance 1e-12: both compute the same float64 sums, only in another order (our per-threshold and
per-run sums are vectorised), so anything above rounding is a convention that differs.
"""

from __future__ import annotations

import json
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
TOLERANCE = 1e-12


def random_gt(rng: np.random.Generator, n: int) -> list[str]:
    """A track with the rows that move the numbers: NaN (absent), `0,0,0,0`, boxes over the border."""
    x, y = rng.uniform(-10, layouts.WIDTH - 5), rng.uniform(-10, layouts.HEIGHT - 5)
    rows = []
    for _ in range(n):
        x, y = x + rng.normal(0, 2), y + rng.normal(0, 2)
        w, h = rng.uniform(2, 30), rng.uniform(2, 25)
        rows.append(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}")
    for i in rng.choice(np.arange(1, n), size=max(1, n // 6), replace=False):
        rows[i] = "nan,nan,nan,nan" if rng.random() < 0.6 else "0,0,0,0"
    return rows


def write_sequence(root: Path, name: str, rng: np.random.Generator, n: int, *, metadata: bool) -> None:
    seq = root / name
    for i in range(n):
        layouts.write_image(seq / "color" / f"{i + 1:08d}.jpg")
        layouts.write_image(seq / "depth" / f"{i + 1:08d}.png", i, depth=True)
    (seq / "groundtruth.txt").write_text("\n".join(random_gt(rng, n)) + "\n")
    anchor = np.zeros(n)
    anchor[0], anchor[-1] = 1, -1
    anchor[rng.choice(np.arange(1, n - 1), size=2, replace=False)] = rng.choice([-1, 1], size=2)
    layouts.write_lines(seq / "anchor.value", [f"{v:g}" for v in anchor])
    if metadata:  # VOT-RGBD2022 ships one; DepthTrack-style folders rely on the defaults
        (seq / "sequence").write_text("channels.color=color/%08d.jpg\nchannels.depth=depth/%08d.png\n"
                                      f"width={layouts.WIDTH}\nheight={layouts.HEIGHT}\nlength={n}\n")


def random_prediction(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    """Noisy tracking, lost stretches far away, zero-size and out-of-image boxes."""
    base = np.where(np.isnan(gt), [[20.0, 20.0, 10.0, 10.0]], gt)
    pred = base + rng.normal(0, 3, base.shape)
    n = len(pred)
    start = int(rng.integers(0, n))
    pred[start:start + int(rng.integers(5, 25))] = [200.0, 200.0, 10.0, 10.0]
    for i in rng.choice(n, size=max(1, n // 10), replace=False):
        pred[i] = rng.choice([[5.0, 5.0, 0.0, 8.0], [-40.0, -40.0, 10.0, 10.0], [60.0, 40.0, 30.0, 30.0],
                              [np.nan] * 4, [3.5, 2.5, 1.0, 1.0],
                              # x.5 + 1e-9: rounds up in float64 but to even in the toolkit's float32
                              [20.5 + 1e-9, 13.5 + 1e-9, 6.5 + 1e-9, 10.5 + 1e-9]])
    return pred


def random_confidence(rng: np.random.Generator, n: int) -> np.ndarray:
    confidence = np.round(rng.random(n), 1)  # ties on purpose
    confidence[rng.random(n) < 0.05] = np.nan
    return confidence


@pytest.fixture(scope="module")
def vot_dataset(tmp_path_factory) -> tuple[Path, list]:
    """A VOT-RGBD2022-layout benchmark of 4 random sequences, prepared by our reader."""
    from srtrack import prepare
    from srtrack.config import load_config
    from srtrack.datasets.index import load_sequences

    tmp = tmp_path_factory.mktemp("vot")
    rng = np.random.default_rng(7)
    root = tmp / "vot_rgbd22"
    names = [f"s{i}" for i in range(4)]
    for i, name in enumerate(names):
        # two long enough for the EAO interval [115, 755] to see runs that did not fail
        length = int(rng.integers(25, 60)) if i < 2 else int(rng.integers(130, 180))
        write_sequence(root, name, rng, length, metadata=i % 2 == 0)
    layouts.write_lines(root / "list.txt", names)
    overlay = tmp / "o.yaml"
    overlay.write_text(yaml.safe_dump({"study": {"output_dir": str(tmp / "results")},
                                       "mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}"},
                                       "datasets": {"vot_rgbd22": {"root": str(root)}}}))
    data = tmp / "data"
    assert prepare.main(["--config", str(DEFAULT_CONFIG), "--config", str(overlay), "--dataset", "vot_rgbd22",
                         "--split", "test", "--out", str(data)]) == 0
    cfg = load_config([DEFAULT_CONFIG, overlay])
    return root, load_sequences(data, cfg.datasets)


def random_results(sequences: list, seed: int) -> dict:
    from srtrack.metrics.benchmark import anchor_runs

    rng = np.random.default_rng(seed)
    results = {}
    for seq in sequences:
        gt = np.where(seq.absent[:, None], np.nan, seq.boxes)
        results[seq.name] = (random_prediction(rng, gt), random_confidence(rng, len(seq)))
        for name, _, idx in anchor_runs(seq):
            results[name] = (random_prediction(rng, gt[idx]), random_confidence(rng, len(idx)))
    return results


@pytest.mark.parametrize("seed", range(3))
def test_our_vot_measures_equal_the_toolkit(vot_dataset, tmp_path: Path, seed: int) -> None:
    from srtrack.metrics.benchmark import score

    root, sequences = vot_dataset
    results = random_results(sequences, seed)
    sizes = {s.name: (layouts.WIDTH, layouts.HEIGHT) for s in sequences}
    ours = score("vot_rgbd22", sequences, results, sizes)
    for profile in ("vot_longterm", "vot_multistart"):
        theirs = vot_toolkit.score_with_toolkit(profile, sequences, root, results, tmp_path / profile)
        for key, value in theirs.items():
            assert ours[profile]["summary"][key] == pytest.approx(value, abs=TOLERANCE, rel=0), (profile, key)


def test_evaluate_records_the_toolkit_beside_ours(vot_dataset, tmp_path: Path) -> None:
    """`python -m srtrack.evaluate` with evaluate.vot_toolkit: both profiles checked, both recorded."""
    from srtrack import evaluate
    from srtrack.inference.results import write_raw_results

    root, sequences = vot_dataset
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, (boxes, confidence) in random_results(sequences, 11).items():
        write_raw_results(raw, name, list(boxes), list(np.nan_to_num(confidence)))
    data, overlay = root.parent / "data", root.parent / "o.yaml"
    out = tmp_path / "eval"
    assert evaluate.main(["--config", str(DEFAULT_CONFIG), "--config", str(overlay), "--set", "evaluate.vot_toolkit=true",
                          "--data", str(data), "--results", str(raw), "--name", "random", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["vot_toolkit"]) == {"vot_longterm", "vot_multistart"}
    for profile, theirs in metrics["vot_toolkit"].items():
        assert theirs["max_abs_diff"] <= TOLERANCE
        ours = metrics["profiles"][profile]["summary"]
        assert all(ours[k] == pytest.approx(v, abs=TOLERANCE) for k, v in theirs.items() if k != "max_abs_diff")
        assert (out / "vot-toolkit" / profile / "analysis" / "srtrack.json").is_file()


def test_raster_overlap_equals_the_toolkit_frame_by_frame() -> None:
    """iou_raster against vot.region.raster.calculate_overlaps on random and adversarial pairs:
    empty (NaN) regions, 0,0,0,0, negative and one-pixel sizes, boxes outside the image, and
    coordinates at x.5 +- 1e-9 (the toolkit stores rectangles in float32 before rounding)."""
    from vot.region import Special
    from vot.region.raster import calculate_overlaps
    from vot.region.shapes import Rectangle

    from srtrack.metrics.boxes import iou_raster

    rng = np.random.default_rng(0)
    n, size = 4000, (layouts.WIDTH, layouts.HEIGHT)

    def boxes() -> np.ndarray:
        b = np.column_stack([rng.uniform(-20, 70, (n, 2)), rng.uniform(-3, 40, (n, 2))])
        kind = rng.integers(0, 6, n)
        b[kind == 0] = np.nan
        b[kind == 1] = 0.0
        half = kind == 2
        b[half] = np.floor(b[half]) + 0.5 + rng.choice([-1e-9, 0.0, 1e-9], (int(half.sum()), 4))
        b[kind == 3, 2:] = 1.0
        return b

    pred, gt = boxes(), boxes()

    def regions(b: np.ndarray) -> list:
        return [Special(0) if np.isnan(row).any() else Rectangle(*row) for row in b]

    theirs = np.array(calculate_overlaps(regions(pred), regions(gt), size))
    ours = iou_raster(pred, gt, size)
    mismatch = np.flatnonzero(ours != theirs)
    assert mismatch.size == 0, [(pred[i], gt[i], ours[i], theirs[i]) for i in mismatch[:5]]


def test_scoring_from_the_benchmark_root_needs_the_frames_only_for_their_sizes(vot_dataset, tmp_path: Path,
                                                                               capsys) -> None:
    """`evaluate --benchmark vot_rgbd22`: the same numbers as the prepared split with the frames there;
    without them, an error naming the profiles that need the image sizes."""
    from srtrack import evaluate
    from srtrack.inference.results import write_raw_results

    root, sequences = vot_dataset
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, (boxes, confidence) in random_results(sequences, 3).items():
        write_raw_results(raw, name, list(boxes), list(np.nan_to_num(confidence)))
    configs = ["--config", str(DEFAULT_CONFIG), "--config", str(root.parent / "o.yaml")]
    scores = {}
    for source in (["--data", str(root.parent / "data")], ["--benchmark", "vot_rgbd22"]):
        out = tmp_path / source[0].lstrip("-")
        assert evaluate.main([*configs, *source, "--results", str(raw), "--out", str(out)]) == 0
        scores[source[0]] = json.loads((out / "metrics.json").read_text())["profiles"]
    assert scores["--data"] == scores["--benchmark"]
    bare = tmp_path / "annotations"
    for path in root.rglob("*"):
        if path.is_file() and path.suffix not in (".jpg", ".png"):
            (bare / path.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (bare / path.relative_to(root)).write_bytes(path.read_bytes())
    assert evaluate.main([*configs, "--set", f"datasets.vot_rgbd22.root={bare}", "--benchmark", "vot_rgbd22",
                          "--results", str(raw), "--out", str(tmp_path / "bare")]) == 2
    err = capsys.readouterr().err
    assert "the vot_longterm, vot_multistart profile(s) of vot_rgbd22 bound overlaps by the image size" in err
    assert "evaluate.profiles.vot_rgbd22" in err and not (tmp_path / "bare").exists()
