"""Screenshots of what a user sees in the MLflow UI on a study's store, taken in headless Chromium.

    .venv/bin/python scripts/mlflow_ui_screenshots.py results/mlflow.db docs/images/mlflow [--port 5077]

Starts `mlflow server` on the SQLite store (localhost only), opens the experiment's runs table, a
tuning run, the Models view and the study run's summary table, and writes one PNG each. Needs
Debian's chromium (`apt-get install chromium`); not part of the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from srtrack.mlflow_server import ML_VIEW


def wait_for(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the MLflow server did not answer at {url} within {timeout_s:.0f} s")


def screenshot(browser: str, url: str, path: Path, size: str = "1600,1000") -> None:
    """One page, rendered with JavaScript until the virtual-time budget is spent."""
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={size}", "--virtual-time-budget=20000", f"--screenshot={path}", url],
                   check=True, capture_output=True, timeout=120)
    print(f"{path}  <- {url}", file=sys.stderr)


def pages(base: str, store: str) -> dict[str, str]:
    """The UI pages to draw: name -> URL, from the store's experiment, runs and models."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("srtrack")
    if experiment is None:
        raise SystemExit(f"{store} has no experiment 'srtrack' (run the DAG first)")
    eid = experiment.experiment_id
    tuned = client.search_runs([eid], "tags.stage = 'tune'", order_by=["attributes.start_time DESC"], max_results=1)
    study = client.search_runs([eid], "tags.`srtrack.role` = 'study'", max_results=1)
    page = f"{base}/#/experiments/{eid}"
    out = {"runs": f"{page}/runs", "models": f"{page}/models"}
    if tuned:
        out["tune_run"] = f"{page}/runs/{tuned[0].info.run_id}"
        out["tune_run_metrics"] = f"{page}/runs/{tuned[0].info.run_id}/model-metrics"
    if study:
        out["study_summary"] = f"{page}/runs/{study[0].info.run_id}/artifacts"
    return {name: f"{url}?{ML_VIEW}" for name, url in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path, help="the SQLite file of the study's MLflow store")
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--port", type=int, default=5077)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on PATH (apt-get install chromium)")
    store = f"sqlite:///{args.store.resolve()}"
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
                               "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"{base}/health")
        args.out.mkdir(parents=True, exist_ok=True)
        for name, url in pages(base, store).items():
            screenshot(browser, url, args.out / f"{name}.png")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
