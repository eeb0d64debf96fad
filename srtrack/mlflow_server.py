"""Reaching a tracking server: fail in seconds, with the fix, instead of MLflow's minutes of retries;
MLflow's own retries bounded from the config; the probe that tells an outage from a refusal; and
the query that opens its UI on the model-training pages."""

from __future__ import annotations

import os
import time

from srtrack.config.types import MlflowConfig
from srtrack.errors import ConfigError, TrackingServerUnavailable

# MLflow 3's UI picks its GenAI or model-training pages from this query parameter (else from the
# browser's last choice, GenAI at first), not from the experiment's `mlflow.experimentKind` tag
ML_VIEW = "workflowType=machine_learning"
NOTE_TAG = "mlflow.note.content"  # the description the UI shows of a run or a logged model (Markdown)
CHECK_ATTEMPTS = 3  # a server restarting for a few seconds does not fail a job's start


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def configure_client(settings: MlflowConfig) -> None:
    """Bound MLflow's HTTP retries (its default, 7 with doubling back-off, blocks a call ~4 minutes on a
    dead server) from `mlflow.request_retries` / `request_timeout_s`. MLflow's own environment
    variables, where a user set them, win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.request_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(settings.request_timeout_s)))


def reachable(uri: str, timeout_s: float) -> bool:
    """Whether the server answers its unauthenticated `/health` (a store that is not a server: True)."""
    import urllib.request

    if not is_http(uri):
        return True
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def check_server(uri: str, timeout_s: float = 10.0, attempts: int = CHECK_ATTEMPTS) -> None:
    """Fail in seconds, with what to do, when an http(s) tracking server does not answer (exit 1:
    TrackingServerUnavailable) or refuses this job's credentials (exit 2: ConfigError). A server that
    does not answer is asked `attempts` times, 1 and then 2 seconds apart."""
    for attempt in range(attempts):
        try:
            _ask(uri, timeout_s)
            return
        except TrackingServerUnavailable:
            if attempt == attempts - 1:
                raise
            time.sleep(2 ** attempt)


def _ask(uri: str, timeout_s: float) -> None:
    import base64
    import urllib.error
    import urllib.request

    if not is_http(uri):
        return
    # an authenticated call, so that missing or wrong credentials fail here too
    request = urllib.request.Request(f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ConfigError(f"the MLflow tracking server {uri} refuses this job ({exc.code} {exc.reason}): set "
                              "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of it") from None
        raise TrackingServerUnavailable(f"the MLflow tracking server {uri} answers {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingServerUnavailable(f"the MLflow tracking server {uri} does not answer ({reason}); start it with "
                                        "scripts/mlflow-server.sh, or point SRTRACK_MLFLOW_URI (Slurm profile) or "
                                        "mlflow.tracking_uri at a running one") from None
