"""How a stage's MLflow writes reach the tracking store without ever holding the stage up.

A stage hands every write (metrics, params, tags, artifacts, inputs, its logged model, its final
status) to a `Courier` and goes on at once; the courier's thread sends them in order. When the
tracking server stops answering, the writes wait in memory and the thread asks the server's
`/health` every few seconds; when it answers again they go out in their order, with the timestamps
and steps they were logged at. A write that the server answers but refuses (a run deleted meanwhile,
a store wiped by a restart) is dropped with a warning and listed in the run's `srtrack.mlflow_lost`
tag. When the stage ends, the courier waits up to `mlflow.outage_wait_s` for the server; what is
still unsent then goes into the study's spool (`<output_dir>/mlflow-spool/`, one JSON file per
stage), which the next stage of the study that reaches the server sends first (`replay_spool`),
status included, before anything else. Nothing is lost silently: every drop is warned about, and a
spool that cannot be written says what it held.

Writes are plain JSON-serialisable records (`op`), so that the spool can hold them; an artifact is
named by its path and read when it is sent.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from srtrack.io import write_json_atomic

log = logging.getLogger("srtrack.mlflow")
SPOOL_FORMAT = "srtrack-mlflow-spool/1"
PROBE_EVERY_S = 5.0  # how often a courier asks a silent server whether it is back
SCORED_MODEL_TAG = "scored_model_id"  # on an evaluation run: the logged model of the tracker it scored
SCORED_BY_TAG = "srtrack.scored_by"  # on a logged model: the evaluation runs that scored it
LOST_TAG, OUTAGE_TAG, LATE_TAG = "srtrack.mlflow_lost", "srtrack.mlflow_outages", "srtrack.mlflow_late"
_BATCH = 100  # MLflow's log_batch takes at most 100 params or tags per call
Op = dict[str, Any]


# -- the records -----------------------------------------------------------------------------------

def batch_ops(run_id: str, *, metrics: Iterable[tuple[str, float, int, int]] = (), params: Mapping[str, str] = {},
              tags: Mapping[str, str] = {}, model_id: str | None = None) -> list[Op]:
    """`log_batch` records of at most 100 items each: metrics as (key, value, timestamp ms, step)."""
    ops: list[Op] = []
    for kind, items in (("metrics", [list(m) for m in metrics]), ("params", sorted(params.items())),
                        ("tags", sorted(tags.items()))):
        for start in range(0, len(items), _BATCH):
            ops.append({"op": "log_batch", "run_id": run_id, kind: items[start:start + _BATCH], "model_id": model_id})
    return ops


def describe(op: Op) -> str:
    """A short account of a record, for warnings and the lost-writes tag."""
    kind = op["op"]
    if kind == "log_batch":
        counts = [f"{len(op[k])} {k}" for k in ("metrics", "params", "tags") if op.get(k)]
        return f"log_batch ({', '.join(counts)})"
    detail = op.get("artifact_path") or op.get("artifact_file") or op.get("status") or op.get("name") or ""
    return f"{kind} {op.get('path', '')} {detail}".replace("  ", " ").strip()


def refused(op: Op, exc: Exception) -> str:
    """A write the server answered but refused: warned about now, and the entry of the run's lost-writes tag."""
    entry = f"{describe(op)}: {type(exc).__name__}: {str(exc)[:300]}"
    log.warning("MLflow refused a write of run %s, which is lost: %s", op["run_id"], entry)
    return entry


def execute(client: Any, op: Op) -> None:
    """Send one record with `client` (an MlflowClient). `log_model` remembers the model it created in
    the record, so that a retry after a failure continues instead of creating a second one."""
    from mlflow.entities import Metric, Param, RunTag

    kind, run_id = op["op"], op["run_id"]
    if kind == "log_batch":
        client.log_batch(run_id, metrics=[Metric(k, float(v), int(ts), int(step), model_id=op.get("model_id"),
                                                 run_id=run_id) for k, v, ts, step in op.get("metrics", [])],
                         params=[Param(k, v) for k, v in op.get("params", [])],
                         tags=[RunTag(k, v) for k, v in op.get("tags", [])])
    elif kind == "log_metrics_to":
        _log_metrics_to(client, op)
    elif kind == "log_artifact":
        client.log_artifact(run_id, op["path"], op.get("artifact_path"))
    elif kind == "log_text":
        client.log_text(run_id, op["text"], op["artifact_file"])
    elif kind == "log_table":
        client.log_table(run_id, data=op["data"], artifact_file=op["artifact_file"])
    elif kind == "log_inputs":
        _log_inputs(client, op)
    elif kind == "log_model":
        _log_model(client, op)
    elif kind == "set_model_tags":
        client.set_logged_model_tags(op["model_id"], op["tags"])
    elif kind == "terminate":
        client.set_terminated(run_id, op["status"], end_time=op.get("end_time"))
    else:
        raise ValueError(f"unknown MLflow record {kind!r}")


def _log_metrics_to(client: Any, op: Op) -> None:
    """Metrics on another run of the study and on the model it logged (an evaluation's scores on the
    tuning run it scores); that model becomes an input of the sending run, so the evaluation and the
    model link to each other. A run this store does not hold (a checkpoint trained elsewhere) is skipped."""
    from mlflow.entities import LoggedModelInput, Metric, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    target = op["target_run_id"]
    try:
        tags = client.get_run(target).data.tags
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        log.warning("run %s is not in this MLflow store: its scores are recorded on this run only", target)
        return
    model_id = tags.get(op["model_id_tag"])
    client.log_batch(target, metrics=[Metric(k, float(v), int(op["timestamp"]), 0, model_id=model_id, run_id=target)
                                      for k, v in op["metrics"].items()])
    if model_id:
        client.log_inputs(op["run_id"], models=[LoggedModelInput(model_id)])
        client.log_batch(op["run_id"], tags=[RunTag(SCORED_MODEL_TAG, model_id)])


def _log_inputs(client: Any, op: Op) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(**op["dataset"])
    client.log_inputs(op["run_id"], [DatasetInput(dataset, [InputTag("mlflow.data.context", op["context"])])])


def _log_model(client: Any, op: Op) -> None:
    from mlflow.entities import LoggedModelOutput, RunTag

    if not op.get("model_id"):
        model = client.create_logged_model(op["experiment_id"], name=op["name"], source_run_id=op["run_id"],
                                           model_type="srtrack tracker", params=op["params"], tags=op["tags"])
        op["model_id"] = model.model_id
    if not op.get("uploaded"):
        client.log_model_artifact(op["model_id"], op["path"])
        op["uploaded"] = True
    client.finalize_logged_model(op["model_id"], "READY")
    client.log_outputs(op["run_id"], [LoggedModelOutput(op["model_id"], 0)])  # the run page lists it
    client.log_batch(op["run_id"], tags=[RunTag(op["model_id_tag"], op["model_id"])])


# -- the courier ---------------------------------------------------------------------------------------

class Courier:
    """Sends records in order from a thread, waiting out an outage of the server (module docstring).

    Args:
        client: an MlflowClient of the store.
        uri: the tracking URI (recorded in the spool, so that a spool goes only to its own store).
        spool: the study's spool folder.
        reachable: answers whether the server is up (srtrack.mlflow_server.reachable, bound).
    """

    def __init__(self, client: Any, uri: str, spool: Path, reachable: Callable[[], bool]):
        self.client, self.uri, self.spool, self.reachable = client, uri, spool, reachable
        self.lost: list[str] = []
        self.outages: list[float] = []  # durations, seconds
        self._queue: collections.deque[Op] = collections.deque()
        self._cond = threading.Condition()
        self._closing = self._abandoned = False
        self._down_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="srtrack-mlflow-courier", daemon=True)
        self._thread.start()

    def send(self, ops: Op | Iterable[Op]) -> None:
        """Queue records; returns at once."""
        batch = [ops] if isinstance(ops, dict) else list(ops)
        with self._cond:
            self._queue.extend(batch)
            self._cond.notify_all()

    @property
    def outage(self) -> bool:
        return self._down_since is not None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._abandoned or (self._closing and (not self._queue or self.outage)):
                    return
                op = self._queue[0]
            if self.outage and not self._wait_for_server():
                return
            try:
                execute(self.client, op)
            except Exception as exc:  # noqa: BLE001 - any failure: either the server is away or it refused
                if not self.reachable():
                    self._went_down(exc)
                    continue
                self.lost.append(refused(op, exc))
            with self._cond:
                if self._queue and self._queue[0] is op:
                    self._queue.popleft()
                self._cond.notify_all()

    def _went_down(self, exc: Exception) -> None:
        self._down_since = time.monotonic()
        log.warning("the MLflow tracking server %s stopped answering (%s): the stage goes on and keeps its MLflow "
                    "writes until the server is back", self.uri, str(exc)[:200])

    def _wait_for_server(self) -> bool:
        """Ask the server every few seconds until it answers (True) or the courier is closed (False)."""
        while True:
            if self.reachable():
                down = time.monotonic() - (self._down_since or time.monotonic())
                self.outages.append(down)
                self._down_since = None
                log.warning("the MLflow tracking server %s answers again after %.0f s: sending %d delayed write(s)",
                            self.uri, down, len(self._queue))
                return True
            with self._cond:
                if self._closing:
                    return False
                self._cond.wait(PROBE_EVERY_S)
                if self._closing:
                    return False

    def flush(self, wait_s: float) -> bool:
        """Wait until every queued record is sent, at most `wait_s` seconds; True if all were."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._queue and time.monotonic() < deadline:
                self._cond.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            return not self._queue

    def close(self, wait_s: float) -> Path | None:
        """Flush for at most `wait_s` seconds, stop the thread, and spool what is left; returns the spool
        file (None when everything was sent)."""
        if not self.flush(wait_s) and self.outage:
            log.warning("the MLflow tracking server %s did not answer within %.0f s of the stage's end",
                        self.uri, wait_s)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=10.0)
        with self._cond:  # a call still hanging after 10 s is spooled too: sent twice at worst, never lost
            self._abandoned = True
            left = list(self._queue)
            self._queue.clear()
        return write_spool(self.spool, self.uri, left) if left else None


# -- the spool -----------------------------------------------------------------------------------------

def write_spool(spool: Path, uri: str, ops: list[Op]) -> Path | None:
    """Keep unsent records for the next stage that reaches the server; returns the file (None, with a
    warning that lists them, if even that cannot be written)."""
    from srtrack.errors import describe_os_error

    runs = sorted({op["run_id"] for op in ops})
    path = spool / f"{runs[0]}-{time.time_ns()}-{os.getpid()}.json"
    document = {"format": SPOOL_FORMAT, "tracking_uri": uri, "host": socket.gethostname(), "pid": os.getpid(),
                "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": runs, "ops": ops}
    try:
        write_json_atomic(path, document)
    except OSError as exc:
        log.error("MLflow writes of run(s) %s are lost: the server %s is away and the spool cannot be written (%s): %s",
                  ", ".join(runs), uri, describe_os_error(exc, path), "; ".join(describe(op) for op in ops[:20]))
        return None
    log.warning("%d MLflow write(s) of run(s) %s wait in %s; the next stage of this study that reaches %s sends them",
                len(ops), ", ".join(runs), path, uri)
    return path


def _claim(path: Path) -> Path | None:
    """Take a spool file for this process (a rename: one process wins); None if another took it."""
    base = path.name.partition(".sending-")[0]
    claimed = path.with_name(f"{base}.sending-{socket.gethostname()}-{os.getpid()}")
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        return None
    return claimed


def _abandoned(path: Path) -> bool:
    """A claimed spool file whose process (on this host) is gone."""
    from srtrack.run_registry import process_alive

    _, _, owner = path.name.rpartition(".sending-")
    host, _, pid = owner.rpartition("-")
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))


def replay_spool(client: Any, uri: str, spool: Path, reachable: Callable[[], bool]) -> int:
    """Send the spooled records of this store, oldest first; returns how many were sent. Stops (and
    spools the rest again) when the server goes away meanwhile."""
    if not spool.is_dir():
        return 0
    sent = 0
    files = sorted(spool.glob("*.json")) + sorted(p for p in spool.glob("*.json.sending-*") if _abandoned(p))
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # another process is moving it, or it is not ours
        if document.get("format") != SPOOL_FORMAT or document.get("tracking_uri") != uri:
            continue
        claimed = _claim(path)
        if claimed is None:
            continue
        ops, lost = document["ops"], []
        for i, op in enumerate(ops):
            try:
                execute(client, op)
            except Exception as exc:  # noqa: BLE001
                if not reachable():
                    write_spool(spool, uri, ops[i:])
                    claimed.unlink(missing_ok=True)
                    return sent
                lost.append(refused(op, exc))
                continue
            sent += 1
        note = (f"{len(ops) - len(lost)} write(s) sent late from {path.name}, spooled at {document['written']} by "
                f"{document['host']}:{document['pid']} while the server was away")
        for run_id in document["runs"]:
            _tag_quietly(client, run_id, {LATE_TAG: note, **({LOST_TAG: "; ".join(lost)[:5000]} if lost else {})})
        claimed.unlink(missing_ok=True)
        log.info("sent %d spooled MLflow write(s) from %s", len(ops) - len(lost), path)
    return sent


def _tag_quietly(client: Any, run_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    try:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    except Exception:  # noqa: BLE001 - a note about the delivery must not fail the stage
        log.warning("could not tag run %s with %s", run_id, dict(tags))
