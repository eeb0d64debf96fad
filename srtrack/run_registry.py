"""The MLflow runs that outlive one stage: the study run, claimed once across processes and hosts,
and runs left RUNNING by processes that died (srtrack/mlflow_runs.py opens the stage runs)."""

from __future__ import annotations

import os
import socket
from typing import Any

from srtrack.mlflow_server import NOTE_TAG

STUDY_MARKER = "srtrack.study_run"


def _marker_name(experiment_id: str, study: str) -> str:
    return f".srtrack-study/{experiment_id}/{study}"


def ensure_study_run(client: Any, experiment_id: str, study: str) -> str:
    """The id of the study's run, created on first use, atomically also across hosts.

    Experiment names are unique in every MLflow store, so the study run is claimed by creating a
    marker experiment named after the study that records the run's id (then soft-deleted, which
    hides it and keeps its name taken). Processes that lose the race delete their candidate run and
    use the winner's. Stores from before the marker reuse their oldest study run.
    """
    from mlflow.exceptions import MlflowException

    name = _marker_name(experiment_id, study)
    marker = client.get_experiment_by_name(name)
    if marker is not None and marker.tags.get(STUDY_MARKER):
        return marker.tags[STUDY_MARKER]
    filter_string = f"tags.`srtrack.role` = 'study' and tags.study = '{study}'"
    runs = client.search_runs([experiment_id], filter_string, max_results=1, order_by=["attributes.start_time ASC"])
    if runs:
        candidate, created = runs[0].info.run_id, False
    else:
        # a container: its duration says nothing; the description says what it holds
        note = (f"Study {study}: every DAG invocation of the study is a child run, each stage job a grandchild. "
                "study_summary.json (Artifacts; an MLflow table) has every headline score, one row per "
                "(benchmark, label, seed).")
        run = client.create_run(experiment_id, run_name=f"study:{study}",
                                tags={"srtrack.role": "study", "study": study, NOTE_TAG: note})
        client.set_terminated(run.info.run_id, "FINISHED")
        candidate, created = run.info.run_id, True
    try:
        marker_id = client.create_experiment(name, artifact_location=client.get_experiment(experiment_id).artifact_location,
                                             tags={STUDY_MARKER: candidate, "srtrack.role": "study-marker"})
        client.delete_experiment(marker_id)
        return candidate
    except MlflowException:
        marker = client.get_experiment_by_name(name)
        if marker is None or not marker.tags.get(STUDY_MARKER):
            raise
        winner = marker.tags[STUDY_MARKER]
        if created and winner != candidate:  # another process may have claimed our run itself
            client.delete_run(candidate)
        return winner


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def close_orphans(client: Any, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs that a process of this host left behind when it died (its pid
    is gone); runs of other hosts cannot be checked from here and are left alone. Returns their ids."""
    host = socket.gethostname()
    runs = client.search_runs([experiment_id], f"attributes.status = 'RUNNING' and tags.host = '{host}'",
                              max_results=1000)
    closed = []
    for run in runs:
        pid = run.data.tags.get("srtrack.pid")
        if pid and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            client.set_tag(run.info.run_id, "stopped", f"process {pid} on {host} ended without closing the run")
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed
