"""Training checkpoints: everything a run needs to continue bit for bit, written atomically.

A checkpoint holds the model (unwrapped from DDP), optimizer, scheduler, regularizer state, the
global step, the run key (what must match to resume) and the RNG states of torch (CPU and CUDA),
numpy and Python. The data needs no state of its own: sample i of epoch e is drawn from
(seed, e, i) (srtrack/datasets/loader.py), so the step fixes the data. Everything is stored as
tensors and plain containers so that `torch.load(..., weights_only=True)` reads it.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srtrack.errors import CheckpointError, ResumeError
from srtrack.io import write_bytes_atomic


def capture_rng() -> dict[str, Any]:
    """The RNG states of Python, numpy (legacy global) and torch as weights-only-loadable values."""
    py_version, py_state, py_gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [py_version, list(py_state), py_gauss], "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                       "has_gauss": has_gauss, "cached": cached}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialise to memory, then write atomically: a kill at any moment leaves the old file or the new one."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, run_key: str) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` for the same run key.

    Raises:
        CheckpointError: the file cannot be read.
        ResumeError: it belongs to a run with other settings.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: cannot read the training checkpoint ({type(exc).__name__}: {exc})") from exc
    if state.get("run_key") != run_key:
        raise ResumeError(f"{path} was written by a run with other settings (run key {state.get('run_key')!r}, this run "
                          f"{run_key!r}); use another --out folder or pass --restart to discard it")
    return state
