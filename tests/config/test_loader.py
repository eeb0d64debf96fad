"""Config loading: the default is complete and typed; every violation names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srtrack.config import config_to_dict, load_config, load_schema
from srtrack.config.types import Config, LasherConfig
from srtrack.errors import ConfigError

from conftest import DEFAULT_CONFIG, REPO


def overlay(tmp_path: Path, text: str) -> list[Path]:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return [DEFAULT_CONFIG, path]


def test_default_config_is_complete_and_typed() -> None:
    cfg = load_config(DEFAULT_CONFIG)
    assert isinstance(cfg, Config) and isinstance(cfg.datasets.lasher, LasherConfig)
    assert cfg.study.output_dir == Path("results")
    assert cfg.datasets.lasher.root == Path("results/synthetic/lasher") and cfg.datasets.gtot.root is None
    assert cfg.synth.frame_size == (256, 192)
    assert isinstance(cfg.train.lr.blocks, float) and cfg.train.lr.blocks == 1.6e-3
    assert cfg.sources == (DEFAULT_CONFIG,)


def test_round_trip_through_plain_dict(tmp_path: Path) -> None:
    cfg = load_config(DEFAULT_CONFIG)
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert config_to_dict(load_config(path)) == config_to_dict(cfg)


def test_overlay_wins_and_paths_become_paths(tmp_path: Path) -> None:
    cfg = load_config(overlay(tmp_path, "datasets:\n  lasher:\n    root: /data/LasHeR\nstudy:\n  seed: 7\n"))
    assert cfg.datasets.lasher.root == Path("/data/LasHeR") and cfg.study.seed == 7
    assert cfg.datasets.lasher.test_list == "testingsetList.txt"  # untouched keys keep the default


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    files = overlay(tmp_path, "study:\n  name: x\n  sead: 3\n")
    with pytest.raises(ConfigError, match=r"mine.yaml:3: study.sead: unknown key \(expected one of: ablations, eval_data, methods, name, output_dir, provides, requires, seed, seeds, sweeps, tune_data, variants\)"):
        load_config(files)


def test_unknown_key_in_dataset_block(tmp_path: Path) -> None:
    files = overlay(tmp_path, "datasets:\n  fe108:\n    gt_file: init.txt\n")
    with pytest.raises(ConfigError, match=r"mine.yaml:3: datasets.fe108.gt_file: unknown key \(expected one of: root, test_list, train_list\)"):
        load_config(files)


def test_wrong_type_names_the_line(tmp_path: Path) -> None:
    files = overlay(tmp_path, "train:\n  lr:\n    blocks: fast\n")
    with pytest.raises(ConfigError, match=r"mine.yaml:3: train.lr.blocks: 'fast' is not of type 'number'"):
        load_config(files)


def test_every_violation_is_reported_at_once(tmp_path: Path) -> None:
    files = overlay(tmp_path, "study:\n  seed: -1\nprepare:\n  check_images: some\n")
    with pytest.raises(ConfigError) as info:
        load_config(files)
    text = str(info.value)
    assert "mine.yaml:2: study.seed: -1 is less than the minimum of 0" in text
    assert "mine.yaml:4: prepare.check_images: 'some' is not one of ['all', 'sampled', 'none']" in text


def test_missing_section_in_a_standalone_file(tmp_path: Path) -> None:
    path = tmp_path / "partial.yaml"
    path.write_text("study:\n  name: x\n  seed: 0\n  output_dir: r\n")
    with pytest.raises(ConfigError, match=r"<top level>: 'mlflow' is a required property"):
        load_config(path)


def test_cross_field_check(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mine.yaml:2: method.m_min \(0.9\) must not exceed method.m_max \(0.65\)"):
        load_config(overlay(tmp_path, "method:\n  m_min: 0.9\n"))


def test_the_scored_epoch_is_one_that_tuning_reaches(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mine.yaml:2: evaluate.epoch 9 is after the last epoch of tuning "
                                          r"\(train.epochs 2\)"):
        load_config(overlay(tmp_path, "evaluate:\n  epoch: 9\ntrain:\n  epochs: 2\n"))


def test_bug_compatible_needs_the_released_ranking(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mine.yaml:2: method.bug_compatible reproduces the released code's update, a "
                                          r"full sort of the two-step window at every step; set method.rank_method to "
                                          r"'exact' \(it is 'quantile'\), method.rank_every to 1 \(it is 5\)"):
        load_config(overlay(tmp_path, "method:\n  bug_compatible: true\n  rank_method: quantile\n"))
    released = "method:\n  bug_compatible: true\n  rank_every: 1\n  rank_method: exact\n"
    assert load_config(overlay(tmp_path, released)).method.bug_compatible


def test_overrides(tmp_path: Path) -> None:
    cfg = load_config(DEFAULT_CONFIG, ["study.seed=5", "datasets.gtot.root=/x", "model.pretrained=null"])
    assert cfg.study.seed == 5 and cfg.datasets.gtot.root == Path("/x") and cfg.model.pretrained is None
    with pytest.raises(ConfigError, match=r"override 'nosuch.key=1': no section 'nosuch' in the config"):
        load_config(DEFAULT_CONFIG, ["nosuch.key=1"])
    with pytest.raises(ConfigError, match=r"override 'study.seed': expected KEY=VALUE"):
        load_config(DEFAULT_CONFIG, ["study.seed"])


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mine.yaml: not valid YAML"):
        load_config(overlay(tmp_path, "study: [unclosed\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_package_schema_is_the_workflow_schema() -> None:
    workflow_schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert load_schema() == workflow_schema


def test_schema_requires_every_dataclass_field() -> None:
    """The schema and the dataclasses describe the same keys (no silent defaults anywhere)."""
    import dataclasses
    import typing

    def check(schema: dict, cls: type, where: str) -> None:
        fields = {f.name for f in dataclasses.fields(cls) if f.name not in ("sources", "overrides")}
        if "$ref" in schema:  # a $ref with (maybe) extra properties of its own: their union
            ref = load_schema()["$defs"][schema["$ref"].split("/")[-1]]
            schema = {**schema, "properties": {**ref["properties"], **schema.get("properties", {})}}
        props = set(schema["properties"])
        assert fields == props, f"{where}: dataclass {sorted(fields)} vs schema {sorted(props)}"
        hints = typing.get_type_hints(cls)
        for name in fields:
            if dataclasses.is_dataclass(hints[name]):
                check(schema["properties"][name], hints[name], f"{where}.{name}")

    check(load_schema(), Config, "config")
