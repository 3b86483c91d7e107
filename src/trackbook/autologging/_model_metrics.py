"""Per-epoch/per-step metrics of a training callback that are the logged model's too (MLflow 3
links them to the model started before training), written cheaply.

``fluent.log_metrics(..., model_id=...)`` appends a metadata record per call (~0.1 ms, a
write to the log): a callback logging every step would pay it per step. Here the run gets
its points on the buffered fast path and the model's links are written in batches: every
:data:`BATCH` points, and when :meth:`ModelMetrics.flush` is called (end of training, in
success or failure, and after test metrics).
"""

from __future__ import annotations

import time

BATCH = 5000


class ModelMetrics:
    """Logs metric dicts into the current run and links them to ``model_id`` (if any)."""

    def __init__(self, model_id: str | None) -> None:
        self.model_id = model_id
        self._points: dict[str, list[tuple[str, float, int, int]]] = {}  # run id -> points
        self._count = 0

    def log(self, metrics: dict[str, float], step: int) -> None:
        from ..tracking import active_model, fluent

        if self.model_id is None:
            fluent.log_metrics(metrics, step=step)
            return
        ts = time.time_ns() // 1_000_000  # the run's point and the model's are one
        if active_model.get_active_model_id() is None:
            fluent.log_metrics(metrics, step=step, timestamp=ts)  # the buffered path
        else:  # the fluent call would link the points to the active model instead
            from ..tracking.client import Client
            from ..tracking.entities import Metric

            run_id = fluent._current().info.run_id
            Client().log_batch(run_id, metrics=[Metric(k, v, ts, step)
                                                for k, v in metrics.items()])
        points = self._points.setdefault(fluent._current().info.run_id, [])
        points += [(k, float(v), step, ts) for k, v in metrics.items()]
        self._count += len(metrics)
        if self._count >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the model's links of every point logged so far."""
        if not self._count or self.model_id is None:
            return
        from ..tracking import active_model
        from ..tracking.uri import get_store

        batches, self._points, self._count = self._points, {}, 0
        for run_id, points in batches.items():
            active_model.link_metrics(get_store(), self.model_id, run_id, points)

