"""MLflow bookkeeping shared by every stage: one run per stage invocation, nested under its study.

`with stage_run(cfg, "prepare", name="prepare lasher/test", sections=[...], dataset="lasher") as run:`
opens a run in `cfg.mlflow.experiment` whose parent is, in this order, the `parent_run_id` argument,
`$SRTRACK_PARENT_RUN_ID` (set by the Snakemake workflow for a whole DAG invocation), or one study
run per `study.name` that is found or created (atomically: see `ensure_study_run`). The run is
tagged (stage, the labels it is given: dataset, modality, label, method, model, ..., seed, git
commit, config hash, Slurm job id, host, process id), gets the config sections the stage reads as
params (the stage's effective config: the label's method and network applied) and the whole
resolved config as an artifact, and is marked FAILED (with the error) if the block raises.
Runs left RUNNING by processes of this host that no longer exist (a `kill -9`) are marked KILLED
when the next stage or DAG run opens (`close_orphans`).

Every stage first checks its server (`connect`: a refused account is exit 2, no answer exit 1,
within seconds) and sends what earlier stages spooled during an outage. After that the server may
go away at any time: the run's writes go through a courier (srtrack/mlflow_delivery.py) that never
holds the stage up, sends them late when the server is back, and spools them for the next stage
when the stage ends first.

Tracking URI: `$MLFLOW_TRACKING_URI` if set, else `mlflow.tracking_uri` from the config (default a
SQLite file, `sqlite:///results/mlflow.db`). For SQLite stores, artifacts go to `mlartifacts/` next
to the database file rather than into the current directory. Under torch.distributed only rank 0
talks to MLflow; other ranks get a run object whose methods do nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import yaml

from srtrack.config import Config, config_to_dict, section
from srtrack.errors import ConfigError, TrackingServerUnavailable
from srtrack.io import json_sha256
from srtrack.layout import RUN_ID_FILE, mlflow_spool
from srtrack.mlflow_logging import NullRun, StageRun
from srtrack.mlflow_server import ML_VIEW, NOTE_TAG, check_server, reachable
from srtrack.run_registry import close_orphans, ensure_study_run

PARENT_RUN_ENV = "SRTRACK_PARENT_RUN_ID"
# the UI opens a model-training experiment (not its GenAI overview) and shows what the runs are
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development",
                   NOTE_TAG: "srtrack: multi-modal tracker tuning. A study run per study.name holds a "
                                          "run per DAG invocation, which holds a run per stage job (tags: stage, "
                                          "label, method, model, modality, dataset, seed). The study run's "
                                          "study_summary table has every headline score."}


def tracking_uri(cfg: Config) -> str:
    """The tracking URI in force: the environment wins over the config.

    A relative SQLite path is made absolute against the current directory: MLflow caches one store
    per URI string, so a relative URI would keep writing to the first directory's database after a
    change of directory.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri
    db = _sqlite_path(uri)
    if db is not None and not db.is_absolute():
        return f"sqlite:///{db.resolve()}"
    return uri


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):])


def is_main_process() -> bool:
    """True on rank 0 (or without torch.distributed): only that process logs to MLflow."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def config_sections(data: Mapping[str, Any], sections: Sequence[str] | None) -> dict[str, Any]:
    """The parts of a config dict named by dotted `sections` (all of it for None), nested as they were."""
    if sections is None:
        return dict(data)
    picked: dict[str, Any] = {}
    for dotted in sections:
        *parents, last = dotted.split(".")
        target = picked
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = section(data, dotted)
    return picked


def run_id_beside(artifact: Path) -> str | None:
    """The MLflow run that wrote `artifact` (a model.pth or prior): its folder's run-id file, if any."""
    path = artifact.parent / RUN_ID_FILE
    return (path.read_text().strip() or None) if path.is_file() else None


def config_hash(cfg: Config) -> str:
    """sha256 of the resolved config in canonical JSON: equal configs give equal hashes."""
    return json_sha256(config_to_dict(cfg))


def git_commit() -> str:
    """The commit of the srtrack checkout (with `-dirty` for local changes), or `unknown`."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextlib.contextmanager
def _store_setup_lock(cfg: Config) -> Iterator[None]:
    """Serialise first-time set-up of a SQLite store across processes.

    Parallel Snakemake jobs would otherwise race to create the tables of a new database
    (`table experiments already exists`) or the same experiment and study run.
    """
    db = _sqlite_path(tracking_uri(cfg))
    if db is None:
        yield
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / f".{db.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _client(cfg: Config) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(cfg))


def find_experiment_id(cfg: Config) -> str | None:
    """The id of `mlflow.experiment`, or None when the store does not answer or does not hold it (a
    closing message that cannot link runs still prints the rest)."""
    from mlflow.exceptions import MlflowException

    from srtrack.mlflow_server import configure_client

    uri = tracking_uri(cfg)
    if not reachable(uri, cfg.mlflow.request_timeout_s):
        return None
    configure_client(cfg.mlflow)
    try:
        found = _client(cfg).get_experiment_by_name(cfg.mlflow.experiment)
    except (MlflowException, OSError):
        return None
    return found.experiment_id if found is not None else None


def runs_page(base: str, experiment_id: str, search: str) -> str:
    """The UI's runs table of one experiment, filtered by an MLflow search expression."""
    from urllib.parse import quote

    return f"{base}/#/experiments/{experiment_id}/runs?searchFilter={quote(search)}&{ML_VIEW}"


def ensure_experiment(client: Any, cfg: Config) -> str:
    """The experiment id of `mlflow.experiment`, created on first use (safe against a race)."""
    from mlflow.exceptions import MlflowException

    from srtrack.relocate import artifact_root, moved_from

    name = cfg.mlflow.experiment
    db = _sqlite_path(tracking_uri(cfg))
    found = client.get_experiment_by_name(name)
    if found is not None:
        if db is not None and (old := moved_from(db, found.artifact_location)):
            raise ConfigError(f"the MLflow store {db} was moved: its runs' artifacts are recorded under {old}, not "
                              f"beside it; run `python -m srtrack.relocate {db}` once")
        return found.experiment_id
    location = f"{artifact_root(db)}/{name}" if db is not None else None
    try:
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def stage_tags(cfg: Config, stage: str, **labels: Any) -> dict[str, str]:
    """The tags every stage run carries (labels with value None are left out)."""
    tags = {
        "srtrack.role": "stage",
        "study": cfg.study.name,
        "stage": stage,
        "seed": cfg.study.seed,
        "git_commit": git_commit(),
        "config_hash": config_hash(cfg),
        "host": socket.gethostname(),
        "srtrack.pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        **labels,
    }
    tags["mlflow.source.git.commit"] = tags["git_commit"]
    return {k: str(v) for k, v in tags.items() if v is not None}


# the runs a stage run comes from, as its tags name them, in the words of its description
RUN_LINKS = {"init_run_id": "starts from the weights of", "prior_run_id": "its prior sensitivity comes from",
             "tune_run_id": "scores the tracker trained by", "mlflow.parentRunId": "part of the DAG run"}
# the same links seen from the run they point to: the runs it leads to (written by the report stage)
LEADS_TO = {"init_run_id": "its weights start", "prior_run_id": "its prior sensitivity regularizes",
            "tune_run_id": "its tracker is scored by"}
LEADS_TO_HEADING = "\n\n**Leads to**\n"


def run_link(experiment_id: str, run_id: str, text: str) -> str:
    """A Markdown link to a run in the UI's own hash route (it opens in the same UI)."""
    return f"[{text}](#/experiments/{experiment_id}/runs/{run_id})"


def leads_to_notes(runs: Sequence[Mapping[str, str]], experiment_id: str) -> dict[str, str]:
    """Each run's description with a "Leads to" section linking the runs whose tags point to it (the
    evaluations of a tuning run, the tuning runs of a prior), for runs with at least one; `runs` are
    rows of tags plus `run_id`. An earlier "Leads to" section is replaced, so it can be rewritten."""
    by_id = {r["run_id"]: r for r in runs}
    found: dict[str, list[str]] = {}
    for run in runs:
        for key, words in LEADS_TO.items():
            if run.get(key) in by_id:
                name = run.get("mlflow.runName") or run["run_id"][:8]
                found.setdefault(run[key], []).append(f"- {words} {run_link(experiment_id, run['run_id'], name)}")
    notes = {}
    for run_id, lines in found.items():
        base = (by_id[run_id].get(NOTE_TAG) or "").split(LEADS_TO_HEADING)[0]
        notes[run_id] = base + LEADS_TO_HEADING + "\n".join(sorted(lines))
    return notes


def scored_by(runs: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Each logged model's evaluations (`runs` as in `leads_to_notes`): model id -> "name (run id); ..."."""
    from srtrack.mlflow_delivery import SCORED_MODEL_TAG

    found: dict[str, list[str]] = {}
    for run in runs:
        if run.get(SCORED_MODEL_TAG):
            found.setdefault(run[SCORED_MODEL_TAG], []).append(f"{run.get('mlflow.runName', '')} ({run['run_id']})")
    return {model: "; ".join(sorted(names)) for model, names in found.items()}


def run_description(stage: str, name: str, experiment_id: str, tags: Mapping[str, str]) -> str:
    """The run's description (MLflow's Markdown note): what it is, and links to the runs it comes from
    (the UI's own hash routes, so they open in the same UI)."""
    what = ", ".join(f"{k} {tags[k]}" for k in ("label", "method", "model", "modality", "dataset", "seed") if tags.get(k))
    lines = [f"**{name}**: stage `{stage}` of study `{tags.get('study', '?')}`" + (f" ({what})" if what else "") + "."]
    for key, words in RUN_LINKS.items():
        if tags.get(key):
            lines.append(f"- {words} {run_link(experiment_id, tags[key], f'run {tags[key][:8]}')}")
    for key in ("init_source", "checkpoint_source"):
        if tags.get(key):
            lines.append(f"- its checkpoint: {tags[key]}")
    return "\n".join(lines)


@contextlib.contextmanager
def stage_run(cfg: Config, stage: str, *, name: str, sections: Sequence[str] | None = None,
              parent_run_id: str | None = None, resume_run_id: str | None = None,
              **labels: Any) -> Iterator[StageRun]:
    """Open the MLflow run of one stage invocation; see the module docstring.

    Args:
        cfg: the stage's effective config (its `sections` become the run's params).
        stage: stage name (`prepare`, `tune`, ...).
        name: shown in the MLflow UI, short and unique within a study (`tune rgbt/lora s0`).
        sections: dotted config sections the stage reads (`model`, `datasets.lasher`); None: all.
        parent_run_id: the DAG's parent run; defaults to $SRTRACK_PARENT_RUN_ID, then the study run.
        resume_run_id: continue this run (a resumed training run) instead of creating one, when it exists.
        labels: extra tags such as dataset=, modality=, label=, method=, model=.

    An exception with a `run_status` attribute (e.g. "KILLED" for a preempted run) ends the run
    with that status; any other exception marks it FAILED, and so does `run.fail(reason)`.
    """
    if not is_main_process():
        yield NullRun()
        return
    client, experiment_id, parent = connect(cfg, parent_run_id)
    tags = stage_tags(cfg, stage, **labels)
    tags["mlflow.parentRunId"] = parent
    tags[NOTE_TAG] = run_description(stage, name, experiment_id, tags)
    with _server_errors(cfg):
        resumed = _existing_run(client, resume_run_id) if resume_run_id else None
        if resumed:
            client.update_run(resumed, "RUNNING")
            client.set_tag(resumed, "srtrack.pid", str(os.getpid()))
            run_id = resumed
        else:
            run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    courier = open_courier(cfg, client)
    active = StageRun(courier, run_id, experiment_id)
    status, notes, wait_s = "FINISHED", {}, cfg.mlflow.outage_wait_s
    try:
        if not resumed:
            resolved = config_to_dict(cfg)
            active.log_params(config_sections(resolved, sections))
            active.log_text(yaml.safe_dump(resolved, sort_keys=False), "config/config.yaml")
        yield active
        if active.failure:
            status, notes = "FAILED", {"error": active.failure[:5000]}
    except KeyboardInterrupt:
        status, wait_s = "KILLED", min(wait_s, STOPPING_WAIT_S)
        raise
    except BaseException as exc:
        if getattr(exc, "run_status", None):
            status, notes, wait_s = exc.run_status, {"stopped": f"{type(exc).__name__}: {exc}"[:5000]}, \
                min(wait_s, STOPPING_WAIT_S)
        else:
            status, notes = "FAILED", {"error": f"{type(exc).__name__}: {exc}"[:5000]}
        raise
    finally:
        close_run(courier, run_id, status, notes, wait_s)


# A stopped run (SIGTERM, the time limit) has little time before Slurm kills it: it spools sooner.
STOPPING_WAIT_S = 20.0


def connect(cfg: Config, parent_run_id: str | None = None) -> tuple[Any, str, str]:
    """What every stage does first: bound MLflow's retries, check the server (exit 2 for refused
    credentials, 1 for no answer), send what earlier stages spooled during an outage, close the runs
    of dead processes of this host. Returns the client, the experiment id and the parent run's id."""
    from srtrack.mlflow_delivery import replay_spool
    from srtrack.mlflow_server import configure_client

    configure_client(cfg.mlflow)
    uri = tracking_uri(cfg)
    check_server(uri, cfg.mlflow.connect_timeout_s)
    with _server_errors(cfg):
        with _store_setup_lock(cfg):
            client = _client(cfg)
            experiment_id = ensure_experiment(client, cfg)
            parent = parent_run_id or os.environ.get(PARENT_RUN_ENV) or ensure_study_run(client, experiment_id,
                                                                                           cfg.study.name)
        replay_spool(client, uri, spool_dir(cfg), server_probe(cfg))
        close_orphans(client, experiment_id)
    return client, experiment_id, parent


def spool_dir(cfg: Config) -> Path:
    """Where a stage leaves the MLflow writes that a server outage kept it from sending."""
    return Path(mlflow_spool(cfg.study.output_dir)).resolve()


def server_probe(cfg: Config) -> Callable[[], bool]:
    """Whether the tracking server answers now (what tells an outage from a refused write)."""
    uri = tracking_uri(cfg)
    return lambda: reachable(uri, cfg.mlflow.connect_timeout_s)


def open_courier(cfg: Config, client: Any) -> Any:
    """The courier that sends a stage's writes (srtrack/mlflow_delivery.py)."""
    from srtrack.mlflow_delivery import Courier

    return Courier(client, tracking_uri(cfg), spool_dir(cfg), server_probe(cfg))


def close_run(courier: Any, run_id: str, status: str, notes: Mapping[str, str], wait_s: float) -> None:
    """End a run: wait (at most `wait_s`) for its writes, tag what the delivery went through (outages,
    lost writes), set its final status, and spool whatever the server could not take."""
    import time

    from srtrack.mlflow_delivery import LOST_TAG, OUTAGE_TAG, batch_ops

    courier.flush(wait_s)
    tags = dict(notes)
    if courier.outages:
        tags[OUTAGE_TAG] = (f"{len(courier.outages)} outage(s) of the tracking server during the stage, "
                            f"{sum(courier.outages):.0f} s in all; the writes of those times were sent late")
    if courier.lost:
        tags[LOST_TAG] = "; ".join(courier.lost)[:5000]
    courier.send([*batch_ops(run_id, tags=tags),
                  {"op": "terminate", "run_id": run_id, "status": status, "end_time": int(time.time() * 1000)}])
    courier.close(0.0 if courier.outage else min(wait_s, 60.0))


@contextlib.contextmanager
def _server_errors(cfg: Config) -> Iterator[None]:
    """An MLflow call that fails because the server went away between the check and the call: the
    check's clear message instead of MLflow's traceback."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException:
        if not server_probe(cfg)():
            raise TrackingServerUnavailable(f"the MLflow tracking server {tracking_uri(cfg)} stopped answering while "
                                            "the stage started; run the stage again when it is back") from None
        raise


def _existing_run(client: Any, run_id: str) -> str | None:
    """`run_id` if the store has it, else None (a resumed run logging to a new store starts afresh)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id).info.run_id
    except MlflowException:
        return None


@contextlib.contextmanager
def system_metrics(cfg: Config, run: StageRun, *, resume: bool = False, interval_s: float = 10.0) -> Iterator[None]:
    """Log CPU/memory/disk/network (and GPU, where pynvml finds one) as `system/*` metrics of `run`
    every `interval_s` seconds (`$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` overrides), from a thread,
    through the run's courier (so an outage of the server does not stop them)."""
    if isinstance(run, NullRun):
        yield
        return
    from srtrack.mlflow_system import SystemSampler

    first_step = _next_system_step(cfg, run.run_id) if resume else 0
    sampler = SystemSampler(run, interval_s, first_step)
    sampler.start()
    try:
        yield
    finally:
        sampler.stop()


def _next_system_step(cfg: Config, run_id: str) -> int:
    """The step after the last `system/*` metric of a resumed run (0 if the store cannot say)."""
    try:
        metrics = _client(cfg).get_run(run_id).data._metric_objs
    except Exception:  # noqa: BLE001 - a resumed run's system metrics may restart at 0
        return 0
    steps = [m.step for m in metrics if m.key.startswith("system/")]
    return max(steps) + 1 if steps else 0


def log_study_summary(cfg: Config, run: StageRun, table: Any, artifact_file: str) -> str:
    """Log `table` (a DataFrame) as an MLflow table of the study run, through `run`'s courier (the
    report's); returns the study run's id."""
    with _store_setup_lock(cfg):
        client = _client(cfg)
        study = ensure_study_run(client, ensure_experiment(client, cfg), cfg.study.name)
    data = json.loads(table.to_json(orient="columns"))  # JSON-safe (NaN as null) for a spool
    run.courier.send({"op": "log_table", "run_id": study, "data": {k: list(v.values()) for k, v in data.items()},
                      "artifact_file": artifact_file})
    return study


def start_dag_run(cfg: Config, targets: list[str]) -> str:
    """Open the parent run of one DAG invocation, nested under the study run; every stage run of
    the invocation nests under it (the Snakefile exports its id as $SRTRACK_PARENT_RUN_ID)."""
    import time

    client, experiment_id, study = connect(cfg)
    tags = {"srtrack.role": "dag", "study": cfg.study.name, "mlflow.parentRunId": study, "git_commit": git_commit(),
            "config_hash": config_hash(cfg), "host": socket.gethostname(), "srtrack.pid": str(os.getpid()),
            "targets": " ".join(targets)[:5000],
            NOTE_TAG: f"One snakemake invocation of study {cfg.study.name}: its stage jobs are the child "
                                   f"runs; it ends FINISHED or FAILED with the DAG ({len(targets)} targets)."}
    with _server_errors(cfg):
        run = client.create_run(experiment_id, run_name=f"dag:{time.strftime('%Y-%m-%d %H:%M:%S')}", tags=tags)
    return run.info.run_id


def end_dag_run(cfg: Config, run_id: str, status: str) -> None:
    """Close the DAG's parent run (FINISHED or FAILED); during an outage its status is spooled."""
    from srtrack.mlflow_server import configure_client

    configure_client(cfg.mlflow)
    close_run(open_courier(cfg, _client(cfg)), run_id, status, {}, cfg.mlflow.outage_wait_s)
