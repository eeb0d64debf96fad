"""What a stage logs into its open MLflow run: params (flattened), metrics, tags, artifacts, the
splits it read as MLflow datasets, and its tracker as a logged model. Batched; `NullRun` stands in
on ranks that do not log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger("srtrack.mlflow")
_MAX_PARAM_CHARS = 6000
_BATCH = 100
MODEL_ID_TAG = "model_id"  # on a tuning run: the logged model of its tracker


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> `{"a.b.c": "value"}` with lists as JSON, for MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            text = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
            flat[name] = text[:_MAX_PARAM_CHARS]
    return flat


class StageRun:
    """A live MLflow run; thin wrappers that batch and flatten."""

    def __init__(self, client: Any, run_id: str, experiment_id: str):
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in flatten(params).items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[start:start + _BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._log_metrics(self.run_id, metrics, step)

    def _log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None = None,
                     model_id: str | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0, model_id=model_id, run_id=run_id) for k, v in metrics.items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(run_id, metrics=items[start:start + _BATCH])

    def log_metrics_to(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Metrics on another run of the study (an evaluation's scores on the tuning run it scores),
        and on the tracker that run logged, so the Models view shows its scores too. A run this store
        does not hold (a checkpoint trained elsewhere, with its run_id file) is skipped with a warning."""
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_run(run_id).data.tags
        except MlflowException:
            log.warning("run %s is not in this MLflow store: its scores are recorded on this run only", run_id)
            return
        self._log_metrics(run_id, metrics, model_id=tags.get(MODEL_ID_TAG))

    def log_model(self, path: Path, *, name: str, description: str, params: Mapping[str, Any],
                  tags: Mapping[str, Any]) -> str:
        """A tracker file as a logged model of this run, so the experiment's Models view lists it with
        its network description. The file is stored as written (no pickled Python to run on load);
        returns the model id, also tagged on the run."""
        from mlflow.entities import LoggedModelOutput

        model = self.client.create_logged_model(
            self.experiment_id, name=name, source_run_id=self.run_id, model_type="srtrack tracker",
            params=flatten(params),
            tags={**{k: str(v) for k, v in tags.items() if v is not None}, "mlflow.note.content": description})
        self.client.log_model_artifact(model.model_id, str(path))
        self.client.finalize_logged_model(model.model_id, "READY")
        self.client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, 0)])  # the run page lists it
        self.set_tags({MODEL_ID_TAG: model.model_id})
        return model.model_id

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items() if v is not None])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_split(self, index: Mapping[str, Any], context: str) -> None:
        """A prepared split as an MLflow dataset input (name, digest of its index, source = its root), so
        the UI's dataset column says what the run read; `context` is `train`, `test` or `prior`."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        from srtrack.io import json_sha256

        name = f"{index['benchmark']}-{index['split']}"
        digest = json_sha256([s.get("boxes_sha256") for s in index.get("sequences", [])])[:16]
        profile = json.dumps({"sequences": index.get("n_sequences"), "frames": index.get("n_frames"),
                              "modality": index.get("modality")})
        dataset = Dataset(name, digest, "local", str(index.get("root", "")), profile=profile)
        self.client.log_inputs(self.run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])


class NullRun(StageRun):
    """Stands in on ranks other than 0: every call does nothing."""

    def __init__(self) -> None:
        super().__init__(None, "", "")

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        pass

    def log_split(self, index: Mapping[str, Any], context: str) -> None:
        pass

    def log_metrics_to(self, run_id: str, metrics: Mapping[str, float]) -> None:
        pass

    def log_model(self, path: Path, *, name: str, description: str, params: Mapping[str, Any],
                  tags: Mapping[str, Any]) -> str:
        return ""
