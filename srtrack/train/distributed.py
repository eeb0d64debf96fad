"""Who am I in a torch.distributed job, whoever launched it.

Three launchers are recognised, in this order:

* `torchrun` (and submitit's `TorchDistributedEnvironment().export()`, which sets the same
  variables): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT;
* `srun` with one task per GPU: SLURM_PROCID, SLURM_STEP_NUM_TASKS (set inside a job step only, so
  a batch script that runs python directly is not mistaken for rank 0 of N), SLURM_LOCALID; the
  master is the step's first node and the port is derived from the job id;
* anything else: a single process, no process group.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist

from srtrack.errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launcher: str = "single"
    master_addr: str | None = None
    master_port: int | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list (`node[01-04,07],gpu3` -> `node01`), with scontrol when present."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    match = re.match(r"^([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if not match:
        raise ConfigError(f"cannot read the Slurm node list {nodelist!r}")
    prefix, ranges = match[1], match[2]
    return prefix + (ranges.split(",")[0].split("-")[0] if ranges else "")


def detect(environ: Mapping[str, str] | None = None) -> DistEnv:
    """The launcher's view of this process (see the module docstring)."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")), "torchrun",
                       env.get("MASTER_ADDR"), int(env["MASTER_PORT"]) if "MASTER_PORT" in env else None)
    tasks = int(env.get("SLURM_STEP_NUM_TASKS", "1"))
    if tasks > 1 and "SLURM_PROCID" in env:
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or "localhost"
        port = int(env.get("MASTER_PORT", 20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000))
        return DistEnv(int(env["SLURM_PROCID"]), tasks, int(env.get("SLURM_LOCALID", "0")), "srun",
                       env.get("MASTER_ADDR") or first_host(nodelist), port)
    return DistEnv()


def backend_for(requested: str, cuda: bool) -> str:
    """`auto` -> nccl on CUDA, gloo on CPU; nccl without CUDA is a configuration error."""
    if requested == "auto":
        return "nccl" if cuda else "gloo"
    if requested == "nccl" and not cuda:
        raise ConfigError("resources.ddp_backend is nccl but no CUDA device is visible; use gloo or auto")
    return requested


def slurm_threads(environ: Mapping[str, str] | None = None) -> int | None:
    """Intra-op threads for this process inside a Slurm job: the task's CPUs, shared among the
    processes torchrun started in it (TORCHELASTIC_RUN_ID marks real torchrun children; srun and
    submitit give every process its own task). None outside Slurm.

    Without this, every process of a job uses all CPUs it can see (Slurm does not always bind
    tasks), and ranks x threads oversubscribe the node: 2 gloo ranks on 2 cores ran 25x slower.
    """
    env = os.environ if environ is None else environ
    cpus = env.get("SLURM_CPUS_PER_TASK")
    if not cpus:
        return None
    shared_by = int(env.get("LOCAL_WORLD_SIZE", "1")) if "TORCHELASTIC_RUN_ID" in env else 1
    return max(1, int(cpus) // shared_by)


def init(env: DistEnv, requested_backend: str) -> torch.device:
    """Join the process group (when distributed) and return this rank's device; inside a Slurm job
    the thread count follows the CPUs Slurm gave the process (`slurm_threads`)."""
    threads = slurm_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", env.local_rank % torch.cuda.device_count()) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if env.distributed and not dist.is_initialized():
        if env.master_addr:
            os.environ.setdefault("MASTER_ADDR", env.master_addr)
        if env.master_port:
            os.environ.setdefault("MASTER_PORT", str(env.master_port))
        dist.init_process_group(backend_for(requested_backend, cuda), rank=env.rank, world_size=env.world_size)
    return device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, env: DistEnv) -> bool:
    """True when `flag` is set on any rank (all ranks get the same answer)."""
    if not env.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0])
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_ranks(values: dict[str, float], env: DistEnv) -> dict[str, float]:
    """Average scalar statistics over ranks (one all-reduce); identity on one process."""
    if not env.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return {k: float(v) / env.world_size for k, v in zip(keys, tensor.tolist())}


def replica_difference(params: list[torch.Tensor], env: DistEnv) -> float:
    """Largest absolute difference between any rank's parameters and rank 0's (0.0 on one process)."""
    if not env.distributed:
        return 0.0
    worst = torch.zeros(1, dtype=torch.float64, device=params[0].device)
    for p in params:
        reference = p.detach().clone()
        dist.broadcast(reference, src=0)
        worst = torch.maximum(worst, (p.detach() - reference).abs().max().double().reshape(1))
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst.item())
