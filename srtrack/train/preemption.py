"""Stop requests from Slurm: SIGTERM (preemption, scancel, the end of the time limit), SIGUSR1
(sent ahead of the time limit with `sbatch --signal=USR1@<seconds>`) and SIGUSR2 (what submitit
asks Slurm to send ahead of the time limit; srtrack.launch). The handler only records
the signal; the training loop checks after every step, writes a checkpoint and stops, and the
requeued job resumes from it. `requeue()` asks Slurm to requeue the current job (for jobs that
were not submitted with `--requeue` semantics of their own).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from types import FrameType

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again", what a requeued job does


class StopRequest:
    """Records the first stop signal; installed for the lifetime of the object (see `install`)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
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
    job = os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID") and \
        f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}" or os.environ.get("SLURM_JOB_ID")
    if not job:
        return False
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if result.returncode:
        log.error("scontrol requeue %s failed: %s", job, result.stderr.strip())
    return result.returncode == 0
