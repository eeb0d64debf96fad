"""The MLflow helper against a real SQLite store and a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from srtrack.config import load_config
from srtrack.tracking import flatten, stage_run


def runs_of(uri: str, experiment: str = "pytest", filter_string: str = "tags.`srtrack.role` = 'stage'"):
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id], filter_string)


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": "1", "a.c": "[1, 2]", "d": "None"}


def test_failed_stage_is_marked_failed_with_the_error(tmp_path: Path, tmp_config) -> None:
    cfg = load_config(tmp_config())
    with pytest.raises(ValueError, match="boom"):
        with stage_run(cfg, "tune", method="srft"):
            raise ValueError("boom")
    (run,) = runs_of(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FAILED" and run.data.tags["error"] == "ValueError: boom"
    assert run.data.tags["method"] == "srft" and run.info.run_name == "tune-srft"


def test_metrics_params_and_config_artifact(tmp_path: Path, tmp_config) -> None:
    cfg = load_config(tmp_config())
    with stage_run(cfg, "evaluate", dataset="lasher") as run:
        run.log_metrics({"auc": 0.5}, step=3)
        run.log_params({"extra": {"k": 2}})
        run_id = run.run_id
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    data = client.get_run(run_id).data
    assert data.metrics["auc"] == 0.5 and data.params["extra.k"] == "2" and data.params["study.name"] == "pytest"
    assert [a.path for a in client.list_artifacts(run_id, "config")] == ["config/config.yaml"]
    # artifacts of a SQLite store live next to the database, not in the working directory
    assert (tmp_path / "mlartifacts" / "pytest").is_dir()


def test_only_rank_zero_logs(tmp_path: Path, tmp_config, monkeypatch) -> None:
    cfg = load_config(tmp_config())
    monkeypatch.setenv("RANK", "1")
    with stage_run(cfg, "tune") as run:
        run.log_metrics({"loss": 1.0})
        assert run.run_id == ""
    assert not (tmp_path / "mlflow.db").exists()


def test_environment_uri_wins_over_config(tmp_path: Path, tmp_config, monkeypatch) -> None:
    cfg = load_config(tmp_config())
    other = f"sqlite:///{tmp_path / 'other' / 'env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    with stage_run(cfg, "prepare"):
        pass
    assert len(runs_of(other)) == 1 and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.mlflow_server
def test_stage_runs_reach_a_real_mlflow_server(tmp_path: Path, tmp_config, mlflow_server: str, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    cfg = load_config(tmp_config())
    with stage_run(cfg, "prepare", dataset="lasher") as run:
        run.log_metrics({"n_sequences": 3})
    (found,) = runs_of(mlflow_server)
    assert found.data.tags["dataset"] == "lasher" and found.data.metrics["n_sequences"] == 3
    client = MlflowClient(mlflow_server)
    assert [a.path for a in client.list_artifacts(found.info.run_id, "config")] == ["config/config.yaml"]
    parent = client.get_run(found.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["srtrack.role"] == "study"
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_parallel_stages_share_a_new_sqlite_store(tmp_path: Path, tmp_config) -> None:
    """Parallel Snakemake jobs start on an empty store at the same moment: none may fail."""
    config = tmp_config()
    script = (
        "import sys\n"
        "from srtrack.config import load_config\n"
        "from srtrack.tracking import stage_run\n"
        "cfg = load_config(sys.argv[1:])\n"
        "with stage_run(cfg, 'prepare') as run:\n"
        "    run.log_metrics({'x': 1.0})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, *map(str, config)], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(errors)
    runs = runs_of(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(runs) == 4 and len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1


def test_relative_sqlite_uri_follows_the_working_directory(tmp_path: Path, tmp_config, monkeypatch) -> None:
    """MLflow caches stores by URI string: a relative URI must not keep the first directory's DB."""
    cfg = load_config(tmp_config({"mlflow": {"tracking_uri": "sqlite:///rel/mlflow.db"}}))
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        with stage_run(cfg, "prepare"):
            pass
    for name in ("first", "second"):
        assert len(runs_of(f"sqlite:///{tmp_path / name / 'rel' / 'mlflow.db'}")) == 1
