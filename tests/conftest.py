"""Shared fixtures: seeds, a config layered over the embedded default, benchmark fixture roots."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from srtrack.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SMOKE = REPO / "config" / "smoke.yaml"

random.seed(0)
np.random.seed(0)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may write to a user's MLflow server or inherit a parent run or Slurm job."""
    for var in ("MLFLOW_TRACKING_URI", "SRTRACK_PARENT_RUN_ID", "SLURM_JOB_ID", "RANK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tmp_config(tmp_path: Path) -> Callable[..., list[Path]]:
    """Write an overlay over config/config.yaml; returns the [default, overlay] file list.

    The overlay points MLflow at a SQLite file in tmp_path, unsets every dataset root (the default
    points some at the synthetic benchmarks), selects every sequence on disk for both splits, and
    deep-merges `extra` (a nested dict) on top.
    """

    def make(extra: dict | None = None, name: str = "overlay.yaml") -> list[Path]:
        overlay: dict = {
            "study": {"name": "pytest", "output_dir": str(tmp_path / "results")},
            "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "pytest"},
            "datasets": {b: {"root": None, "train_list": "all", "test_list": "all"} for b in
                         ("got10k", "lasher", "rgbt234", "gtot", "depthtrack", "vot_rgbd22", "visevent", "coesot",
                          "fe108")},
        }
        from srtrack.config import deep_merge

        overlay = deep_merge(overlay, extra or {})
        path = tmp_path / name
        path.write_text(yaml.safe_dump(overlay))
        return [DEFAULT_CONFIG, path]

    return make


@pytest.fixture
def dataset_config(tmp_path: Path, tmp_config: Callable[..., list[Path]]) -> Callable[[str, Path], Config]:
    """A typed config whose `datasets.<name>.root` is the given folder."""

    def make(name: str, root: Path, **options: object) -> Config:
        return load_config(tmp_config({"datasets": {name: {"root": str(root), **options}}}))

    return make


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with `base.yaml` (absolute paths) and prepared got10k/lasher train splits (smoke sizes)."""
    from srtrack.synth.smoke import build_smoke_data

    root = tmp_path_factory.mktemp("smoke-data")
    build_smoke_data(root)
    return root


@pytest.fixture(scope="session")
def srft_inputs(smoke_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 'pretrained' RGB tracker (random ostrack_tiny weights, OSTrack layout) and its prior, computed
    by the sensitivity CLI on the smoke RGB data."""
    import torch

    from srtrack import sensitivity
    from srtrack.models import create_tracker

    tmp = tmp_path_factory.mktemp("srft-inputs")
    torch.manual_seed(1)
    init = tmp / "rgb.pth"
    torch.save({"net": create_tracker("ostrack_tiny", template_size=64, search_size=128).state_dict()}, init)
    overlay = tmp / "prior.yaml"
    overlay.write_text(yaml.safe_dump({"mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}"},
                                       "sensitivity": {"samples": 8, "chunk": 8}}))
    config = ["--config", str(DEFAULT_CONFIG), "--config", str(SMOKE), "--config", str(smoke_data / "base.yaml"),
              "--config", str(overlay)]
    assert sensitivity.main([*config, "--data", str(smoke_data / "results/data/got10k-train"),
                             "--checkpoint", str(init), "--out", str(tmp / "prior")]) == 0
    return init, tmp / "prior" / "prior.safetensors"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlflow_server(tmp_path: Path, port: int | None = None, **extra_env: str):
    """scripts/mlflow-server.sh on a free port, or `port` (a restart), with its store in `tmp_path`
    (SQLite backend, proxied artifacts); (process, url, log)."""
    port = port or _free_port()
    log = open(tmp_path / "server.log", "a")
    env = {**os.environ, "PYTHON": sys.executable, "SRTRACK_MLFLOW_BACKEND": f"sqlite:///{tmp_path / 'server.db'}",
           "SRTRACK_MLFLOW_ARTIFACTS": str(tmp_path / "server-artifacts"), "SRTRACK_MLFLOW_WORKERS": "1",
           "SRTRACK_MLFLOW_AUTH_DB": f"sqlite:///{tmp_path / 'auth.db'}", **extra_env}
    proc = subprocess.Popen(["bash", str(REPO / "scripts" / "mlflow-server.sh"), str(port)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=tmp_path)
    return proc, f"http://127.0.0.1:{port}", log


class MlflowServer:
    """A real `mlflow server` started by scripts/mlflow-server.sh (SQLite backend, proxied artifacts),
    which a test can stop and start again on the same port and store (an outage)."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.proc, self.url, self.log = start_mlflow_server(tmp_path)
        wait_for_server(self.proc, self.url, tmp_path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=30)
        self.log.close()

    def start(self) -> None:
        self.proc, _, self.log = start_mlflow_server(self.tmp_path, int(self.url.rsplit(":", 1)[1]))
        wait_for_server(self.proc, self.url, self.tmp_path)


@pytest.fixture
def restartable_mlflow_server(tmp_path: Path):
    server = MlflowServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def mlflow_server(restartable_mlflow_server: MlflowServer) -> str:
    """The URL of a real `mlflow server` (MlflowServer)."""
    return restartable_mlflow_server.url


def wait_for_server(proc, url: str, tmp_path: Path) -> None:
    """Until the server answers /health (the process group is killed if it never does)."""
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, 9)
            pytest.fail(f"mlflow server did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str, read_only: bool = False):
    """A real small (or read-only) filesystem at `path` for the duration: a full disk or a read-only
    output folder as a cluster shows them. Needs root (CI runs as root: there a failure, else a skip)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if result.returncode:
        message = f"cannot mount a tmpfs for a filesystem fault (needs root): {result.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
