"""The sbatch request and the launch command that the shipped Slurm profile, the tune rule and
snakemake-executor-plugin-slurm produce for multi-GPU shapes this machine does not have: the real
snakemake and plugin run, and `sbatch` on PATH is a recorder that refuses the job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from srtrack.config import load_config
from srtrack.errors import ConfigError
from srtrack.slurm import training_job
from srtrack.train.distributed import slurm_threads

TARGET = "results/tune/rgbt/srft/seed0/model.pth"
RECORDER = """#!/bin/sh
{{ echo "=== sbatch"; printf '%s\\n' "$@"; }} >> "{out}"
echo "sbatch: error: recorder only" >&2
exit 1
"""
# the plugin checks a given account with sacctmgr: the site's account is this user's
SACCTMGR = """#!/bin/sh
echo siteacct
"""


def existing_inputs(tmp_path: Path) -> dict:
    """Everything the tuning job needs, already there, so that it is the only job to run: the benchmarks
    (which the pre-flight checks) and a checkpoint whose header names a tracker's tensors."""
    import torch

    import layouts

    roots = {name: tmp_path / "data" / name for name in ("got10k", "lasher")}
    files = [f"results/data/{d}-train/{f}" for d in roots for f in ("index.json", "sequences.csv", "stats.png")]
    files += [f"results/prior/got10k/{f}" for f in ("prior.safetensors", "summary.json", "fisher_heatmap.png")]
    layouts.lasher(roots["lasher"], "s1", 4)
    layouts.got10k(roots["got10k"], "s1", 4)
    layouts.got10k(roots["got10k"], "v1", 4, folder="val")
    torch.save({"net": {"backbone.patch_embed.proj.weight": torch.zeros(1)}}, tmp_path / "weights.pth")
    for name in files:  # newer than the checkpoint they come from
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    return {"datasets": {name: {"root": str(root)} for name, root in roots.items()},
            "model": {"pretrained": str(tmp_path / "weights.pth")},
            "study": {"output_dir": "results", "methods": ["srft"], "ablations": {"rgbt": []}}}


def profile_run(tmp_path: Path, config: list[Path], *args: str, partition_env: bool = True,
                mlflow_uri: str = "http://127.0.0.1:9") -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    fake = tmp_path / "fake-bin"
    fake.mkdir(exist_ok=True)
    (fake / "sbatch").write_text(RECORDER.format(out=tmp_path / "sbatch.args"))
    (fake / "sacctmgr").write_text(SACCTMGR)
    for tool in ("sbatch", "sacctmgr"):
        (fake / tool).chmod(0o755)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SRTRACK_SLURM_")},
           "PATH": f"{fake}:{bin_dir}:{os.environ['PATH']}", "SRTRACK_SLURM_STATUS_WAIT": "1",
           # jobs on a cluster need a tracking server (the pre-flight refuses a SQLite file); nothing here
           # reaches it: the recorder refuses every job, and a given parent run stands for the DAG's
           "SRTRACK_MLFLOW_URI": mlflow_uri, "SRTRACK_PARENT_RUN_ID": "recorder",
           **({"SRTRACK_SLURM_PARTITION": "gpu"} if partition_env else {})}
    command = ["timeout", "-k", "10", "120", str(bin_dir / "snakemake"), "-s", str(REPO / "Snakefile"), "--profile",
               str(REPO / "slurm"), TARGET, "--rerun-triggers", "mtime", *args, "--configfile", *map(str, config)]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)


SITE = {"partition": "gpu-site", "cpu_partition": "cpu", "account": "siteacct", "qos": "siteqos",
        "constraint": "a100", "gres_type": "a100", "node_mem_gb": 100}


@pytest.mark.slow
@pytest.mark.parametrize(("shape", "wanted", "unwanted", "launch"), [
    # one node, 4 GPUs: ONE task that holds all GPUs and CPUs and runs torchrun with 4 processes
    ({"nodes": 1, "gpus_per_node": 4, "cpus_per_task": 8, "mem_gb": 64},
     ["--nodes=1", "--gres=gpu:4", "--cpus-per-task=32", "-p", "gpu", "-t", "60"],
     ["--ntasks-per-gpu", "--ntasks-per-node", "--gpus"],
     "python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node=4 -m srtrack.tune"),
    # two nodes, 8 GPUs: 4 tasks per node, one per GPU, started by the rule's own srun
    ({"nodes": 2, "gpus_per_node": 4, "cpus_per_task": 8, "mem_gb": 64},
     ["--nodes=2", "--ntasks-per-node=4", "--gres=gpu:4", "--cpus-per-task=8"],
     ["--ntasks-per-gpu", "--gpus", "--ntasks=1"],
     "srun --nodes=2 --ntasks-per-node=4 --cpus-per-task=8 --gres=gpu:4 --kill-on-bad-exit=1 python -m srtrack.tune"),
    # the same job from a site file alone: its partition, account, QoS, node constraint and GPU type
    ({"nodes": 1, "gpus_per_node": 4, "cpus_per_task": 8, "mem_gb": 64, **SITE},
     ["--nodes=1", "--gres=gpu:a100:4", "-p", "gpu-site", "-A", "siteacct", "--qos=siteqos", "-C", "a100"],
     ["--ntasks-per-gpu", "--gpus"],
     "python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node=4 -m srtrack.tune"),
])
def test_profile_sbatch_options_for_multi_gpu_tuning(tmp_path: Path, tmp_config, shape, wanted, unwanted,
                                                     launch) -> None:
    config = tmp_config({**existing_inputs(tmp_path), "resources": shape})
    from_site = "partition" in shape
    result = profile_run(tmp_path, config, partition_env=not from_site)
    assert result.returncode != 0
    jobs = result.stdout + result.stderr  # the tuning job alone, started by the launch command
    assert "rule tune:" in jobs and "rule prepare:" not in jobs and "rule sensitivity:" not in jobs, jobs[-3000:]
    assert launch in jobs, jobs[-3000:]
    calls = [call.strip().splitlines() for call in (tmp_path / "sbatch.args").read_text().split("=== sbatch")[1:]]
    # the profile's `retries: 2`: three submissions, memory per node growing with the attempt (up to a node's)
    wanted_memory = ["65536", "102400", "102400"] if from_site else ["65536", "131072", "196608"]
    assert [args[args.index("--mem") + 1] for args in calls] == wanted_memory
    for args in calls:
        options = [a for a in args if not a.startswith("--wrap")]
        for option in wanted:
            assert option in options, (option, options)
        for option in unwanted:
            assert not any(o.startswith(option) for o in options), (option, options)
        wrap = next(a for a in args if a.startswith("--wrap="))
        assert "--executor slurm-jobstep" in wrap and "--target-jobs" in wrap


@pytest.mark.slow
def test_jobs_on_a_cluster_are_refused_a_sqlite_store(tmp_path: Path, tmp_config) -> None:
    """Jobs on several nodes writing one SQLite file lock each other out: stopped before any submission."""
    config = tmp_config(existing_inputs(tmp_path))
    result = profile_run(tmp_path, config, mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "mlflow.tracking_uri is sqlite:///" in result.stderr and "set it in the site file to a tracking server" in (
        result.stderr)
    assert not (tmp_path / "sbatch.args").exists()


def test_training_job_shapes_and_refusals(tmp_config) -> None:
    single = training_job(load_config(tmp_config()))
    assert (single.world_size, single.python(), single.mem_mb(1), single.mem_mb(3)) == (1, "python", 8192, 3 * 8192)
    assert single.snakemake_resources() == {"nodes": 1, "gres": None, "mpi": None, "tasks_per_node": None,
                                            "tasks": None}
    cpu_ddp = training_job(load_config(tmp_config({"resources": {"launcher": "srun", "procs_per_node": 2}})))
    assert cpu_ddp.snakemake_resources() == {"nodes": 1, "gres": None, "mpi": "srun", "tasks_per_node": 2,
                                             "tasks": None}
    one_gpu_per_node = training_job(load_config(tmp_config({"resources": {"nodes": 3, "gpus_per_node": 1}})))
    assert one_gpu_per_node.snakemake_resources()["tasks"] == 3  # the plugin refuses tasks_per_node=1
    with pytest.raises(ConfigError, match="one training process per GPU"):
        training_job(load_config(tmp_config({"resources": {"gpus_per_node": 2, "procs_per_node": 3}})))
    with pytest.raises(ConfigError, match="several nodes are launched with srun"):
        training_job(load_config(tmp_config({"resources": {"nodes": 2, "launcher": "torchrun"}})))


def test_threads_follow_the_cpus_slurm_gave_each_process() -> None:
    assert slurm_threads({}) is None
    assert slurm_threads({"SLURM_CPUS_PER_TASK": "4"}) == 4  # srun / submitit: a task per process
    torchrun = {"SLURM_CPUS_PER_TASK": "32", "TORCHELASTIC_RUN_ID": "x", "LOCAL_WORLD_SIZE": "4"}
    assert slurm_threads(torchrun) == 8
    assert slurm_threads({**torchrun, "SLURM_CPUS_PER_TASK": "2"}) == 1


def test_launch_checks_its_arguments_before_anything_is_queued(tmp_path: Path, tmp_config, capsys) -> None:
    from srtrack import launch

    with pytest.raises(SystemExit, match="give the tune arguments after `--`"):
        launch.main(["--nodes", "2"])
    config = tmp_config({"resources": {"nodes": 2, "launcher": "torchrun"}})
    out = tmp_path / "run"
    tune_args = ["--config", str(config[0]), "--config", str(config[1]), "--modality", "rgbt", "--out", str(out)]
    assert launch.main(["--wait", "--", *tune_args]) == 2
    assert "several nodes are launched with srun" in capsys.readouterr().err
    assert launch.main(["--gpus-per-node", "2", "--procs-per-node", "3", "--", *tune_args[:4], "--set",
                        "resources.launcher=auto", *tune_args[4:]]) == 1
    assert "one training process per GPU" in capsys.readouterr().err
    assert not (out / "launch.json").exists()


@pytest.mark.slow
def test_profile_is_found_by_name_from_the_repository_root(tmp_path: Path, tmp_config) -> None:
    """`snakemake --profile slurm` literally, as the README says (a dry run: no jobs, no MLflow)."""
    config = tmp_config({**existing_inputs(tmp_path), "study": {"output_dir": str(tmp_path / "results"),
                                                                "methods": ["srft"], "ablations": {"rgbt": []}}})
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SRTRACK_SLURM_PARTITION": "gpu-long",
           "SRTRACK_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    result = subprocess.run([str(bin_dir / "snakemake"), "--profile", "slurm", "-n", "--configfile", *map(str, config)],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "slurm_partition=gpu-long" in result.stdout + result.stderr
