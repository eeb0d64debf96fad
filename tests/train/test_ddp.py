"""DDP on CPU (gloo): 2 ranks with global batch B give the weights of 1 rank with batch B, and the two
replicas stay identical: SRFT (gradients and its all-reduced regularizer state) under torchrun and
under the variables srun sets, both against one single-process run (real processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srtrack.models import create_tracker
from srtrack.models.checkpoints import load_pretrained
from training import run_config, run_tune

pytestmark = pytest.mark.slow
# micro_batch 4: BatchNorm statistics over the same 4 samples whether 1 rank accumulates two
# micro-batches or 2 ranks take one each (srtrack/train/data.py)
SCHEDULE = {"epochs": 1, "samples_per_epoch": 48, "global_batch": 8, "micro_batch": 4, "checkpoint_every": 100,
            "log_every": 2, "probe_samples": 0}


def srft_arguments(smoke_data: Path, tmp_path: Path, srft_inputs) -> list[str]:
    config = run_config(smoke_data, tmp_path, SCHEDULE, model={"name": "srtrack_tiny"})
    init, prior = srft_inputs
    return [*config, "--modality", "rgbt", "--method", "srft", "--init", str(init), "--prior", str(prior)]


def parameters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Parameters, not BatchNorm running statistics: under DDP those are rank 0's own micro-batch's."""
    names = [n for n, _ in create_tracker("srtrack_tiny", template_size=64, search_size=128).named_parameters()]
    return {n: state[n] for n in names}


@pytest.fixture(scope="module")
def one_rank(smoke_data: Path, srft_inputs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """SRFT's weights after one process's run: what both two-process runs must end in."""
    tmp = tmp_path_factory.mktemp("one-rank")
    # one thread per rank in every run: matrix products summed in another order differ in the last bits
    result = run_tune(*srft_arguments(smoke_data, tmp, srft_inputs), "--out", str(tmp / "out"), threads=1)
    assert result.returncode == 0, result.stderr[-4000:]
    return parameters(torch.load(tmp / "out/model.pth", weights_only=True)["net"])


def test_two_gloo_ranks_match_one_rank_with_srft(smoke_data: Path, tmp_path: Path, srft_inputs, one_rank) -> None:
    result = run_tune(*srft_arguments(smoke_data, tmp_path, srft_inputs), "--out", str(tmp_path / "ranks2"), ranks=2,
                      threads=1)
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = json.loads((tmp_path / "ranks2/metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["replica_max_abs_diff"] == 0.0
    two = parameters(torch.load(tmp_path / "ranks2/model.pth", weights_only=True)["net"])
    start = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    load_pretrained(start, srft_inputs[0])
    start = parameters(start.state_dict())
    worst = max((one_rank[k] - two[k]).abs().max().item() for k in two)
    moved = max((one_rank[k] - start[k]).abs().max().item() for k in two)
    # the all-reduce adds the two halves as the accumulation does ((g1 + g2) / 2 = g1 / 2 + g2 / 2
    # exactly in floating point), with one thread per rank: bit-identical
    assert worst == 0.0, (worst, moved)
    assert moved > 1e-4


def test_srun_style_environment_forms_the_process_group(smoke_data: Path, tmp_path: Path, srft_inputs,
                                                        one_rank) -> None:
    """Two processes with only the variables `srun --ntasks 2` sets (no RANK/WORLD_SIZE) train as
    ranks 0 and 1 of one gloo group and end in the same weights as a single process."""
    import os
    import random
    import subprocess

    from conftest import REPO
    from training import tune_command

    args = srft_arguments(smoke_data, tmp_path, srft_inputs)
    job = str(random.randint(1000, 19000))
    processes = []
    for rank in (0, 1):
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
        env.update({"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "SLURM_JOB_ID": job, "SLURM_PROCID": str(rank),
                    "SLURM_LOCALID": str(rank), "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2",
                    "SLURM_STEP_NODELIST": "localhost"})
        processes.append(subprocess.Popen(tune_command(*args, "--out", str(tmp_path / "srun")), env=env, cwd=REPO,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    metrics = json.loads((tmp_path / "srun" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["replica_max_abs_diff"] == 0.0
    two = parameters(torch.load(tmp_path / "srun/model.pth", weights_only=True)["net"])
    assert all(torch.equal(one_rank[k], two[k]) for k in two)
