"""Stop requests: SIGTERM (preemption, scancel, the end of the time limit), SIGUSR1 (sent ahead of
the time limit with `sbatch --signal=USR1@<seconds>`), SIGUSR2 (what submitit asks Slurm to send
ahead of the time limit; srtrack.launch), and the job's own time limit. The handler only records
the signal; the training loop checks after every step, writes a checkpoint and stops, and the
requeued job (or Snakemake's retry) resumes from it. `requeue()` asks Slurm to requeue the current
job (for jobs that were not submitted with `--requeue` semantics of their own).

Under Snakemake's Slurm executor a signal from `--signal` would reach every process of the job step
(Snakemake's job step, the rule's shell, the usage wrapper), whose default action for SIGUSR1 is to
exit; so a tuning job instead asks Slurm once, at start, how long it has left (`squeue -o %L`) and
stops itself `resources.stop_margin_min` before the limit (`job_deadline`).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from types import FrameType

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again", what a requeued job does


TIME_LIMIT = "the Slurm time limit"


class StopRequest:
    """Records the first stop signal, or that `deadline` (time.monotonic()) has passed; signals are
    handled while installed (see `install`)."""

    def __init__(self, deadline: float | None = None) -> None:
        self.name: str | None = None
        self.deadline = deadline
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        if self.name is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.name = TIME_LIMIT
            log.warning("%s is near: stopping after this step with a checkpoint", TIME_LIMIT)
        return self.name is not None

    def _handle(self, signum: int, _: FrameType | None) -> None:
        if self.name is None:
            self.name = signal.Signals(signum).name
            log.warning("%s received: stopping after this step with a checkpoint", self.name)

    def install(self) -> "StopRequest":
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def requeue() -> bool:
    """`scontrol requeue $SLURM_JOB_ID` when running under Slurm; True when Slurm accepted it."""
    job = job_id()
    if not job:
        return False
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if result.returncode:
        log.error("scontrol requeue %s failed: %s", job, result.stderr.strip())
    return result.returncode == 0


def job_id() -> str | None:
    """The Slurm job this process runs in (`<array job>_<task>` for an array task), None outside Slurm."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


_TIME_LEFT = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def parse_time_left(text: str) -> float | None:
    """Seconds in squeue's `%L` ([days-][hours:]minutes:seconds); None for UNLIMITED, NOT_SET, INVALID."""
    match = _TIME_LEFT.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(v) if v else 0 for v in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def slurm_time_left() -> float | None:
    """Seconds before this Slurm job's time limit, None outside Slurm, without a limit, or when squeue
    does not answer (then only Slurm's own signals stop the run)."""
    job = job_id()
    if not job:
        return None
    try:
        result = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not ask Slurm for the time left of job %s (%s): no stop before the time limit", job, exc)
        return None
    return parse_time_left(result.stdout.splitlines()[0]) if result.returncode == 0 and result.stdout.strip() else None


def job_deadline(margin_min: float) -> float | None:
    """The time.monotonic() at which a run inside a Slurm job stops with a checkpoint: `margin_min`
    before the job's time limit; None outside Slurm."""
    left = slurm_time_left()
    if left is None:
        return None
    log.info("Slurm time limit in %.0f s: stopping with a checkpoint %.0f min before it", left, margin_min)
    return time.monotonic() + left - margin_min * 60
