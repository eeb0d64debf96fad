"""python -m srtrack.launch: submit one tuning run to Slurm with submitit, outside Snakemake.

    python -m srtrack.launch [shape options] [--wait] -- <python -m srtrack.tune arguments>

The tune arguments are checked here first (a bad config fails before anything is queued). The job
shape defaults to the config's `resources` section (srtrack/slurm.py); the options override it:
nodes x processes per node, one Slurm task per process (submitit starts the callable in each task and
torch.distributed reads submitit's environment), GPUs per node, CPUs per task, memory per node,
time limit.

Preemption and the time limit: Slurm sends SIGTERM on preemption, and submitit asks for SIGUSR2
`--signal-delay-s` before the time limit. `tune` treats both as a stop request: it finishes the
step, writes `checkpoints/last.pt`, and rank 0 requeues the job (`scontrol requeue`); the requeued
job runs the same command, which resumes from the checkpoint into the same MLflow run. A signal
that arrives before tune is listening takes submitit's own path (checkpoint() below requeues the
same command), so no signal loses the job.

Writes `<--out>/launch.json` (job id, log files, shape). With `--wait`, waits for the end and exits
0 when tuning finished, 1 otherwise (the last lines of the job's log are printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from srtrack.cli_common import EXIT_DATA_ERROR, config_from_args, parse, run_main
from srtrack.errors import SrtrackError
from srtrack.io import write_text_atomic
from srtrack.slurm import TrainingJob, site_resources, training_job

LAUNCH_FILE = "launch.json"
PATH_OPTIONS = {"--config", "--data", "--init", "--prior", "--out"}


class TuneJob:
    """The submitted callable: `python -m srtrack.tune <argv>` inside each Slurm task."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv

    def __call__(self) -> dict[str, Any]:
        import submitit

        from srtrack import tune
        from srtrack.train.preemption import EXIT_PREEMPTED

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        code = tune.main([*self.argv, "--requeue"])
        if code == EXIT_PREEMPTED:
            # the job is requeued already; leave without a result so submitit waits for the rerun
            raise SystemExit(code)
        if code:
            raise RuntimeError(f"python -m srtrack.tune exited with {code}; see the job's log")
        if env.global_rank:
            return {}
        out = Path(self.argv[self.argv.index("--out") + 1])
        return json.loads((out / "metrics.json").read_text(encoding="utf-8"))

    def checkpoint(self) -> Any:
        """submitit's hook for a signal that arrives before tune listens: rerun the same command."""
        import submitit

        return submitit.helpers.DelayedSubmission(TuneJob(self.argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.launch", description=__doc__.split("\n")[0],
                                     usage="%(prog)s [options] -- <python -m srtrack.tune arguments>",
                                     epilog="The tune arguments (after --) include --config FILE (repeatable), "
                                            "--modality, --method, --data, --init, --prior and --out; see "
                                            "python -m srtrack.tune --help.")
    parser.add_argument("--nodes", type=int, default=None, help="default: resources.nodes")
    parser.add_argument("--gpus-per-node", type=int, default=None, help="default: resources.gpus_per_node")
    parser.add_argument("--procs-per-node", type=int, default=None,
                        help="training processes (Slurm tasks) per node; default: one per GPU")
    parser.add_argument("--cpus-per-task", type=int, default=None, help="default: resources.cpus_per_task")
    parser.add_argument("--mem-gb", type=int, default=None, help="per node; default: resources.mem_gb")
    parser.add_argument("--timeout-min", type=int, default=None, help="time limit; default: resources.runtime_min")
    parser.add_argument("--signal-delay-s", type=int, default=90,
                        help="SIGUSR2 this long before the time limit (checkpoint and requeue)")
    parser.add_argument("--partition", default=None, help="default: $SRTRACK_SLURM_PARTITION or resources.partition")
    parser.add_argument("--account", default=None, help="default: $SRTRACK_SLURM_ACCOUNT or resources.account")
    parser.add_argument("--wait", action="store_true", help="wait for the job and exit with its outcome")
    return parser


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Launcher options before `--`, tune arguments after it."""
    argv = list(argv)
    if "--" not in argv and {"-h", "--help"} & set(argv):
        return argv, []
    if "--" not in argv:
        raise SystemExit("python -m srtrack.launch: give the tune arguments after `--` "
                         "(e.g. -- --config config/config.yaml --modality rgbt --out runs/x)")
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def job_shape(args: argparse.Namespace, job: TrainingJob) -> TrainingJob:
    """The config's shape with the command-line overrides; one task per process (submitit's model)."""
    gpus = job.gpus_per_node if args.gpus_per_node is None else args.gpus_per_node
    procs = args.procs_per_node or (gpus if args.gpus_per_node is not None and gpus else job.procs_per_node)
    return dataclasses.replace(
        job, nodes=args.nodes or job.nodes, gpus_per_node=gpus, procs_per_node=procs, launcher="srun",
        cpus_per_proc=args.cpus_per_task or job.cpus_per_proc,
        mem_mb_per_node=args.mem_gb * 1024 if args.mem_gb else job.mem_mb_per_node,
        runtime_min=args.timeout_min or job.runtime_min)


def main(argv: Sequence[str] | None = None) -> int:
    own, tune_argv = split_argv(sys.argv[1:] if argv is None else argv)
    args = parse(build_parser(), own)
    return run_main(lambda: launch(args, tune_argv))


def launch(args: argparse.Namespace, tune_argv: list[str]) -> int:
    import submitit

    from srtrack import tune

    tune_args = tune.build_parser().parse_args(tune_argv)  # exits 2 with argparse's message when wrong
    cfg = config_from_args(tune_args)
    shape = job_shape(args, training_job(cfg))
    if shape.gpus_per_node and shape.procs_per_node != shape.gpus_per_node:
        raise SrtrackError(f"{shape.procs_per_node} processes per node on {shape.gpus_per_node} GPUs: "
                           "one training process per GPU")
    site = site_resources(cfg, gpu_class=True)
    out = tune_args.out.resolve()
    executor = submitit.AutoExecutor(folder=out / "slurm" / "%j", cluster="slurm")
    params: dict[str, Any] = dict(
        name=f"srtrack-tune-{tune_args.modality}-{tune_args.method or cfg.method.name}",
        nodes=shape.nodes, tasks_per_node=shape.procs_per_node, cpus_per_task=shape.cpus_per_proc,
        mem_gb=shape.mem_mb_per_node // 1024, timeout_min=shape.runtime_min,
        slurm_signal_delay_s=args.signal_delay_s)
    if shape.gres_type and shape.gpus_per_node:
        params["slurm_gres"] = shape.gres
    elif shape.gpus_per_node:
        params["gpus_per_node"] = shape.gpus_per_node
    for key, value in (("slurm_partition", args.partition or site.get("slurm_partition")),
                       ("slurm_account", args.account or site.get("slurm_account")),
                       ("slurm_qos", site.get("qos")), ("slurm_constraint", site.get("constraint"))):
        if value:
            params[key] = value
    executor.update_parameters(**params)
    # the job may start in another directory: paths made absolute
    absolute = [str(Path(a).resolve()) if i and tune_argv[i - 1] in PATH_OPTIONS else a
                for i, a in enumerate(tune_argv)]
    job = executor.submit(TuneJob(absolute))
    record = {"job_id": job.job_id, "stdout": str(job.paths.stdout).replace("%t", "0"),
              "stderr": str(job.paths.stderr).replace("%t", "0"), "tune_argv": absolute,
              "shape": dataclasses.asdict(shape)}
    write_text_atomic(out / LAUNCH_FILE, json.dumps(record, indent=2) + "\n")
    print(f"launch: submitted Slurm job {job.job_id} ({shape.nodes} node(s) x {shape.procs_per_node} process(es)); "
          f"logs {job.paths.folder}", file=sys.stderr)
    if not args.wait:
        return 0
    try:
        metrics = job.results()[0]
    except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as exc:
        print(f"launch: job {job.job_id} failed: {str(exc)[-3000:]}", file=sys.stderr)
        return EXIT_DATA_ERROR
    print(f"launch: job {job.job_id} finished: {metrics.get('steps')} steps, world size "
          f"{metrics.get('world_size')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
