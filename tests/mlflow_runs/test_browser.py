"""What a researcher sees in MLflow's UI, in a real browser: headless Chromium (Debian's `chromium`,
which .ci/run installs) on a real `mlflow server`, through scripts/mlflow_ui_screenshots.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO
from srtrack.config import load_config
from srtrack.mlflow_runs import leads_to_notes, runs_page, stage_run
from srtrack.mlflow_server import ML_VIEW, NOTE_TAG

pytestmark = [pytest.mark.slow, pytest.mark.mlflow_server, pytest.mark.browser]


@pytest.fixture
def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("CI runs the browser test: no chromium on PATH (apt-get install chromium)")
    if found is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


def screenshots_script():
    spec = importlib.util.spec_from_file_location("mlflow_ui_screenshots", REPO / "scripts/mlflow_ui_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered(browser: str, url: str) -> str:
    """The page's DOM after its JavaScript ran."""
    return subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                           "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout


def test_a_run_page_shows_its_description_and_links_in_a_real_browser(tmp_path: Path, tmp_config, mlflow_server,
                                                                      browser) -> None:
    cfg = load_config(tmp_config({"mlflow": {"tracking_uri": mlflow_server}}))
    with stage_run(cfg, "tune", name="tune rgbt/srft s0", modality="rgbt", label="srft", method="srft") as tune:
        tune_id = tune.run_id
    with stage_run(cfg, "evaluate", name="evaluate lasher/srft s0", dataset="lasher", label="srft",
                   tune_run_id=tune_id) as evaluation:
        evaluation_id, experiment = evaluation.run_id, evaluation.experiment_id
    client = MlflowClient(mlflow_server)
    rows = [{**r.data.tags, "run_id": r.info.run_id} for r in client.search_runs([experiment])]
    for run_id, note in leads_to_notes(rows, experiment).items():  # what the report stage writes
        client.set_tag(run_id, NOTE_TAG, note)

    page = f"{mlflow_server}/#/experiments/{experiment}/runs/{tune_id}?{ML_VIEW}"
    dom = rendered(browser, page)
    # the description as Markdown rendered by the UI, its link to the evaluation an anchor of the same UI
    assert "tune rgbt/srft s0" in dom and "Leads to" in dom and "its tracker is scored by" in dom
    assert f'href="#/experiments/{experiment}/runs/{evaluation_id}"' in dom
    # the closing message's filtered runs table: the search box holds the filter
    filtered = rendered(browser, runs_page(mlflow_server, experiment, "tags.stage = 'evaluate'"))
    assert "tags.stage = 'evaluate'" in filtered.replace("&#39;", "'") and "matching runs" in filtered
    shot = tmp_path / "run.png"
    screenshots_script().screenshot(browser, page, shot)
    assert shot.stat().st_size > 30_000, "a rendered page, not a blank one"
