"""How a training job maps onto a cluster: nodes, tasks, GPUs, CPUs, memory and the launch command.

One object, built from the `resources` config section, feeds the three places that need it: the
Snakemake rules' `threads`/`resources` (which snakemake-executor-plugin-slurm turns into sbatch
options), the command line of those rules, and the submitit launcher (`python -m srtrack.launch`).

Two launch routes, as the plugin can express them:

* one node: ONE Slurm task that runs `torch.distributed.run` (torchrun) with one process per GPU
  (`--nproc-per-node`). The sbatch request is `--nodes=1 --gres=gpu:G --cpus-per-task=<all>` with no
  task count, so Slurm starts the script once. (The plugin's trap: giving `tasks` together with a
  GPU request becomes `--ntasks-per-gpu=<tasks>`, and the script is started once per GPU, each
  copy spawning its own torchrun. We never set `tasks` on a GPU job.)
* several nodes: one Slurm task per process, started by `srun` inside the allocation
  (`--nodes=N --ntasks-per-node=G --gres=gpu:G`); srtrack.train.distributed reads SLURM_PROCID,
  SLURM_STEP_NUM_TASKS and SLURM_LOCALID. The plugin runs such a rule ("mpi" resource) in the batch
  script itself instead of wrapping it in `srun -n1`, so the rule's own `srun` owns the tasks.

`--gres=gpu:G` rather than `--gpus=N`: gres counts per node, so the same request is right on one
node and on many, and job steps inherit the job's GRES.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

from srtrack.config import Config
from srtrack.errors import ConfigError

PARTITION_ENV = "SRTRACK_SLURM_PARTITION"
ACCOUNT_ENV = "SRTRACK_SLURM_ACCOUNT"
QOS_ENV = "SRTRACK_SLURM_QOS"


@dataclass(frozen=True)
class TrainingJob:
    """The cluster shape of one training run (pre-training or tuning)."""

    nodes: int
    gpus_per_node: int
    procs_per_node: int
    cpus_per_proc: int
    launcher: str  # "torchrun" or "srun"
    mem_mb_per_node: int
    runtime_min: int
    gres_type: str | None = None  # the cluster's GPU type name (gpu:<type>:<n>)
    node_mem_mb: int | None = None  # what one node has: retries grow memory up to it

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node

    @property
    def tasks_per_node(self) -> int:
        """Slurm tasks per node: one (torchrun spawns the processes) or one per process (srun)."""
        return self.procs_per_node if self.launcher == "srun" else 1

    @property
    def cpus_per_task(self) -> int:
        """CPUs of one Slurm task: all processes' CPUs under torchrun, one process's under srun."""
        return self.cpus_per_proc * (self.procs_per_node if self.launcher == "torchrun" else 1)

    def python(self) -> str:
        """The command that starts `-m srtrack.tune ...` once per training process."""
        if self.world_size == 1:
            return "python"
        if self.launcher == "torchrun":
            return f"python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node={self.procs_per_node}"
        # explicit: snakemake's jobstep clears the SLURM_* variables srun would take the shape from
        gres = f" --gres={self.gres}" if self.gres else ""
        return (f"srun --nodes={self.nodes} --ntasks-per-node={self.procs_per_node} --cpus-per-task={self.cpus_per_proc}"
                f"{gres} --kill-on-bad-exit=1 python")

    @property
    def gres(self) -> str | None:
        """The GPU request per node: `gpu:<n>`, or `gpu:<type>:<n>` with `resources.gres_type`."""
        return gres(self.gpus_per_node, self.gres_type)

    def mem_mb(self, attempt: int = 1) -> int:
        """Memory per node; grows linearly with the attempt, so `--retries` survives an OOM kill, up to
        what a node has (`resources.node_mem_gb`): a request no node can meet would wait forever."""
        return grown(self.mem_mb_per_node, attempt, self.node_mem_mb)

    def snakemake_resources(self) -> dict[str, Any]:
        """Rule resources for snakemake-executor-plugin-slurm (None leaves a key out)."""
        srun = self.launcher == "srun" and self.world_size > 1
        per_node = srun and self.tasks_per_node > 1
        return {
            "nodes": self.nodes,
            "gres": self.gres,
            # the plugin runs an "mpi" rule in the batch script; our command's srun starts the tasks
            "mpi": "srun" if srun else None,
            # the plugin refuses tasks_per_node=1 for such jobs; then the total count says the same
            "tasks_per_node": self.tasks_per_node if per_node else None,
            "tasks": self.world_size if srun and not per_node else None,
        }


def training_job(cfg: Config) -> TrainingJob:
    """The `resources` section as a TrainingJob; impossible shapes are configuration errors."""
    res = cfg.resources
    procs = res.procs_per_node or max(res.gpus_per_node, 1)
    if res.gpus_per_node and procs != res.gpus_per_node:
        raise ConfigError(f"resources.procs_per_node is {procs} but resources.gpus_per_node is "
                          f"{res.gpus_per_node}: one training process per GPU")
    launcher = res.launcher if res.launcher != "auto" else ("torchrun" if res.nodes == 1 else "srun")
    if launcher == "torchrun" and res.nodes > 1:
        raise ConfigError(f"resources.launcher is torchrun but resources.nodes is {res.nodes}: several nodes "
                          "are launched with srun (launcher: srun or auto)")
    return TrainingJob(nodes=res.nodes, gpus_per_node=res.gpus_per_node, procs_per_node=procs,
                       cpus_per_proc=res.cpus_per_task, launcher=launcher, mem_mb_per_node=res.mem_gb * 1024,
                       runtime_min=res.runtime_min, gres_type=res.gres_type,
                       node_mem_mb=node_mem_mb(cfg))


def node_mem_mb(cfg: Config) -> int | None:
    """One node's memory in MB (`resources.node_mem_gb`), None where the site does not say."""
    return cfg.resources.node_mem_gb * 1024 if cfg.resources.node_mem_gb else None


def gres(gpus: int, gres_type: str | None) -> str | None:
    """`gpu:<n>` or, on a cluster that types its GPUs, `gpu:<type>:<n>`; None without GPUs."""
    if not gpus:
        return None
    return f"gpu:{gres_type}:{gpus}" if gres_type else f"gpu:{gpus}"


def capped_runtime(cfg: Config, minutes: int) -> int:
    """A job's time limit, at most the partition's (`resources.max_runtime_min`)."""
    cap = cfg.resources.max_runtime_min
    return min(minutes, cap) if cap else minutes


def partition_and_account(cfg: Config) -> tuple[str | None, str | None]:
    """The partition of training jobs and the account: $SRTRACK_SLURM_PARTITION / _ACCOUNT where set
    (a one-off override), else resources.partition / account, else the cluster's defaults (None)."""
    return (os.environ.get(PARTITION_ENV) or cfg.resources.partition or None,
            os.environ.get(ACCOUNT_ENV) or cfg.resources.account or None)


def site_resources(cfg: Config, *, gpu_class: bool) -> dict[str, Any]:
    """The site's Slurm settings of one rule, as snakemake-executor-plugin-slurm resources: the
    partition (training, prior and tracking jobs: `resources.partition`; the others, which never use
    a GPU: `resources.cpu_partition`, else the same), the account, the QoS and, for GPU-class jobs, the
    node constraint. $SRTRACK_SLURM_PARTITION / _ACCOUNT / _QOS override the site file."""
    res = cfg.resources
    partition, account = partition_and_account(cfg)
    if not gpu_class:
        partition = os.environ.get(PARTITION_ENV) or res.cpu_partition or partition
    chosen = {"slurm_partition": partition, "slurm_account": account, "qos": os.environ.get(QOS_ENV) or res.qos,
              "constraint": res.constraint if gpu_class else None}
    return {k: v for k, v in chosen.items() if v}


# what the jobs that are neither training, tracking nor the prior ask for: (memory MB, time limit in minutes)
STAGE_REQUESTS = {"synth": (4000, 30), "prepare": (2000, 30), "compare": (2000, 10), "report": (2000, 10)}
TRACKING_MINUTES_PER_SPLIT = 60
# the prior's request over its estimate (srtrack.costs): memory x 1.25, time x 2 + 10 minutes
PRIOR_MEMORY_MARGIN, PRIOR_TIME_MARGIN, PRIOR_EXTRA_MIN = 1.25, 2.0, 10
# the prior's request in local runs and dry runs, where no scheduler reads it (MB, minutes)
PRIOR_PLACEHOLDER = (4000, 60)


def prior_request(cfg: Config) -> tuple[int, int]:
    """(memory MB, minutes) of the prior's job: its estimate for the RGB network at the study's crops,
    `sensitivity.chunk` and `.samples` on the job's CPUs (srtrack.costs), with a margin. Imports torch:
    called when Snakemake asks for the job's resources, not when the Snakefile is read."""
    from srtrack.costs import network_cost, prior_memory_gb, prior_seconds
    from srtrack.models.spec import spec_from_config
    from srtrack.study import rgb_counterpart

    cost = network_cost(spec_from_config(cfg.model, rgb_counterpart(cfg.model.name)))
    memory_mb = math.ceil(prior_memory_gb(cost, cfg.sensitivity.chunk) * PRIOR_MEMORY_MARGIN * 1024)
    seconds = prior_seconds(cost, cfg.sensitivity.samples, cfg.resources.cpus_per_task)
    return memory_mb, math.ceil(seconds * PRIOR_TIME_MARGIN / 60) + PRIOR_EXTRA_MIN


def rule_resources(cfg: Config, stage: str, splits: int = 1,
                   estimate: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """Every Slurm resource of one rule of the DAG, in one place (the rules and `python -m srtrack.plan`
    read it): the shape and memory of training jobs (`training_job`), one GPU per tracking process for
    `evaluate` (an hour per split) and `retention`, the prior's estimate (`prior_request`; where
    `estimate()` is false, PRIOR_PLACEHOLDER), STAGE_REQUESTS for the rest; the site's partition,
    account, QoS and constraint (`site_resources`); every time limit capped at the partition's."""
    if stage in ("pretrain", "tune"):
        job = training_job(cfg)
        return {**job.snakemake_resources(), **site_resources(cfg, gpu_class=True),
                "mem_mb": lambda wildcards, attempt: job.mem_mb(attempt), "runtime": job.runtime_min}
    if stage in ("evaluate", "retention"):
        minutes = TRACKING_MINUTES_PER_SPLIT * (splits if stage == "evaluate" else 1)
        return {**evaluation_resources(cfg), **site_resources(cfg, gpu_class=True),
                "runtime": capped_runtime(cfg, minutes)}
    if stage == "sensitivity":
        # the estimate imports torch (~7 s): asked for only where it is used, when jobs go to a cluster
        def request() -> tuple[int, int]:
            return prior_request(cfg) if estimate() else PRIOR_PLACEHOLDER

        return {**site_resources(cfg, gpu_class=True),
                "mem_mb": lambda wildcards, attempt: grown(request()[0], attempt, node_mem_mb(cfg)),
                "runtime": lambda wildcards: capped_runtime(cfg, request()[1])}
    mem_mb, minutes = STAGE_REQUESTS[stage]
    return {**site_resources(cfg, gpu_class=False), "mem_mb": mem_mb, "runtime": capped_runtime(cfg, minutes)}


def grown(mem_mb: int, attempt: int, cap_mb: int | None) -> int:
    """`mem_mb` times the attempt (a retry after an out-of-memory kill asks for more), at most `cap_mb`."""
    return min(mem_mb * attempt, cap_mb) if cap_mb else mem_mb * attempt


def evaluation_resources(cfg: Config) -> dict[str, Any]:
    """Rule resources of a tracking job: one GPU per tracking process (evaluate.workers, at most a node's
    GPUs) and the node memory training asks for; on a CPU-only config, 4 GB and no GPU."""
    gpus = min(cfg.evaluate.workers, cfg.resources.gpus_per_node)
    if not gpus:
        return {"mem_mb": 4000}
    return {"gres": gres(gpus, cfg.resources.gres_type), "mem_mb": cfg.resources.mem_gb * 1024}
