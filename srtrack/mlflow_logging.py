"""What a stage logs into its open MLflow run: params (flattened), metrics, tags, artifacts, the
splits it read as MLflow datasets, and its tracker as a logged model. Each is a record for the
courier (srtrack/mlflow_delivery.py); `NullRun` stands in on ranks that do not log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from srtrack.mlflow_server import NOTE_TAG

_MAX_PARAM_CHARS = 6000
MODEL_ID_TAG = "model_id"  # on a tuning run: the logged model of its tracker
FIGURE_SUFFIX = ".png"  # the figures a run shows beside other runs' (StageRun.log_outputs)


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
    """A live MLflow run. Every write is a record handed to the courier (srtrack/mlflow_delivery.py),
    which sends it in order without holding the stage up, through an outage of the server too."""

    def __init__(self, courier: Any, run_id: str, experiment_id: str):
        self.courier = courier
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.failure: str | None = None  # set by `fail`: the run ends FAILED although nothing raised

    def fail(self, reason: str) -> None:
        """End the run FAILED with `reason` (a stage that reports bad input and exits 1 without raising)."""
        self.failure = reason

    def log_params(self, params: Mapping[str, Any]) -> None:
        from srtrack.mlflow_delivery import batch_ops

        self.courier.send(batch_ops(self.run_id, params=flatten(params)))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import time

        from srtrack.mlflow_delivery import batch_ops

        now = int(time.time() * 1000)
        self.courier.send(batch_ops(self.run_id, metrics=[(k, float(v), now, step or 0) for k, v in metrics.items()]))

    def log_metrics_to(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Metrics on another run of the study (an evaluation's scores on the tuning run it scores),
        and on the tracker that run logged, so the Models view shows its scores too. A run this store
        does not hold (a checkpoint trained elsewhere, with its run_id file) is skipped with a warning."""
        import time

        self.courier.send({"op": "log_metrics_to", "run_id": self.run_id, "target_run_id": run_id,
                           "metrics": {k: float(v) for k, v in metrics.items()},
                           "timestamp": int(time.time() * 1000), "model_id_tag": MODEL_ID_TAG})

    def log_model(self, path: Path, *, name: str, description: str, params: Mapping[str, Any],
                  tags: Mapping[str, Any]) -> None:
        """A tracker file as a logged model of this run, so the experiment's Models view lists it with
        its network description. The file is stored as written (no pickled Python to run on load); its
        id is tagged on the run (`model_id`)."""
        self.courier.send({"op": "log_model", "run_id": self.run_id, "experiment_id": self.experiment_id,
                           "path": str(Path(path).resolve()), "name": name, "params": flatten(params),
                           "tags": {**{k: str(v) for k, v in tags.items() if v is not None},
                                    NOTE_TAG: description}, "model_id_tag": MODEL_ID_TAG})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from srtrack.mlflow_delivery import batch_ops

        self.courier.send(batch_ops(self.run_id, tags={k: str(v) for k, v in tags.items() if v is not None}))

    def tag_other_run(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Tags of another run of the study (the report stage writes the runs' "Leads to" links)."""
        from srtrack.mlflow_delivery import batch_ops

        self.courier.send(batch_ops(run_id, tags=tags))

    def tag_model(self, model_id: str, tags: Mapping[str, str]) -> None:
        """Tags of a logged model of the study (the evaluations that scored it)."""
        self.courier.send({"op": "set_model_tags", "run_id": self.run_id, "model_id": model_id, "tags": dict(tags)})

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.courier.send({"op": "log_artifact", "run_id": self.run_id, "path": str(Path(path).resolve()),
                           "artifact_path": artifact_path})

    def log_outputs(self, paths: Iterable[Path], folder: str) -> None:
        """A stage's output files: every figure (PNG) at the artifact root, where MLflow's compare view
        finds the same figure in several runs and shows them side by side (it looks at the root only);
        every other file under `folder`."""
        for path in paths:
            self.log_artifact(path, None if Path(path).suffix == FIGURE_SUFFIX else folder)

    def log_text(self, text: str, artifact_file: str) -> None:
        """A small text artifact, carried in the record itself (it may be sent after its source is gone)."""
        self.courier.send({"op": "log_text", "run_id": self.run_id, "text": text, "artifact_file": artifact_file})

    def log_split(self, index: Mapping[str, Any], context: str) -> None:
        """A prepared split as an MLflow dataset input (name, digest of its index, source = its root), so
        the UI's dataset column says what the run read; `context` is `train`, `test` or `prior`."""
        from srtrack.io import json_sha256

        digest = json_sha256([s.get("boxes_sha256") for s in index.get("sequences", [])])[:16]
        profile = json.dumps({"sequences": index.get("n_sequences"), "frames": index.get("n_frames"),
                              "modality": index.get("modality")})
        dataset = {"name": f"{index['benchmark']}-{index['split']}", "digest": digest, "source_type": "local",
                   "source": str(index.get("root", "")), "profile": profile}
        self.courier.send({"op": "log_inputs", "run_id": self.run_id, "dataset": dataset, "context": context})


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

    def tag_other_run(self, run_id: str, tags: Mapping[str, str]) -> None:
        pass

    def tag_model(self, model_id: str, tags: Mapping[str, str]) -> None:
        pass

    def log_split(self, index: Mapping[str, Any], context: str) -> None:
        pass

    def log_metrics_to(self, run_id: str, metrics: Mapping[str, float]) -> None:
        pass

    def log_model(self, path: Path, *, name: str, description: str, params: Mapping[str, Any],
                  tags: Mapping[str, Any]) -> None:
        pass

    def log_text(self, text: str, artifact_file: str) -> None:
        pass
