"""Our numbers: the study's finished stage runs, found with `mlflow.search_runs`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from srtrack.config import Config

KEY = ["tags.stage", "tags.dataset", "tags.modality", "tags.label", "tags.seed", "tags.tuned_on"]


@dataclass
class StudyRuns:
    """The latest finished run per (stage, dataset, modality, label, seed), and what was dropped."""

    runs: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)

    def per_sequence(self, run_id: str) -> pd.DataFrame | None:
        """An evaluation run's per-sequence scores (its `per_sequence.csv` artifact), None without one."""
        if run_id not in self._tables:
            import tempfile

            import mlflow
            from mlflow.exceptions import MlflowException

            from srtrack.layout import TABLE_FILE

            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"evaluate/{TABLE_FILE}",
                                                               dst_path=tmp)
                    self._tables[run_id] = pd.read_csv(path)
                except (MlflowException, OSError):
                    self._tables[run_id] = None
        return self._tables[run_id]

    def tag_rows(self) -> list[dict[str, str]]:
        """Each run's tags (names without the `tags.` prefix) and its `run_id`."""
        columns = [c for c in self.runs.columns if c.startswith("tags.")]
        rows = []
        for _, run in self.runs.iterrows():
            rows.append({c[5:]: run[c] for c in columns if isinstance(run[c], str)} | {"run_id": run["run_id"]})
        return rows

    def evaluation(self, dataset: str, label: str, seed: int, tuned_on: str | None = None) -> pd.Series | None:
        """An evaluation run; `tuned_on` picks a tracker tuned on that modality scored on other data."""
        return self._one("evaluate", seed, **{"tags.dataset": dataset, "tags.label": label, "tags.tuned_on": tuned_on})

    def tuning(self, modality: str, label: str, seed: int) -> pd.Series | None:
        return self._one("tune", seed, **{"tags.modality": modality, "tags.label": label})

    def _one(self, stage: str, seed: int, **tags: str) -> pd.Series | None:
        if self.runs.empty:
            return None
        hit = (self.runs["tags.stage"] == stage) & (self.runs["tags.seed"] == str(seed))
        for column, value in tags.items():
            hit &= self.runs[column].isna() if value is None else self.runs[column] == value
        rows = self.runs[hit]
        return None if rows.empty else rows.iloc[0]


def collect_runs(cfg: Config, tracking_uri: str) -> StudyRuns:
    """Every finished stage run of `study.name` in `mlflow.experiment`, the newest per key.

    Several finished runs of one key (a rerun) are reduced to the newest, with a warning when their
    numbers differ: picking the best of them would select on the test set.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    query = (f"tags.study = '{cfg.study.name}' and tags.`srtrack.role` = 'stage' "
             "and attributes.status = 'FINISHED'")
    runs = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment], filter_string=query, max_results=100_000,
                              order_by=["attributes.start_time DESC"])
    if runs.empty:
        return StudyRuns(runs)
    for column in KEY:
        if column not in runs:
            runs[column] = None
    runs["tags.label"] = runs["tags.label"].fillna(runs.get("tags.method"))
    runs = runs.sort_values("start_time", ascending=False, kind="stable")
    warnings = []
    metrics = [c for c in runs.columns if c.startswith("metrics.")]
    for key, group in runs[runs["tags.stage"] == "evaluate"].groupby(KEY, dropna=False):
        if len(group) > 1 and len(group[metrics].drop_duplicates()) > 1:
            warnings.append(f"{len(group)} finished evaluation runs of {'/'.join(str(k) for k in key[1:] if not pd.isna(k))} with different "
                            f"scores; the newest ({group['run_id'].iloc[0][:8]}) is used, not the best (choosing "
                            "the best would select on the test set)")
    return StudyRuns(runs.drop_duplicates(KEY, keep="first").reset_index(drop=True), warnings)
