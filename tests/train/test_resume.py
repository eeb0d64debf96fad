"""Exact resume: a real `python -m srtrack.tune` process killed with SIGKILL, or stopped with
SIGTERM (Slurm preemption), and started again ends with bit-identical weights; and a tracking
server that goes away in the middle of a run costs it nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO
from training import run_config, run_tune, tune_command

pytestmark = pytest.mark.slow
SCHEDULE = {"epochs": 2, "samples_per_epoch": 48, "global_batch": 8, "checkpoint_every": 3, "log_every": 2,
            "probe_samples": 8}   # 12 steps: an interruption after step 3 resumes within or across the epoch boundary


@pytest.fixture(scope="module")
def srft_run(smoke_data: Path, tmp_path_factory: pytest.TempPathFactory, srft_inputs) -> list[str]:
    """Arguments of an SRFT tuning run on RGB-T from random 'pretrained' weights and their real prior."""
    config = run_config(smoke_data, tmp_path_factory.mktemp("srft"), SCHEDULE, model={"name": "srtrack_tiny"})
    init, prior = srft_inputs
    return [*config, "--modality", "rgbt", "--method", "srft", "--init", str(init), "--prior", str(prior)]


@pytest.fixture(scope="module")
def reference(srft_run: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, undisturbed."""
    out = tmp_path_factory.mktemp("reference") / "uninterrupted"
    result = run_tune(*srft_run, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model.pth", weights_only=True)["net"]


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def checkpoint_step(out: Path) -> int:
    path = out / "checkpoints/last.pt"
    return int(torch.load(path, weights_only=True)["step"]) if path.is_file() else -1


def start_tune(args: list[str], out: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(tune_command(*args, "--out", str(out)), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2", **env})


def wait_for_checkpoint(process: subprocess.Popen, out: Path, step: int) -> None:
    """Until the run has a checkpoint at `step` or later (it may not end first)."""
    deadline = time.monotonic() + 240
    while checkpoint_step(out) < step:
        assert process.poll() is None, f"finished before step {step}:\n{process.stdout.read()}"
        assert time.monotonic() < deadline, f"no checkpoint at step {step} after 240 s"
        time.sleep(0.05)


def start_and_interrupt(args: list[str], out: Path, sig: int, after_step: int, delay: float) -> subprocess.Popen:
    """Start the CLI, wait for a checkpoint at `after_step` or later, then `delay` s, then send `sig`."""
    process = start_tune(args, out)
    wait_for_checkpoint(process, out, after_step)
    time.sleep(delay)
    process.send_signal(sig)
    process.wait(timeout=120)
    return process


def test_resume_after_sigkill_and_after_sigterm_is_bit_identical(srft_run: list[str], reference: Path,
                                                                 tmp_path: Path, capsys) -> None:
    killed = tmp_path / "killed"
    process = start_and_interrupt(srft_run, killed, signal.SIGKILL, after_step=3, delay=0.3)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "model.pth").exists()
    interrupted_at = checkpoint_step(killed)
    assert 3 <= interrupted_at < 12
    result = run_tune(*srft_run, "--out", str(killed))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {killed / 'checkpoints/last.pt'} at step {interrupted_at}" in result.stderr
    assert_bit_identical(weights(reference), weights(killed))

    preempted = tmp_path / "preempted"
    process = start_tune(srft_run, preempted)
    wait_for_checkpoint(process, preempted, 3)
    # a second process on the same run folder (a second driver after a restart) is refused while it trains
    from srtrack import tune

    assert tune.main([*srft_run, "--out", str(preempted)]) == 1
    busy = capsys.readouterr().err
    assert re.search(rf"tune: {preempted}: process {process.pid} on \S+ \(since .*\) is training there", busy), busy
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    output = process.stdout.read()
    assert process.returncode == 75, output[-3000:]
    assert "stopped by SIGTERM: checkpoint at step" in output and "run the same command to resume" in output
    stopped_at = checkpoint_step(preempted)
    assert 3 <= stopped_at < 12 and f"at step {stopped_at} of 12" in output
    result = run_tune(*srft_run, "--out", str(preempted))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_bit_identical(weights(reference), weights(preempted))


@pytest.mark.mlflow_server
def test_a_tracking_server_outage_in_the_middle_of_training_costs_nothing(srft_run: list[str], reference: Path,
                                                                         restartable_mlflow_server,
                                                                         tmp_path: Path) -> None:
    """The real server is stopped after step 3 and started again only once training has gone on
    without it: the run trains on, ends with the weights of the undisturbed run, and every metric
    of the outage reaches the server when it is back; the run ends FINISHED, its outage recorded."""
    from mlflow.tracking import MlflowClient

    server = restartable_mlflow_server
    out = tmp_path / "outage"
    process = start_tune(srft_run, out, MLFLOW_TRACKING_URI=server.url)
    wait_for_checkpoint(process, out, 3)
    server.stop()
    down_at = checkpoint_step(out)
    wait_for_checkpoint(process, out, down_at + 3)  # training does not wait for the server
    server.start()
    output = process.communicate(timeout=400)[0]
    assert process.returncode == 0, output[-3000:]
    assert "stopped answering" in output and "answers again" in output and "Traceback" not in output
    assert_bit_identical(weights(reference), weights(out))
    client = MlflowClient(server.url)
    run = client.get_run((out / "mlflow_run_id").read_text().strip())
    assert run.info.status == "FINISHED" and "outage(s) of the tracking server" in run.data.tags["srtrack.mlflow_outages"]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss/task")] == [2, 4, 6, 8, 10, 12]
    assert "train/model.pth" in [a.path for a in client.list_artifacts(run.info.run_id, "train")]
    assert run.data.tags["model_id"] and "srtrack.mlflow_lost" not in run.data.tags
