"""System metrics of a stage run (CPU, memory, disk, network, GPUs where pynvml finds them) sampled
by MLflow's own monitors in a thread and sent through the run's courier, so that an outage of the
tracking server delays them instead of ending them (MLflow's SystemMetricsMonitor stops for good
at the first failed call)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

log = logging.getLogger("srtrack.mlflow")
PREFIX = "system/"


def _monitors() -> list[Any]:
    from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
    from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
    from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

    monitors: list[Any] = [CPUMonitor(), DiskMonitor(), NetworkMonitor()]
    try:
        from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

        monitors.append(GPUMonitor())
    except Exception:  # noqa: BLE001 - no NVIDIA driver or pynvml: no GPU metrics
        pass
    return monitors


class SystemSampler:
    """Every `interval_s` seconds (`$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` overrides), one sample
    of every monitor as `system/*` metrics of `run`, steps counting from `first_step`."""

    def __init__(self, run: Any, interval_s: float, first_step: int = 0):
        self.run, self.step = run, first_step
        self.interval_s = float(os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL") or interval_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="srtrack-system-metrics", daemon=True)

    def start(self) -> None:
        self.monitors = _monitors()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            metrics: dict[str, float] = {}
            try:
                for monitor in self.monitors:
                    monitor.collect_metrics()
                    metrics.update(monitor.aggregate_metrics())
                    monitor.clear_metrics()
            except Exception as exc:  # noqa: BLE001 - a sensor that fails must not touch the stage
                log.warning("system metrics stopped: %s", exc)
                return
            self.run.log_metrics({f"{PREFIX}{k}": v for k, v in metrics.items()}, self.step)
            self.step += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
