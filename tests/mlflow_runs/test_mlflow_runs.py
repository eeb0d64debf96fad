"""The MLflow helper against a real SQLite store and a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from srtrack.config import load_config
from srtrack.mlflow_logging import flatten
from srtrack.mlflow_runs import stage_run


def runs_of(uri: str, experiment: str = "pytest", filter_string: str = "tags.`srtrack.role` = 'stage'"):
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id], filter_string)


def stage_script(body: str, config_from: int = 1) -> str:
    """A `python -c` program: the config from argv[config_from:], then `body` (stage_run imported)."""
    return ("import sys, time\nfrom srtrack.config import load_config\nfrom srtrack.mlflow_runs import stage_run\n"
            f"cfg = load_config(sys.argv[{config_from}:])\n" + body)


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": "1", "a.c": "[1, 2]", "d": "None"}


def test_failed_stage_is_marked_failed_with_the_error(tmp_path: Path, tmp_config) -> None:
    cfg = load_config(tmp_config())
    with pytest.raises(ValueError, match="boom"):
        with stage_run(cfg, "tune", name="tune rgbt/srft s0", method="srft"):
            raise ValueError("boom")
    (run,) = runs_of(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FAILED" and run.data.tags["error"] == "ValueError: boom"
    assert run.data.tags["method"] == "srft" and run.info.run_name == "tune rgbt/srft s0"


def test_metrics_params_and_config_artifact(tmp_path: Path, tmp_config) -> None:
    cfg = load_config(tmp_config())
    with stage_run(cfg, "evaluate", name="evaluate", dataset="lasher") as run:
        run.log_metrics({"auc": 0.5}, step=3)
        run.log_params({"extra": {"k": 2}})
        run_id = run.run_id
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    data = client.get_run(run_id).data
    assert data.metrics["auc"] == 0.5 and data.params["extra.k"] == "2" and data.params["study.name"] == "pytest"
    assert [a.path for a in client.list_artifacts(run_id, "config")] == ["config/config.yaml"]
    # artifacts of a SQLite store live next to the database, not in the working directory
    assert (tmp_path / "mlartifacts" / "pytest").is_dir()


def test_a_moved_store_is_refused_until_one_command_relocates_it(tmp_path: Path, capsys) -> None:
    """MLflow stores absolute artifact locations: a study folder moved elsewhere would write beside the
    old copy. Stages refuse it, naming the command; after it, the store serves its artifacts in place."""
    import shutil

    from srtrack import relocate
    from srtrack.errors import ConfigError

    def config(folder: Path):
        overlay = tmp_path / f"{folder.name}.yaml"
        overlay.write_text(f"study: {{name: pytest}}\nmlflow: {{tracking_uri: 'sqlite:///{folder}/mlflow.db', "
                           "experiment: pytest}\n")
        return load_config([Path(__file__).parents[2] / "config/config.yaml", overlay])

    with stage_run(config(tmp_path / "before"), "report", name="report") as run:
        run.log_text("the tables", "report/tables.md")
        run_id = run.run_id
    shutil.move(tmp_path / "before", tmp_path / "after")
    store = tmp_path / "after/mlflow.db"
    with pytest.raises(ConfigError, match=rf"was moved: .* run `python -m srtrack.relocate {store}` once"):
        with stage_run(config(tmp_path / "after"), "report", name="report"):
            pass
    assert relocate.main([str(store)]) == 0
    assert relocate.main([str(store)]) == 0 and "nothing (already in place)" in capsys.readouterr().err
    (tmp_path / "empty.db").touch()  # not a store: refused by name, no traceback
    assert relocate.main([str(tmp_path / "empty.db")]) == 2 and "is not an MLflow store" in capsys.readouterr().err
    with stage_run(config(tmp_path / "after"), "report", name="report again"):
        pass
    client = MlflowClient(f"sqlite:///{store}")
    text = Path(client.download_artifacts(run_id, "report/tables.md", str(tmp_path))).read_text()
    assert text == "the tables" and not (tmp_path / "before").exists()


def test_a_stage_logs_only_the_sections_it_reads(tmp_path: Path, tmp_config) -> None:
    cfg = load_config(tmp_config())
    with stage_run(cfg, "prepare", name="prepare lasher/test", sections=("study", "datasets.lasher")) as run:
        run_id = run.run_id
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    found = client.get_run(run_id)
    params = found.data.params
    assert found.info.run_name == "prepare lasher/test" and params["study.name"] == "pytest"
    assert "datasets.lasher.root" in params and not any(k.startswith(("datasets.got10k", "model.", "method."))
                                                        for k in params)
    # the whole resolved config is still there, as the artifact
    assert [a.path for a in client.list_artifacts(run_id, "config")] == ["config/config.yaml"]


def test_only_rank_zero_logs(tmp_path: Path, tmp_config, monkeypatch) -> None:
    cfg = load_config(tmp_config())
    monkeypatch.setenv("RANK", "1")
    with stage_run(cfg, "tune", name="tune") as run:
        run.log_metrics({"loss": 1.0})
        assert run.run_id == ""
    assert not (tmp_path / "mlflow.db").exists()


def test_environment_uri_wins_over_config(tmp_path: Path, tmp_config, monkeypatch) -> None:
    cfg = load_config(tmp_config())
    other = f"sqlite:///{tmp_path / 'other' / 'env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    with stage_run(cfg, "prepare", name="prepare"):
        pass
    assert len(runs_of(other)) == 1 and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.mlflow_server
def test_stage_runs_reach_a_real_mlflow_server(tmp_path: Path, tmp_config, mlflow_server: str, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    cfg = load_config(tmp_config())
    with stage_run(cfg, "prepare", name="prepare", dataset="lasher") as run:
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
    script = stage_script("with stage_run(cfg, 'prepare', name='prepare') as run:\n    run.log_metrics({'x': 1.0})\n")
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
        with stage_run(cfg, "prepare", name="prepare"):
            pass
    for name in ("first", "second"):
        assert len(runs_of(f"sqlite:///{tmp_path / name / 'rel' / 'mlflow.db'}")) == 1


@pytest.mark.slow
@pytest.mark.mlflow_server
def test_six_processes_starting_together_against_a_server_share_one_study_run(tmp_path: Path, tmp_config,
                                                                               mlflow_server: str) -> None:
    import os
    import time

    config = tmp_config()
    start = time.time() + 8  # every process waits for the same instant, after its imports
    script = stage_script("time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
                          "with stage_run(cfg, 'prepare', name='prepare'):\n    pass\n", config_from=2)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(start), *map(str, config)], stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(6)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(errors)
    studies = runs_of(mlflow_server, filter_string="tags.`srtrack.role` = 'study'")
    stages = runs_of(mlflow_server)
    assert len(studies) == 1 and len(stages) == 6
    assert {r.data.tags["mlflow.parentRunId"] for r in stages} == {studies[0].info.run_id}


def test_runs_of_a_killed_process_are_closed_by_the_next_stage(tmp_path: Path, tmp_config) -> None:
    """A kill -9 leaves its run RUNNING; the next stage run on this host marks it KILLED."""
    import signal

    config = tmp_config()
    script = stage_script("with stage_run(cfg, 'evaluate', name='evaluate'):\n    print('open', flush=True)\n    time.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, config)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (orphan,) = runs_of(uri)
    assert orphan.info.status == "RUNNING"
    with stage_run(load_config(config), "prepare", name="prepare"):
        pass
    closed = MlflowClient(uri).get_run(orphan.info.run_id)
    assert closed.info.status == "KILLED" and "ended without closing the run" in closed.data.tags["stopped"]


def test_mlflow_telemetry_is_off_in_every_srtrack_process() -> None:
    code = "import srtrack, os; print(os.environ['MLFLOW_DISABLE_TELEMETRY'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_DISABLE_TELEMETRY"})
    assert out.stdout.strip() == "true"


@pytest.mark.slow
@pytest.mark.mlflow_server
def test_the_server_script_listens_locally_and_with_accounts_refuses_anonymous_requests(tmp_path: Path, tmp_config,
                                                                                         monkeypatch, capsys) -> None:
    import os
    import urllib.error
    import urllib.request

    from conftest import REPO, start_mlflow_server, wait_for_server

    # another interface without accounts is refused
    refused = subprocess.run(["bash", str(REPO / "scripts" / "mlflow-server.sh"), "5999"], capture_output=True,
                             text=True, env={**os.environ, "SRTRACK_MLFLOW_HOST": "0.0.0.0", "PYTHON": sys.executable})
    assert refused.returncode == 2 and "refusing to listen on 0.0.0.0 without accounts" in refused.stderr
    secret = "a-long-test-secret-9f3"
    proc, url, log = start_mlflow_server(tmp_path, SRTRACK_MLFLOW_AUTH="basic", MLFLOW_AUTH_ADMIN_USERNAME="admin",
                                         MLFLOW_AUTH_ADMIN_PASSWORD=secret,
                                         SRTRACK_MLFLOW_AUTH_INI=str(tmp_path / "auth.ini"))
    try:
        wait_for_server(proc, url, tmp_path)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
        assert info.value.code == 401
        # a page on another origin may not change anything with the user's credentials (MLflow itself
        # always lets localhost origins through: README, Running on Slurm)
        import base64

        token = base64.b64encode(f"admin:{secret}".encode()).decode()
        request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/create", data=b'{"name": "x"}',
                                         method="POST", headers={"Origin": "http://attacker.example",
                                                                 "Authorization": f"Basic {token}",
                                                                 "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 403
        # every stage checks its server first: without an account, or with a wrong password, exit 2 at once
        import layouts
        from srtrack import prepare

        layouts.fe108(tmp_path / "data", "seq1", 5)
        config = tmp_config({"mlflow": {"tracking_uri": url}, "datasets": {"fe108": {"root": str(tmp_path / "data")}}})
        argv = [a for c in config for a in ("--config", str(c))] + ["--dataset", "fe108", "--split", "test", "--out",
                                                                   str(tmp_path / "prepared")]
        for password in (None, "wrong"):
            if password:
                monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
                monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
            assert prepare.main(argv) == 2
            err = capsys.readouterr().err
            assert f"config error: the MLflow tracking server {url} refuses this job (401" in err, err
            assert "Traceback" not in err and not (tmp_path / "prepared" / "index.json").exists()
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secret)
        assert prepare.main(argv) == 0
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        with stage_run(load_config(tmp_config()), "prepare", name="prepare") as run:
            run.log_metrics({"x": 1.0})
        assert len(runs_of(url)) == 2
        # the server's files are its own: runs, password hashes and artifacts unreadable by other users
        modes = {name: oct((tmp_path / name).stat().st_mode & 0o777)
                 for name in ("auth.ini", "server.db", "auth.db", "server-artifacts")}
        assert modes == {"auth.ini": "0o600", "server.db": "0o600", "auth.db": "0o600", "server-artifacts": "0o700"}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
@pytest.mark.mlflow_server
def test_writes_of_a_stage_that_ends_during_an_outage_are_spooled_and_sent_by_the_next_stage(
        tmp_path: Path, tmp_config, restartable_mlflow_server, monkeypatch) -> None:
    """The server goes away mid-stage and is still away when the stage ends: the stage ends normally,
    its writes (metrics, an artifact, its status) wait in the study's spool, and the next stage that
    reaches the server sends them, in order, before anything else."""
    server = restartable_mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    cfg = load_config(tmp_config({"mlflow": {"outage_wait_s": 2}}))
    artifact = tmp_path / "scores.txt"
    artifact.write_text("0.5\n")
    with stage_run(cfg, "evaluate", name="evaluate during an outage") as run:
        run.log_metrics({"auc": 0.25}, step=1)
        assert run.courier.flush(30)
        server.stop()
        run.log_metrics({"auc": 0.5}, step=2)
        run.log_artifact(artifact, "evaluate")
        run_id = run.run_id
    spooled = list((tmp_path / "results" / "mlflow-spool").glob("*.json"))
    assert len(spooled) == 1 and run_id in spooled[0].name
    server.start()
    client = MlflowClient(server.url)
    assert client.get_run(run_id).info.status == "RUNNING"  # as the outage left it
    with stage_run(cfg, "prepare", name="the next stage"):
        pass
    found = client.get_run(run_id)
    assert found.info.status == "FINISHED"
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "auc")] == [(1, 0.25), (2, 0.5)]
    assert [a.path for a in client.list_artifacts(run_id, "evaluate")] == ["evaluate/scores.txt"]
    assert "sent late from" in found.data.tags["srtrack.mlflow_late"]
    assert not list((tmp_path / "results" / "mlflow-spool").glob("*"))


@pytest.mark.slow
def test_every_stage_checks_its_server_first(tmp_path: Path, tmp_config, capsys) -> None:
    """A tracking server that does not answer: the stage says so within seconds, exit 1, nothing run."""
    import layouts
    from conftest import _free_port
    from srtrack import prepare

    layouts.fe108(tmp_path / "data", "seq1", 5)
    dead = f"http://127.0.0.1:{_free_port()}"
    config = tmp_config({"mlflow": {"tracking_uri": dead}, "datasets": {"fe108": {"root": str(tmp_path / "data")}}})
    out = tmp_path / "out"
    code = prepare.main([a for c in config for a in ("--config", str(c))] + ["--dataset", "fe108", "--split", "test",
                                                                            "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and f"error: the MLflow tracking server {dead} does not answer" in err and "Traceback" not in err
