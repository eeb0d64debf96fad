"""`python -m srtrack.job_usage FILE COMMAND [ARG ...]`: run one DAG job's command, then write what it
used to FILE (one TSV row), whether it succeeded or not; exits with the command's exit code.

Every rule runs its command under this instead of Snakemake's `benchmark:` directive. Snakemake
samples a job with psutil once a second for its first 30 s, then every 30 s, and each sample reads
every process's memory map: about 20 ms of the scheduler's own CPU per process and sample, some 35
CPU-seconds of a 2-core `make demo` taken from the jobs, while memory peaks between samples go
unseen. The kernel's accounting of the finished process tree (getrusage of the waited-for
children) is exact and costs nothing while the job runs.

Columns (Snakemake's names where the meaning is the same):
- `s`, `h:m:s`: wall time of the command.
- `max_rss`: MB, the peak resident memory of the job's largest process (the kernel's high-water
  mark; at least this wrapper's ~13 MB, which a started process begins as). A job of several
  processes at once (torchrun's ranks, evaluation workers) can need up to their sum.
- `io_in`, `io_out`: MB read from and written to storage (page-cache hits are not reads).
- `mean_load`: CPU time over wall time, percent of one core.
- `cpu_time`: user + system seconds of the whole process tree.
- `exit_code`: the command's, 128 + N when signal N ended it.
- `invocation`: the snakemake run the job belonged to ($SRTRACK_DAG_INVOCATION, set when a DAG run
  starts; empty outside one).

A retry never repeats a configuration error: when snakemake runs a job again within the same run
(the profile's `retries`, meant for out-of-memory kills and lost nodes) and its record says that the
last attempt exited 2, the job exits 2 at once with that reason instead of running the command again.
A new snakemake run (after the configuration was fixed) runs it.

Only processes the command starts and waits for are counted: under `srun` the tasks are Slurm's
(see `sacct`). Stop signals (TERM, USR1, USR2, HUP) are passed on to the command, so a kill of the
job's shell still reaches training's checkpoint-and-stop handler; Ctrl-C reaches the command from
the terminal itself.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from srtrack.errors import EXIT_CONFIG_ERROR
from srtrack.io import write_text_atomic

COLUMNS = ("s", "h:m:s", "max_rss", "io_in", "io_out", "mean_load", "cpu_time", "exit_code", "invocation")
INVOCATION_ENV = "SRTRACK_DAG_INVOCATION"
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)
BLOCK_BYTES = 512  # getrusage's ru_inblock / ru_oublock unit on Linux


def usage_row(seconds: float, usage: resource.struct_rusage, exit_code: int) -> dict[str, str]:
    """One record from the wall time, the children's rusage (ru_maxrss in KiB, Linux) and the exit code."""
    cpu = usage.ru_utime + usage.ru_stime
    whole = int(seconds)
    return {"s": f"{seconds:.4f}", "h:m:s": f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}",
            "max_rss": f"{usage.ru_maxrss / 1024:.2f}",
            "io_in": f"{usage.ru_inblock * BLOCK_BYTES / 2 ** 20:.2f}",
            "io_out": f"{usage.ru_oublock * BLOCK_BYTES / 2 ** 20:.2f}",
            "mean_load": f"{100 * cpu / seconds if seconds > 0 else 0.0:.2f}", "cpu_time": f"{cpu:.2f}",
            "exit_code": str(exit_code), "invocation": os.environ.get(INVOCATION_ENV, "")}


def write_record(path: Path, row: dict[str, str]) -> None:
    write_text_atomic(path, "\t".join(COLUMNS) + "\n" + "\t".join(row[c] for c in COLUMNS) + "\n")


def failed_on_configuration(record: Path) -> bool:
    """Whether this job's last attempt, within the current snakemake run, exited with a configuration error."""
    invocation = os.environ.get(INVOCATION_ENV)
    if not invocation or not record.is_file():
        return False
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
        row = dict(zip(lines[0].split("\t"), lines[1].split("\t")))
    except (OSError, UnicodeDecodeError, IndexError):
        return False
    return row.get("invocation") == invocation and row.get("exit_code") == str(EXIT_CONFIG_ERROR)


def run_measured(record: Path, command: Sequence[str]) -> int:
    """Run `command`, write its record to `record`; returns its exit code (128 + N for signal N)."""
    if failed_on_configuration(record):
        print("srtrack.job_usage: not retried: the last attempt of this job ended with a configuration error "
              "(exit 2, in its log); fix the configuration and run snakemake again", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    started = time.perf_counter()
    try:
        child = subprocess.Popen(list(command))
    except OSError as exc:
        print(f"srtrack.job_usage: cannot start {command[0]!r}: {exc}", file=sys.stderr)
        exit_code = 127  # the shell's code for a command it cannot run
    else:
        for sig in FORWARDED_SIGNALS:  # a stop signal sent to this process alone goes on to the command
            signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
        # Ctrl-C reaches the command from the terminal; this process waits for it and records how it ended
        signal.signal(signal.SIGINT, lambda _signum, _frame: None)
        returncode = child.wait()
        exit_code = 128 - returncode if returncode < 0 else returncode
    write_record(record, usage_row(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN),
                                   exit_code))
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    return run_measured(Path(args[0]), args[1:])


if __name__ == "__main__":
    sys.exit(main())
