"""Per-epoch/per-step metrics of a training callback that are the logged model's too (MLflow 3
links them to the model started before training), written cheaply; and that model's start.

``fluent.log_metrics(..., model_id=...)`` appends a metadata record per call (~0.1 ms, a
write to the log): a callback logging every step would pay it per step. Here the run gets
its points on the buffered fast path and the model's links are written in batches: every
:data:`BATCH` points, and when :meth:`ModelMetrics.flush` is called (end of training, in
success or failure, and after test metrics).
"""

from __future__ import annotations

import time

BATCH = 5000


def start_model() -> str:
    """MLflow 3's ``_initialize_logged_model("model")`` before training: a PENDING logged
    model without params, so the training metrics link to it; ``log_model(model_id=...)``
    completes it after training."""
    from ..models.logged_fluent import initialize_logged_model

    return initialize_logged_model(name="model").model_id


def fail_model(model_id: str) -> None:
    """Mark the model :func:`start_model` began FAILED: its training raised."""
    from ..models.logged_fluent import finalize_logged_model

    finalize_logged_model(model_id, "FAILED")


class ModelMetrics:
    """Logs metric dicts into the current run and links them to a logged model.

    As MLflow 3's callbacks: a point links to ``model_id``, else to the active model
    (``set_active_model``), and to that model only. With neither, ``link_outputs`` links it
    as fluent ``log_metrics`` does, to the models the run logged at that step (MLflow's
    Keras callback); ``link_outputs=False`` links it to nothing, as MLflow's
    ``BatchMetricsLogger`` (a client ``log_batch``: Lightning, XGBoost, LightGBM).
    """

    def __init__(self, model_id: str | None, *, link_outputs: bool = True) -> None:
        self.model_id = model_id
        self.link_outputs = link_outputs
        # (model id, run id) -> points
        self._points: dict[tuple[str, str], list[tuple[str, float, int, int]]] = {}
        self._count = 0

    def log(self, metrics: dict[str, float], step: int) -> None:
        from ..tracking import active_model, fluent

        active = active_model.get_active_model_id()
        model_id = self.model_id or active
        if model_id is None and self.link_outputs:
            fluent.log_metrics(metrics, step=step)
            return
        ts = time.time_ns() // 1_000_000  # the run's point and the model's are one
        run = fluent._current()
        outputs = run._outputs
        if active is None and not (outputs and step in outputs):
            fluent.log_metrics(metrics, step=step, timestamp=ts)  # the buffered path
        else:  # fluent log_metrics would link them itself: the run's points only
            for key, value in metrics.items():
                fluent._log_metric_checked(key, value, step, ts, None)
        if model_id is None:
            return
        points = self._points.setdefault((model_id, run.info.run_id), [])
        points += [(k, float(v), step, ts) for k, v in metrics.items()]
        self._count += len(metrics)
        if self._count >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the model links of every point logged so far."""
        if not self._count:
            return
        from ..tracking import active_model
        from ..tracking.uri import get_store

        batches, self._points, self._count = self._points, {}, 0
        for (model_id, run_id), points in batches.items():
            active_model.link_metrics(get_store(), model_id, run_id, points)
