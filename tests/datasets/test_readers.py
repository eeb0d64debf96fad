"""Every registered reader reads a fixture in its benchmark's real layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import layouts
from srtrack.datasets import READERS, create_reader
from srtrack.errors import ConfigError, DatasetFormatError, ProblemLog


def test_every_reader_has_a_fixture_layout() -> None:
    assert set(READERS) == set(layouts.BUILDERS)
    assert len(READERS) == 9  # the eight benchmarks of the paper + GOT-10k for RGB pre-training


@pytest.mark.parametrize("name", sorted(layouts.BUILDERS))
def test_reader_reads_fixture(name: str, tmp_path: Path, dataset_config) -> None:
    root = tmp_path / name
    layouts.BUILDERS[name](root, "alpha", 5)
    reader = create_reader(name, dataset_config(name, root).datasets)
    seq = reader.read("alpha")
    assert seq.benchmark == name and len(seq) == 5
    assert len(seq.rgb_frames) == 5
    if seq.x_name is not None:
        assert len(seq.x_frames) == 5 and seq.rgb_frames[0].parent.parent == root / "alpha"
    assert list(np.flatnonzero(seq.absent)) == layouts.ABSENT_FRAMES[name]
    expected = layouts.boxes(5)
    present = ~seq.absent
    offset = 0.5 if name == "visevent" else 0.0
    np.testing.assert_allclose(seq.boxes[present], expected[present] + [offset, offset, offset, offset])
    assert seq.boxes.dtype == np.float64 and seq.boxes.shape == (5, 4)


def test_frames_are_in_numeric_order(tmp_path: Path, dataset_config) -> None:
    layouts.lasher(tmp_path, "long", 12)
    seq = create_reader("lasher", dataset_config("lasher", tmp_path).datasets).read("long")
    assert [p.name for p in seq.rgb_frames][:3] == ["v000.jpg", "v001.jpg", "v002.jpg"]
    assert seq.x_frames[-1].name == "i011.jpg"


@pytest.mark.parametrize("naming, first", [("prefixed", "v000.jpg"), ("numbered", "000001.jpg")])
def test_lasher_both_frame_namings(naming: str, first: str, tmp_path: Path, dataset_config) -> None:
    layouts.lasher(tmp_path, "s", 4, naming=naming)
    seq = create_reader("lasher", dataset_config("lasher", tmp_path).datasets).read("s")
    assert seq.rgb_frames[0].name == first
    assert any("frames named" in q for q in seq.quirks)


def test_lasher_attributes_and_thermal_gt(tmp_path: Path, dataset_config) -> None:
    layouts.lasher(tmp_path, "s", 4)
    seq = create_reader("lasher", dataset_config("lasher", tmp_path).datasets).read("s")
    assert seq.attributes == {"PO", "LI"}
    assert "thermal" in seq.extra_boxes


def test_lasher_zero_rows_are_absent(tmp_path: Path, dataset_config) -> None:
    seq_dir = layouts.lasher(tmp_path, "s", 4)
    lines = (seq_dir / "init.txt").read_text().splitlines()
    lines[2] = "0,0,0,0"
    (seq_dir / "init.txt").write_text("\n".join(lines) + "\n")
    seq = create_reader("lasher", dataset_config("lasher", tmp_path).datasets).read("s")
    assert list(seq.absent) == [False, False, True, False]


@pytest.mark.parametrize("rule, width", [("x2-x1", 20.0), ("x2-x1+1", 21.0)])
def test_gtot_corner_conversion(rule: str, width: float, tmp_path: Path, dataset_config) -> None:
    layouts.gtot(tmp_path, "s", 3)
    seq = create_reader("gtot", dataset_config("gtot", tmp_path, corner_width=rule).datasets).read("s")
    assert seq.boxes[0].tolist() == [10.0, 12.0, width, 16.0 + width - 20.0]
    assert set(seq.extra_boxes) == {"thermal"}


def test_vot_tags_anchors_and_list(tmp_path: Path, dataset_config) -> None:
    layouts.vot_rgbd22(tmp_path, "b", 5)
    layouts.vot_rgbd22(tmp_path, "a", 5)
    reader = create_reader("vot_rgbd22", dataset_config("vot_rgbd22", tmp_path).datasets)
    names, source = reader.sequence_names("test", ProblemLog())
    assert names == ["b", "a"] and source.kind == "all" and source.location.endswith("list.txt")
    seq = reader.read("a")
    assert seq.frame_tags["full-occlusion"].tolist() == [False, False, True, False, False]
    assert seq.frame_tags["anchor"].tolist() == [1.0, 0.0, 0.0, 0.0, -1.0]
    assert np.isnan(seq.boxes[2]).all()


def test_vot_polygon_rows_become_bounding_boxes(tmp_path: Path, dataset_config) -> None:
    seq_dir = layouts.depthtrack(tmp_path, "s", 3)
    (seq_dir / "groundtruth.txt").write_text("1,2,11,2,11,22,1,22\n5,5,4,4\n0,0,0,0\n")
    seq = create_reader("depthtrack", dataset_config("depthtrack", tmp_path).datasets).read("s")
    assert seq.boxes[0].tolist() == [1, 2, 10, 20]
    assert seq.absent.tolist() == [False, False, True]
    assert any("polygon" in q for q in seq.quirks) and any("0,0,0,0" in q for q in seq.quirks)


def test_coesot_first_frame_absent_is_a_quirk(tmp_path: Path, dataset_config) -> None:
    layouts.coesot(tmp_path, "s", 4)
    seq = create_reader("coesot", dataset_config("coesot", tmp_path).datasets).read("s")
    assert seq.absent[0] and any("first frame absent" in q for q in seq.quirks)


def test_builtin_lists_resolve(tmp_path: Path, dataset_config) -> None:
    cfg = dataset_config("lasher", tmp_path, test_list="builtin", train_list="builtin")
    reader = create_reader("lasher", cfg.datasets)
    test_names, source = reader.sequence_names("test", ProblemLog())
    train_names, _ = reader.sequence_names("train", ProblemLog())
    assert (len(test_names), len(train_names)) == (245, 979)
    assert source.kind == "builtin" and not set(test_names) & set(train_names)


def test_user_list_file(tmp_path: Path, dataset_config) -> None:
    layouts.fe108(tmp_path / "fe", "x", 3)
    layouts.fe108(tmp_path / "fe", "y", 3)
    list_file = tmp_path / "mine.txt"
    list_file.write_text("y\n\n")
    cfg = dataset_config("fe108", tmp_path / "fe", test_list=str(list_file))
    names, source = create_reader("fe108", cfg.datasets).sequence_names("test", ProblemLog())
    assert names == ["y"] and source.kind == "file"


def test_unknown_dataset_names_the_known_ones(tmp_path: Path, dataset_config) -> None:
    cfg = dataset_config("fe108", tmp_path)
    with pytest.raises(ConfigError, match=r"unknown dataset 'fe109'; known: \['coesot', 'depthtrack'"):
        create_reader("fe109", cfg.datasets)


def test_read_collects_every_problem_of_a_sequence(tmp_path: Path, dataset_config) -> None:
    seq_dir = layouts.fe108(tmp_path, "s", 4)
    (seq_dir / "groundtruth_rect.txt").write_text("1,2,3,4\nx,2,3,4\n1,2,3\n1,2,3,4\n")
    (seq_dir / "evimg" / "0002.jpg").unlink()
    with pytest.raises(DatasetFormatError) as info:
        create_reader("fe108", dataset_config("fe108", tmp_path).datasets).read("s")
    text = str(info.value)
    assert "groundtruth_rect.txt:2: not numeric" in text
    assert "groundtruth_rect.txt:3: 3 values" in text
    assert "missing frame number(s) 2" in text


def test_got10k_reads_train_and_val_folders_as_its_splits(tmp_path: Path, dataset_config) -> None:
    """GOT-10k ships one folder per split; srtrack's test split is val/ (test/ has no public ground truth)."""
    layouts.got10k(tmp_path, "GOT-10k_Train_000001", 4)
    layouts.got10k(tmp_path, "GOT-10k_Val_000001", 6, folder="val")
    reader = create_reader("got10k", dataset_config("got10k", tmp_path).datasets)
    log = ProblemLog()
    assert reader.sequence_names("train", log)[0] == ["GOT-10k_Train_000001"]
    names, source = reader.sequence_names("test", log)
    assert names == ["GOT-10k_Val_000001"] and source.location == str(tmp_path / "val" / "list.txt")
    assert len(reader.read("GOT-10k_Val_000001")) == 6 and len(reader.read("GOT-10k_Train_000001")) == 4
    assert not log.items


def test_got10k_root_at_a_split_folder_is_a_config_error_that_says_where_to_point(tmp_path: Path, dataset_config) -> None:
    layouts.got10k(tmp_path, "GOT-10k_Train_000001", 3)
    reader = create_reader("got10k", dataset_config("got10k", tmp_path / "train").datasets)
    with pytest.raises(ConfigError, match=r"has no train/ folder.*holds a list\.txt.*one level up"):
        reader.sequence_names("train", ProblemLog())
