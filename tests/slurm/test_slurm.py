"""On a real Slurm (scripts/slurm-local.sh up): the smoke DAG through the shipped profile with DDP
tuning as 2 srun tasks and a real MLflow server, and the submitit launcher with preemption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import REPO, SMOKE
from training import run_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def slurm_problem() -> str | None:
    """Why no Slurm job can run here, or None."""
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "no Slurm commands on PATH (start a one-node cluster: sudo scripts/slurm-local.sh up)"
    if states.returncode or not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
        return f"no Slurm node up (sinfo: {states.stdout.strip() or states.stderr.strip()})"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm() -> None:
    problem = slurm_problem()
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"CI runs the Slurm tests: {problem}")
    if problem:
        pytest.skip(problem)


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ended (exit {proc.returncode}) before {what}:\n{proc.stderr.read()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def job_state(job: str) -> str:
    """The job's current state (squeue while it is queued or running, else sacct)."""
    queued = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=30)
    if queued.stdout.strip():
        return queued.stdout.strip()
    done = subprocess.run(["sacct", "-j", job, "-X", "-n", "-o", "State"], capture_output=True, text=True, timeout=30)
    return (done.stdout.split() or ["UNKNOWN"])[-1]


def test_smoke_target_through_the_slurm_profile_with_ddp_tuning_and_an_mlflow_server(
        tmp_path: Path, mlflow_server: str) -> None:
    """The site file alone says where the jobs go (no environment variable): every job runs with its
    account and QoS, training, prior and tracking on its partition and the CPU-only jobs on its CPU
    partition (scripts/slurm-local-setup.sh defines them: the account and QoS are not the defaults), and
    every run reaches its tracking server."""
    site = tmp_path / "site.yaml"
    # every training job as 2 gloo processes, one Slurm task each, started by the rule's srun
    # the shipped RGB tracker instead of pre-training, and retention off: each Slurm job costs scheduling and
    # status polling (~30 s here); pre-training is the tune CLI through the same launcher as the tuning job
    # below, and the local DAG test runs both
    site.write_text(yaml.safe_dump({"resources": {"launcher": "srun", "procs_per_node": 2, "cpus_per_task": 1,
                                                  "mem_gb": 2, "partition": "debug", "cpu_partition": "cpu",
                                                  "account": "siteacct", "qos": "siteqos"},
                                    "mlflow": {"tracking_uri": mlflow_server},
                                    "model": {"pretrained": str(REPO / "checkpoints/embedded-default-rgb.safetensors")},
                                    "evaluate": {"retention": {"dataset": None}}}))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SRTRACK_SLURM_", "SRTRACK_MLFLOW"))},
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "SRTRACK_SLURM_STATUS_WAIT": "1"}
    command = ["timeout", "-k", "30", "900", str(Path(sys.executable).parent / "snakemake"), "-s",
               str(REPO / "Snakefile"), "--profile", str(REPO / "slurm"), "smoke", "--slurm-keep-successful-logs",
               "--configfile", str(SMOKE), str(site)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    logs = "\n".join(p.read_text()[-1500:] for p in tmp_path.glob(".snakemake/slurm_logs/**/*.log"))
    assert result.returncode == 0, result.stderr[-5000:] + logs[-5000:]

    out = tmp_path / "results" / "smoke"
    tuned = json.loads((out / "tune/rgbt/srft/seed0/metrics.json").read_text())
    assert tuned["world_size"] == 2 and tuned["replica_max_abs_diff"] == 0.0
    for tracker in ("srft", "pretrained"):
        assert "profiles" in json.loads((out / f"eval/lasher/{tracker}/seed0/metrics.json").read_text())

    # every job's run reached the server, each from its own Slurm job, under this invocation's run
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("srtrack").experiment_id
    stages = client.search_runs([experiment], "tags.`srtrack.role` = 'stage'")
    assert sorted(r.data.tags["stage"] for r in stages) == [
        "evaluate", "evaluate", "prepare", "prepare", "prepare", "sensitivity", "synth", "synth", "tune"]
    assert {r.info.status for r in stages} == {"FINISHED"}
    jobs = {r.data.tags.get("slurm_job_id") for r in stages}
    assert None not in jobs and len(jobs) == len(stages), "one Slurm job per stage run"
    (parent,) = {r.data.tags["mlflow.parentRunId"] for r in stages}
    dag = client.get_run(parent)
    assert dag.data.tags["srtrack.role"] == "dag" and dag.info.status == "FINISHED"
    assert not (out / "mlflow.db").exists(), "the site's tracking server gets the runs, not the SQLite file"
    # the shipped checkpoint the study starts from: where it comes from and how to rebuild it, on the runs
    tuning = next(r for r in stages if r.data.tags["stage"] == "tune").data.tags
    assert "init_run_id" not in tuning and "rebuild: make rgb-tracker" in tuning["init_source"]
    assert {r.data.tags.get("checkpoint_source") for r in stages if r.data.tags.get("label") == "pretrained"} == {
        tuning["init_source"]}
    # what Slurm's accounting says each job ran with
    ran, limits = {}, {}
    for run in stages:
        record = subprocess.run(["sacct", "-j", run.data.tags["slurm_job_id"], "-X", "-n", "-P", "-o",
                                 "Partition,Account,QOS,ReqMem,Timelimit"], capture_output=True, text=True, timeout=30)
        *where, memory, limit = record.stdout.strip().split("|")
        ran.setdefault(run.data.tags["stage"], set()).add(tuple(where))
        limits[run.data.tags["stage"]] = (memory, limit)
    # the prior's job asked for its estimate (srtrack.slurm.prior_request), not a fixed request
    from srtrack.config import load_config
    from srtrack.slurm import prior_request

    mem_mb, minutes = prior_request(load_config([REPO / "config/config.yaml", SMOKE, site]))
    assert limits["sensitivity"] == (f"{mem_mb}M", f"{minutes // 60:02d}:{minutes % 60:02d}:00"), limits
    assert ran == {"synth": {("cpu", "siteacct", "siteqos")}, "prepare": {("cpu", "siteacct", "siteqos")},
                   "sensitivity": {("debug", "siteacct", "siteqos")}, "tune": {("debug", "siteacct", "siteqos")},
                   "evaluate": {("debug", "siteacct", "siteqos")}}, ran


def test_launch_tunes_with_submitit_ddp_and_resumes_after_a_preemption_signal(
        tmp_path: Path, smoke_data: Path, srft_inputs: tuple[Path, Path]) -> None:
    init, prior = srft_inputs
    schedule = {"epochs": 1, "samples_per_epoch": 400, "global_batch": 8, "checkpoint_every": 2, "log_every": 5}
    out = tmp_path / "run"
    tune_args = [*run_config(smoke_data, tmp_path, schedule), "--modality", "rgbt", "--method", "srft",
                 "--data", str(smoke_data / "results/data/lasher-train"), "--init", str(init), "--prior", str(prior),
                 "--out", str(out)]
    command = [sys.executable, "-m", "srtrack.launch", "--procs-per-node", "2", "--cpus-per-task", "1", "--mem-gb",
               "2", "--timeout-min", "15", "--wait", "--", *tune_args]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_for(lambda: (out / "checkpoints" / "last.pt").is_file(), 300, "the first checkpoint", proc)
        job = json.loads((out / "launch.json").read_text())["job_id"]
        # what Slurm sends ahead of the time limit for submitit jobs; preemption's SIGTERM takes the same path
        subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
        # Slurm holds a requeued batch job back for a while (BeginTime); release it at once
        wait_for(lambda: job_state(job) == "PENDING", 120, "the requeue", proc)
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=30)
        _, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 50 and metrics["world_size"] == 2 and metrics["replica_max_abs_diff"] == 0.0
    log = (out / "train.log").read_text()
    assert "SIGUSR2 received" in log and "resumed from" in log, log[-3000:]
    wait_for(lambda: job_state(job) == "COMPLETED", 60, "the job's end")
    history = subprocess.run(["sacct", "-j", job, "--duplicates", "-X", "-n", "-o", "State"],
                             capture_output=True, text=True, timeout=30).stdout.split()
    assert history == ["REQUEUED", "COMPLETED"], history
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'tune'")
    assert run.info.status == "FINISHED", "the requeued job continued the same MLflow run"


def test_a_training_process_reads_its_jobs_time_left_from_slurm() -> None:
    """What tune's stop before the time limit is computed from, asked inside a real job of 3 minutes."""
    probe = "from srtrack.train.preemption import slurm_time_left; print(slurm_time_left())"
    result = subprocess.run(["srun", "--time=3", "-n1", sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 120 <= float(result.stdout.strip()) <= 180
