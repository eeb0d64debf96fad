"""`python -m srtrack.job_usage`: every DAG job's usage record (wall time, peak memory, CPU time, exit code)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO

from srtrack.job_usage import COLUMNS


def measured(record: Path, *command: str, extra_env: dict | None = None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", "srtrack.job_usage", str(record), *command], env=env, **kwargs)


def read_record(record: Path) -> dict[str, str]:
    with record.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 1 and tuple(rows[0]) == COLUMNS
    return rows[0]


def test_the_record_holds_the_commands_peak_memory_time_and_exit_code(tmp_path: Path) -> None:
    record = tmp_path / "benchmarks" / "tune" / "job.tsv"
    script = "import time; block = bytearray(200 * 2 ** 20); time.sleep(0.3); raise SystemExit(3)"
    started = time.perf_counter()
    assert measured(record, sys.executable, "-c", script).wait() == 3  # the command's exit code passes through
    wall = time.perf_counter() - started
    row = read_record(record)
    assert row["exit_code"] == "3"
    assert 200 <= float(row["max_rss"]) < 400, row  # the 200 MB block, counted once
    assert 0.3 <= float(row["s"]) <= wall
    assert float(row["cpu_time"]) > 0 and row["h:m:s"] == "0:00:00"


def test_a_stop_signal_to_the_job_reaches_the_command(tmp_path: Path) -> None:
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    script = (f"import pathlib, signal, time\n"
              f"signal.signal(signal.SIGTERM, lambda *_: (pathlib.Path({str(stopped)!r}).write_text('TERM'), exit(0)))\n"
              f"pathlib.Path({str(ready)!r}).write_text('')\n"
              f"time.sleep(60)\n")
    job = measured(tmp_path / "job.tsv", sys.executable, "-c", script)
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)  # to the wrapper only, as `kill <pid>` of the job would
    assert job.wait(timeout=30) == 0
    assert stopped.read_text() == "TERM" and read_record(tmp_path / "job.tsv")["exit_code"] == "0"


def test_a_command_ended_by_a_signal_or_never_started_is_recorded_too(tmp_path: Path) -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert measured(tmp_path / "killed.tsv", sys.executable, "-c", script).wait() == 128 + signal.SIGKILL
    assert read_record(tmp_path / "killed.tsv")["exit_code"] == str(128 + signal.SIGKILL)

    missing = measured(tmp_path / "missing.tsv", str(tmp_path / "no-such-command"), stderr=subprocess.PIPE, text=True)
    assert missing.wait() == 127 and "cannot start" in missing.stderr.read()
    assert read_record(tmp_path / "missing.tsv")["exit_code"] == "127"


def test_without_a_command_it_prints_its_usage(tmp_path: Path) -> None:
    job = measured(tmp_path / "job.tsv", stderr=subprocess.PIPE, text=True)
    assert job.wait() == 2 and "srtrack.job_usage FILE COMMAND" in job.stderr.read()
    assert not (tmp_path / "job.tsv").exists()


def test_a_retry_does_not_repeat_a_configuration_error(tmp_path: Path) -> None:
    """Within one snakemake run a job whose last attempt exited 2 is not run again (exit 2 at once); a new
    run, after the configuration was fixed, runs it."""
    record, runs = tmp_path / "job.tsv", tmp_path / "runs"
    script = f"import pathlib; p = pathlib.Path({str(runs)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x'); exit(2)"

    def attempt(invocation: str) -> subprocess.Popen:
        return measured(record, sys.executable, "-c", script, extra_env={"SRTRACK_DAG_INVOCATION": invocation},
                        stderr=subprocess.PIPE, text=True)

    first = attempt("run-1")
    assert first.wait() == 2 and read_record(record)["invocation"] == "run-1" and runs.read_text() == "x"
    retry = attempt("run-1")
    assert retry.wait() == 2 and "not retried: the last attempt of this job ended with a configuration error" in (
        retry.stderr.read())
    assert runs.read_text() == "x", "the command did not run again"
    assert attempt("run-2").wait() == 2 and runs.read_text() == "xx", "a new snakemake run runs it"
