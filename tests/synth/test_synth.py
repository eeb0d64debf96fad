"""The synthetic benchmarks: real layouts, determinism, and auxiliary modalities that carry signal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DEFAULT_CONFIG, SMOKE
from srtrack import layout
from srtrack.config import load_config
from srtrack.datasets.encodings import read_image
from srtrack.errors import ProblemLog
from srtrack.synth.__main__ import main as synth_main
from srtrack.synth.events import EventCamera, render_event_frame
from srtrack.synth.generate import BENCHMARKS, generate, splits_of, synthetic_reader



def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def reader_for(cfg, name: str, root: Path):
    return synthetic_reader(cfg.datasets, name, root)


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory) -> tuple[object, Path]:
    cfg = load_config([DEFAULT_CONFIG, SMOKE])
    out = tmp_path_factory.mktemp("synth") / "synthetic"
    generate(cfg.synth, 0, out)
    return cfg, out


def test_same_seed_gives_identical_files_and_another_seed_differs(smoke_data, tmp_path: Path) -> None:
    cfg, out = smoke_data
    again = tmp_path / "again"
    generate(cfg.synth, 0, again)
    assert tree_digest(again) == tree_digest(out)
    parallel = tmp_path / "parallel"
    generate(cfg.synth, 0, parallel, workers=2)   # per-sequence seed streams: the same bytes from 2 processes
    assert tree_digest(parallel) == tree_digest(out)
    other = tmp_path / "other"
    generate(cfg.synth, 1, other, only=["lasher"])
    first = tree_digest(other / "lasher")
    assert first.keys() == tree_digest(out / "lasher").keys()
    assert first["rgbt_test_001/visible/v000.jpg"] != tree_digest(out / "lasher")["rgbt_test_001/visible/v000.jpg"]


def test_each_benchmark_is_written_alone_and_the_same_as_with_the_others(smoke_data, tmp_path: Path) -> None:
    """The DAG renders one benchmark per job, only those a study reads: a benchmark's files must not
    depend on which others are written, and writing one must leave the others in place."""
    cfg, out = smoke_data
    root = tmp_path / "synthetic"
    generate(cfg.synth, 0, root, only=["lasher"])
    assert sorted(p.name for p in root.iterdir()) == ["lasher"]
    assert tree_digest(root / "lasher") == tree_digest(out / "lasher")
    kept = tree_digest(root / "lasher")
    generate(cfg.synth, 0, root, only=["visevent"], workers=2)
    assert sorted(p.name for p in root.iterdir()) == ["lasher", "visevent"]
    assert tree_digest(root / "lasher") == kept and tree_digest(root / "visevent") == tree_digest(out / "visevent")
    manifest = json.loads(Path(layout.synth_manifest(root, "visevent")).read_text())
    assert manifest["benchmark"] == "visevent" and set(manifest["splits"]) == {"train", "test"}
    assert manifest["frames"] == sum(r["frames"] for recs in manifest["splits"].values() for r in recs) > 0


@pytest.mark.parametrize("name", [b.name for b in BENCHMARKS])
def test_generated_benchmark_reads_through_the_real_reader(smoke_data, name: str) -> None:
    cfg, out = smoke_data
    reader = reader_for(cfg, name, out)
    sizes = splits_of(next(b for b in BENCHMARKS if b.name == name), cfg.synth)
    assert set(sizes) == set(reader.splits)
    for split, expected in sizes.items():
        names, source = reader.sequence_names(split, ProblemLog())
        assert len(names) == expected.sequences
        assert source.kind == "file" or name == "got10k"  # got10k: `all`, i.e. its split folder's list.txt
        for seq_name in names:
            seq = reader.read(seq_name)
            assert len(seq) == expected.frames
            assert not seq.absent[0], "trackers initialise on frame 0"
            present = seq.boxes[~seq.absent]
            assert (present[:, 2:] > 0).all() and np.isfinite(present).all()


def test_attributes_are_written_where_the_benchmark_has_them(smoke_data) -> None:
    cfg, out = smoke_data
    lasher = [reader_for(cfg, "lasher", out).read(f"rgbt_{s}_{i:03d}") for s, n in (("train", 3), ("test", 2))
              for i in range(1, n + 1)]
    assert all("SV" in seq.attributes for seq in lasher)
    assert any("LI" in seq.attributes for seq in lasher), "night_fraction 0.4 gives night sequences"
    depth_tags = set()
    reader = reader_for(cfg, "depthtrack", out)
    for seq_name in reader.sequence_names("train", ProblemLog())[0]:
        depth_tags |= set(reader.read(seq_name).frame_tags)
    assert depth_tags and depth_tags <= {"full-occlusion", "partial-occlusion", "out-of-frame", "dark-scene", "fast-motion"}


def test_depth_is_16_bit_and_events_look_like_visevent(smoke_data) -> None:
    cfg, out = smoke_data
    seq = reader_for(cfg, "depthtrack", out).read("rgbd_test_001")
    depth = read_image(seq.x_frames[3], unchanged=True)
    assert depth.dtype == np.uint16 and depth.ndim == 2 and depth.max() > 1000
    events = read_image(reader_for(cfg, "visevent", out).read("rgbe_test_001").x_frames[0])
    assert (events == 255).all(), "the first event frame has no events: a white image"


def test_absent_rows_follow_each_benchmark(smoke_data) -> None:
    cfg, out = smoke_data
    rows = {}
    for name, gt in (("lasher", "init.txt"), ("depthtrack", "groundtruth.txt"), ("visevent", "groundtruth.txt")):
        reader = reader_for(cfg, name, out)
        for split in reader.splits:
            for seq_name in reader.sequence_names(split, ProblemLog())[0]:
                seq = reader.read(seq_name)
                lines = (reader.root / seq_name / gt).read_text().splitlines()
                rows.setdefault(name, set()).update(lines[i] for i in np.flatnonzero(seq.absent))
    assert rows["lasher"] <= {"0,0,0,0"} and rows["visevent"] <= {"0,0,0,0"}
    assert rows["depthtrack"] <= {"nan,nan,nan,nan"}
    assert any(rows.values()), "occlusion and out-of-view produce absent frames"


def test_event_camera_fires_on_contrast_changes_only() -> None:
    rng = np.random.default_rng(0)
    camera = EventCamera(rng, (8, 8), threshold=0.2, threshold_sigma=0.0, noise_rate=0.0)
    base = np.full((8, 8), 0.5, np.float32)
    assert not camera.step(base).any()
    brighter = base.copy()
    brighter[2, 3] = 0.9
    darker = base.copy()
    darker[2, 3] = 0.9
    darker[5, 5] = 0.1
    first = camera.step(brighter)
    assert first[2, 3] == 1 and np.count_nonzero(first) == 1
    second = camera.step(darker)
    assert second[5, 5] == -1 and second[2, 3] == 0 and np.count_nonzero(second) == 1
    frame = render_event_frame(second)
    assert tuple(frame[5, 5]) == (255, 0, 0) and tuple(frame[0, 0]) == (255, 255, 255)


# --- the auxiliary modalities carry information RGB lacks (trivial detectors) ---

def _hit(centre: tuple[float, float], box: np.ndarray) -> bool:
    return box[0] <= centre[0] <= box[0] + box[2] and box[1] <= centre[1] <= box[1] + box[3]


def _blob_centre(score: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    smoothed = cv2.boxFilter(score.astype(np.float32), -1, size)
    y, x = np.unravel_index(int(np.argmax(smoothed)), smoothed.shape)
    return float(x), float(y)


def rgb_detector(seq) -> list[bool]:
    """Template matching with the first frame's target patch."""
    first = read_image(seq.rgb_frames[0])
    x, y, w, h = seq.boxes[0].astype(int)
    patch = first[y:y + h, x:x + w]
    hits = []
    for i in np.flatnonzero(~seq.absent)[1:]:
        result = cv2.matchTemplate(read_image(seq.rgb_frames[i]), patch, cv2.TM_CCOEFF_NORMED)
        _, _, _, (mx, my) = cv2.minMaxLoc(result)
        hits.append(_hit((mx + w / 2, my + h / 2), seq.boxes[i]))
    return hits


def x_detector(seq) -> list[bool]:
    """Brightest blob (thermal), blob at the first frame's target depth (depth), densest events (event)."""
    w, h = np.maximum(seq.boxes[0][2:].astype(int), 3)
    target_depth = None
    if seq.x_name == "depth":
        x, y = seq.boxes[0][:2].astype(int)
        patch = read_image(seq.x_frames[0], unchanged=True)[y:y + h, x:x + w]
        target_depth = float(np.median(patch[patch > 0]))
    hits = []
    for i in np.flatnonzero(~seq.absent)[1:]:
        if seq.x_name == "thermal":
            score = cv2.cvtColor(read_image(seq.x_frames[i]), cv2.COLOR_BGR2GRAY)
        elif seq.x_name == "depth":
            score = np.abs(read_image(seq.x_frames[i], unchanged=True).astype(np.float32) - target_depth) < 300
        else:
            score = (read_image(seq.x_frames[i]) != 255).any(axis=2)
        hits.append(_hit(_blob_centre(score, (int(w), int(h))), seq.boxes[i]))
    return hits


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lasher", "depthtrack", "visevent"])
def test_auxiliary_modality_finds_the_target_where_rgb_struggles(name: str, tmp_path: Path) -> None:
    cfg = load_config([DEFAULT_CONFIG, SMOKE], ["synth.test.sequences=8", "synth.test.frames=30",
                                                "synth.night_fraction=0.5", "synth.distractor_fraction=0.5"])
    generate(cfg.synth, 3, tmp_path, only=[name])
    reader = reader_for(cfg, name, tmp_path)
    hard = [reader.read(n) for n in _night_or_distractor(tmp_path, name)]
    assert len(hard) >= 4
    rgb_hits = np.concatenate([rgb_detector(seq) for seq in hard])
    x_hits = np.concatenate([x_detector(seq) for seq in hard])
    assert x_hits.mean() > rgb_hits.mean() + 0.2, f"{name}: X {x_hits.mean():.2f} vs RGB {rgb_hits.mean():.2f}"
    assert x_hits.mean() > 0.6


def _night_or_distractor(root: Path, name: str) -> list[str]:
    """Test sequences with low light or look-alikes, from the generator's manifest."""
    import json

    records = json.loads(Path(layout.synth_manifest(root, name)).read_text())["splits"]["test"]
    return [r["name"] for r in records if {"low_illumination", "distractor"} & set(r["attributes"])]


@pytest.mark.slow
def test_synth_cli_writes_preview_and_logs_to_mlflow(tmp_path: Path, tmp_config) -> None:
    one = {"sequences": 1, "frames": 8}
    config = tmp_config({"synth": {"pretrain": one, "rgb_test": one, "train": one, "test": one}})
    args = [a for path in config for a in ("--config", str(path))]
    out = tmp_path / "syn"
    assert synth_main([*args, "--out", str(out), "--preview", str(tmp_path / "sheet.png")]) == 0
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[0] > 4 * 120
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("pytest").experiment_id], "tags.stage = 'synth'")
    assert run.data.metrics["frames"] == 8 * 8  # two RGB splits, three benchmarks of two splits
    names = [b.name for b in BENCHMARKS]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "synth")} == {f"synth/{name}" for name in names}
    assert "sheet.png" in {a.path for a in client.list_artifacts(run.info.run_id)}, "figures at the root"
    for name in names:
        (manifest,) = client.list_artifacts(run.info.run_id, f"synth/{name}")
        assert manifest.path == f"synth/{name}/manifest.json"


@pytest.mark.parametrize("occlusion", ["full", "partial"])
def test_the_occluder_never_covers_the_target_on_the_first_frame(occlusion: str) -> None:
    """Trackers initialise on frame 0: a bar timed for the middle of a fast target's path must not be
    over it there (study.seed 101 once produced an absent first frame and stopped the generator)."""
    from srtrack.synth.scene import SceneRenderer, SceneSpec

    spec = SceneSpec(n_frames=50, width=256, height=192, night=False, n_distractors=0, occlusion=occlusion,
                     out_of_view=False, fast_motion=True, static_camera=True)
    for seed in range(120):
        first = next(SceneRenderer(spec, np.random.default_rng(seed), thermal=False, depth=False).frames())
        assert not first.absent and not first.tags["full_occlusion"] and not first.tags["partial_occlusion"], seed


def test_rgb_data_has_a_held_out_day_light_test_split_in_got10k_val(smoke_data) -> None:
    """Retention is scored on sequences the RGB tracker never trained on: GOT-10k's val/ folder."""
    cfg, out = smoke_data
    reader = reader_for(cfg, "got10k", out)
    log = ProblemLog()
    train, _ = reader.sequence_names("train", log)
    test, _ = reader.sequence_names("test", log)
    assert len(train) == cfg.synth.pretrain.sequences and len(test) == cfg.synth.rgb_test.sequences
    assert not set(train) & set(test) and all(n.startswith("GOT-10k_Val_") for n in test)
    assert (out / "got10k" / "val" / test[0]).is_dir()
    frames = [reader.read(n).rgb_frames for n in train[:1] + test[:1]]
    assert len(frames[1]) == cfg.synth.rgb_test.frames
    assert not np.array_equal(read_image(frames[0][0]), read_image(frames[1][0]))
    manifest = json.loads(Path(layout.synth_manifest(out, "got10k")).read_text())
    specs = [r["spec"] for split in manifest["splits"].values() for r in split]
    assert specs and not any(s["night"] for s in specs)  # RGB data is day-light only
