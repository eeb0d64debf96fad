"""`python -m srtrack.prepare` on fixtures of all eight layouts: index, table, plot and MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import layouts
from srtrack import prepare
from srtrack.datasets import READERS


def run_prepare(config: list[Path], dataset: str, out: Path, *extra: str, split: str = "test") -> int:
    args = [a for path in config for a in ("--config", str(path))]
    return prepare.main([*args, "--dataset", dataset, "--split", split, "--out", str(out), *extra])


@pytest.mark.parametrize("name", sorted(layouts.BUILDERS))
def test_prepare_writes_index_for_every_layout(name: str, tmp_path: Path, tmp_config, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    root = tmp_path / "data"
    split = READERS[name].splits[-1]
    folder = {"folder": READERS[name].split_folders[split]} if READERS[name].split_folders else {}
    layouts.BUILDERS[name](root, "alpha", 6, **folder)
    layouts.BUILDERS[name](root, "beta", 4, **folder)
    config = tmp_config({"datasets": {name: {"root": str(root)}}})
    out = tmp_path / "out"
    assert run_prepare(config, name, out, "--check-images", "all", split=split) == 0

    index = json.loads((out / "index.json").read_text())
    assert index["benchmark"] == name and index["split"] == split
    assert index["n_sequences"] == 2 and index["n_frames"] == 10
    assert [s["name"] for s in index["sequences"]] == ["alpha", "beta"]
    assert index["list"]["kind"] == "all" and index["list"]["n_names"] == 2
    assert index["sequences"][0]["resolution"]["rgb"] == [layouts.WIDTH, layouts.HEIGHT]
    assert index["n_absent"] == len([i for i in layouts.ABSENT_FRAMES[name] if i < 6]) + len(
        [i for i in layouts.ABSENT_FRAMES[name] if i < 4])
    assert (out / "sequences.csv").read_text().startswith("name,n_frames,n_absent")
    assert (out / "stats.png").read_bytes()[:4] == b"\x89PNG"

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pytest")
    runs = client.search_runs([experiment.experiment_id], "tags.stage = 'prepare'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["dataset"] == name and tags["modality"] == READERS[name].modality and tags["seed"] == "0"
    assert tags["slurm_job_id"] == "4242" and len(tags["config_hash"]) == 64 and tags["git_commit"]
    parent = client.get_run(tags["mlflow.parentRunId"])
    assert parent.data.tags["srtrack.role"] == "study" and parent.data.tags["study"] == "pytest"
    assert run.data.metrics["n_sequences"] == 2 and run.data.metrics["n_errors"] == 0
    assert run.data.params["datasets." + name + ".root"] == str(root)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "index")}
    assert artifacts == {"index/index.json", "index/sequences.csv"}
    assert "stats.png" in {a.path for a in client.list_artifacts(run.info.run_id)}, "figures at the root"


def test_prepare_warns_about_boxes_outside_the_image(tmp_path: Path, tmp_config, capsys) -> None:
    seq = layouts.fe108(tmp_path / "d", "s", 3)
    (seq / "groundtruth_rect.txt").write_text("10,12,20,16\n50,12,40,16\n10,12,20,16\n")
    out = tmp_path / "out"
    assert run_prepare(tmp_config({"datasets": {"fe108": {"root": str(tmp_path / "d")}}}), "fe108", out) == 0
    assert "1 box(es) reach outside the 64x48 image (first: frame 2)" in capsys.readouterr().err
    assert json.loads((out / "index.json").read_text())["warnings"]


def test_second_run_nests_under_the_same_study_run(tmp_path: Path, tmp_config) -> None:
    layouts.fe108(tmp_path / "d", "s", 3)
    config = tmp_config({"datasets": {"fe108": {"root": str(tmp_path / "d")}}})
    assert run_prepare(config, "fe108", tmp_path / "o1") == 0
    assert run_prepare(config, "fe108", tmp_path / "o2") == 0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pytest").experiment_id], "tags.stage = 'prepare'")
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1 and len(runs) == 2


def test_explicit_parent_run_id_is_used(tmp_path: Path, tmp_config, monkeypatch) -> None:
    layouts.fe108(tmp_path / "d", "s", 3)
    config = tmp_config({"datasets": {"fe108": {"root": str(tmp_path / "d")}}})
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("pytest")
    dag_run = client.create_run(experiment_id, run_name="dag").info.run_id
    monkeypatch.setenv("SRTRACK_PARENT_RUN_ID", dag_run)
    assert run_prepare(config, "fe108", tmp_path / "o") == 0
    (run,) = client.search_runs([experiment_id], "tags.stage = 'prepare'")
    assert run.data.tags["mlflow.parentRunId"] == dag_run


def test_atomic_writes_keep_group_readable_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from srtrack.io import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"], "no temporary file left behind"
