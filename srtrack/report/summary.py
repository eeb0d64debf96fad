"""The study's one-view summary: a row per (benchmark, label, seed) with its headline scores."""

from __future__ import annotations

import pandas as pd

from srtrack.report.runs import StudyRuns
from srtrack.datasets import READERS

SUMMARY_ARTIFACT = "study_summary.json"


def study_summary(runs: StudyRuns) -> pd.DataFrame:
    """Every finished evaluation run (test splits and RGB retention) with the columns its benchmark is
    reported with, in percent, and the run id to find it by."""
    rows = []
    frame = runs.runs
    if frame.empty:
        return pd.DataFrame()
    for _, run in frame[frame["tags.stage"] == "evaluate"].iterrows():
        benchmark = run["tags.dataset"]
        row = {"benchmark": benchmark, "label": run["tags.label"], "seed": run["tags.seed"],
               "tuned_on": run.get("tags.tuned_on") if not pd.isna(run.get("tags.tuned_on")) else "",
               "model": run.get("tags.model", ""), "run_id": run["run_id"]}
        for name, metric in READERS[benchmark].columns:
            value = run.get(f"metrics.{metric}")
            row[f"{benchmark} {name}"] = None if value is None or pd.isna(value) else round(float(value) * 100, 2)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["benchmark", "tuned_on", "label", "seed"]).reset_index(drop=True)
