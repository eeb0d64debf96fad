"""Exact resume: a real `python -m srtrack.tune` process killed with SIGKILL, or stopped with
SIGTERM (Slurm preemption), and started again ends with bit-identical weights."""

from __future__ import annotations

import os
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


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model.pth", weights_only=True)["net"]


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def checkpoint_step(out: Path) -> int:
    path = out / "checkpoints/last.pt"
    return int(torch.load(path, weights_only=True)["step"]) if path.is_file() else -1


def start_and_interrupt(args: list[str], out: Path, sig: int, after_step: int, delay: float) -> subprocess.Popen:
    """Start the CLI, wait for a checkpoint at `after_step` or later, then `delay` s, then send `sig`."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    process = subprocess.Popen(tune_command(*args, "--out", str(out)), env=env, cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while checkpoint_step(out) < after_step:
        assert process.poll() is None, f"finished before the interruption:\n{process.stdout.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(delay)
    process.send_signal(sig)
    process.wait(timeout=120)
    return process


def test_resume_after_sigkill_and_after_sigterm_is_bit_identical(srft_run: list[str], tmp_path: Path) -> None:
    reference = tmp_path / "uninterrupted"
    result = run_tune(*srft_run, "--out", str(reference))
    assert result.returncode == 0, result.stderr[-3000:]

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
    process = start_and_interrupt(srft_run, preempted, signal.SIGTERM, after_step=3, delay=0.2)
    output = process.stdout.read()
    assert process.returncode == 75, output[-3000:]
    assert "SIGTERM received: checkpoint at step" in output and "run the same command to resume" in output
    stopped_at = checkpoint_step(preempted)
    assert 3 <= stopped_at < 12 and f"at step {stopped_at} of 12" in output
    result = run_tune(*srft_run, "--out", str(preempted))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_bit_identical(weights(reference), weights(preempted))
