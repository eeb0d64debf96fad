"""Reaching a tracking server: fail in seconds, with the fix, instead of MLflow's minutes of retries;
and the query that opens its UI on the model-training pages."""

from __future__ import annotations

import os

from srtrack.errors import ConfigError

# MLflow 3's UI picks its GenAI or model-training pages from this query parameter (else from the
# browser's last choice, GenAI at first), not from the experiment's `mlflow.experimentKind` tag
ML_VIEW = "workflowType=machine_learning"


def check_server(uri: str, timeout_s: float = 10.0) -> None:
    """Fail in seconds, with what to do, when an http(s) tracking server does not answer (MLflow's
    client would retry for minutes in every job)."""
    import base64
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
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
        raise ConfigError(f"the MLflow tracking server {uri} answers {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(f"the MLflow tracking server {uri} does not answer ({exc}); start it with "
                          "scripts/mlflow-server.sh, or point SRTRACK_MLFLOW_URI (Slurm profile) or "
                          "mlflow.tracking_uri at a running one") from None
