"""The Keras callback Keras autologging adds to ``fit``: optimizer params and the model
summary at train start, metrics per epoch (or every n steps) and validation metrics, with
MLflow's names and steps. Built lazily, as it subclasses ``keras.callbacks.Callback``."""

from __future__ import annotations

import functools
from typing import Any

from ._hookguard import HookGuard
from ._model_metrics import ModelMetrics

FLAVOR = "keras"


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in logs.items()}


@functools.cache
def callback_class() -> type:
    import keras

    class MetricsCallback(keras.callbacks.Callback):
        def __init__(self, log_every_epoch: bool, log_every_n_steps: int | None,
                     model_id: str | None) -> None:
            super().__init__()
            self.every_epoch = log_every_epoch
            self.every_n_steps = log_every_n_steps
            self.model_id = model_id  # MLflow 3 links the metrics to the logged model
            self.metrics = ModelMetrics(model_id)
            self.guard = HookGuard(FLAVOR)

        def on_train_begin(self, logs: Any = None) -> None:
            self.guard.run("log optimizer params", self._optimizer_params)
            self.guard.run("log the model summary", self._summary)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if self.every_epoch and logs is not None:
                self.guard.run("log epoch metrics", self._log, logs, epoch)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self.every_n_steps is not None and logs is not None:
                self.guard.run("log step metrics", self._step, logs)

        def on_test_end(self, logs: Any = None) -> None:
            if logs is not None:
                self.guard.run("log validation metrics", self._log,
                               {f"validation_{k}": v for k, v in logs.items()}, 0)

        def _optimizer_params(self) -> None:
            from ..tracking import fluent

            config = self.model.optimizer.get_config()
            fluent.log_params({f"optimizer_{k}": v for k, v in config.items()})

        def _summary(self) -> None:
            from ..tracking import fluent

            lines: list[str] = []
            self.model.summary(print_fn=lambda line, *a, **k: lines.append(line))
            fluent.log_text("\n".join(lines), "model_summary.txt")

        def _step(self, logs: dict[str, Any]) -> None:
            iteration = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            if iteration % self.every_n_steps == 0:
                self._log(logs, iteration)

        def _log(self, logs: dict[str, Any], step: int) -> None:
            self.metrics.log(_floats(logs), step)

    return MetricsCallback
