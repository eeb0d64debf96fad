"""Helpers of the training tests: `--config` arguments for a run on the smoke data, and
`python -m srtrack.tune` as a real process (directly or under torchrun)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import DEFAULT_CONFIG, REPO, SMOKE


def run_config(smoke_data: Path, tmp_path: Path, schedule: dict, **sections: dict) -> list[str]:
    """`--config` arguments for a run: smoke data, MLflow in tmp_path, `schedule` over pretrain and train."""
    overlay = {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
               "pretrain": schedule, "train": schedule, **sections}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return ["--config", str(DEFAULT_CONFIG), "--config", str(SMOKE), "--config", str(smoke_data / "base.yaml"),
            "--config", str(path)]


def tune_command(*args: str, ranks: int = 1) -> list[str]:
    """The tune CLI, directly or under torchrun with `ranks` gloo processes."""
    if ranks == 1:
        return [sys.executable, "-m", "srtrack.tune", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
            "-m", "srtrack.tune", *args]


def run_tune(*args: str, ranks: int = 1, threads: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the CLI with `threads` intra-op threads per rank (results depend on it in the last bits)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    return subprocess.run(tune_command(*args, ranks=ranks), capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=REPO)
