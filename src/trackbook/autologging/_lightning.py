"""The Lightning callbacks PyTorch autologging adds to a ``Trainer``: metrics and params
(``MetricsCallback``) and checkpoints (``CheckpointCallback``), with MLflow's names and steps.

They are built per Lightning package (``pytorch_lightning`` or ``lightning.pytorch``), as
each has its own ``Callback`` base class. Every hook logs through a :class:`HookGuard`.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from .._errors import RunStateError
from ._checkpoints import CheckpointLogger
from ._hookguard import HookGuard
from ._model_metrics import ModelMetrics

FLAVOR = "pytorch"


def _floats(metrics: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in metrics.items()}


def optimizer_params(trainer: Any) -> dict[str, Any]:
    """``epochs``, ``optimizer_name`` and the first optimizer's ``defaults`` (MLflow's params)."""
    params: dict[str, Any] = {"epochs": trainer.max_epochs}
    optimizers = getattr(trainer, "optimizers", None)
    if optimizers:
        optimizer = optimizers[0]
        inner = getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer wraps it
        params["optimizer_name"] = type(inner).__name__
        params.update(getattr(inner, "defaults", None) or {})
    return params


@functools.cache
def callback_classes(pl: ModuleType) -> tuple[type, type]:
    """``(MetricsCallback, CheckpointCallback)`` subclassing ``pl.Callback``."""

    class MetricsCallback(pl.Callback):  # type: ignore[misc, name-defined]
        """Logs params at train start, metrics per epoch (and every n steps), test metrics."""

        def __init__(self, run_id: str, log_every_n_epoch: int, log_every_n_step: int | None,
                     capture_signature: bool, model_id: str | None = None) -> None:
            self.run_id = run_id
            self.model_id = model_id  # MLflow 3 links the metrics to the logged model
            self.metrics = ModelMetrics(model_id)
            self.every_epoch = log_every_n_epoch
            self.every_step = log_every_n_step
            self.capture_signature = capture_signature
            self.guard = HookGuard(FLAVOR)
            self.step_metrics: set[str] = set()
            self.epoch_metrics: set[str] = set()
            self.steps_per_batch = 1
            self.example: tuple[Any, Any] | None = None  # (input, output) of the first batch
            self._patched: tuple[Any, Any] | None = None

        # -- hooks (rank zero only, as MLflow) ---------------------------------------------
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.global_rank == 0:
                self.guard.run("log optimizer params", self._train_start, trainer)
                if self.capture_signature:
                    self.guard.run("capture a signature example", self._watch_forward,
                                   trainer.strategy.lightning_module)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.global_rank == 0:
                self.guard.run("log epoch metrics", self._epoch_end, trainer, pl_module)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            if self.every_step and trainer.global_rank == 0:
                self.guard.run("log step metrics", self._batch_end, trainer)

        def on_test_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.global_rank == 0:
                self.guard.run("log test metrics", self._test_end, trainer)

        # -- logging -------------------------------------------------------------------------
        def _train_start(self, trainer: Any) -> None:
            from ..tracking import fluent

            fluent.set_tags({"Mode": "training"})
            # Lightning >= 1.6 counts one global step per optimizer step
            self.steps_per_batch = max(1, len(getattr(trainer, "optimizers", None) or [1]))
            fluent.log_params(optimizer_params(trainer))

        def _epoch_end(self, trainer: Any, pl_module: Any) -> None:
            metrics = {k: v for k, v in trainer.callback_metrics.items()
                       if k not in self.step_metrics}
            self.epoch_metrics.update(metrics)
            epoch = pl_module.current_epoch
            if (epoch + 1) % self.every_epoch == 0 and not trainer.sanity_checking:
                self.metrics.log(_floats(metrics), epoch)

        def _batch_end(self, trainer: Any) -> None:
            # Step-only metrics: for a metric logged on step and epoch ('loss' with
            # 'loss_step' and 'loss_epoch') the plain name is left to the epoch log.
            current = trainer.callback_metrics
            metrics = {k: v for k, v in current.items()
                       if k not in self.epoch_metrics and f"{k}_step" not in current}
            self.step_metrics.update(metrics)
            step = trainer.global_step
            if ((step // self.steps_per_batch) + 1) % self.every_step == 0 \
                    and not trainer.sanity_checking:
                self.metrics.log(_floats(metrics), step)

        def _test_end(self, trainer: Any) -> None:
            from ..tracking import fluent

            metrics = _floats(trainer.callback_metrics)
            active = fluent.active_run()
            if active is not None and active.info.run_id == self.run_id:
                fluent.set_tags({"Mode": "testing"})
                self.metrics.log(metrics, 0)
                self.metrics.flush()
                return
            # trainer.test() after the autologged fit ended its run: MLflow logs into the
            # ended run; trackbook writes only to running runs, so resume it for the call
            if active is not None:
                raise RunStateError(f"the fitted run {self.run_id} has ended and run "
                                    f"{active.info.run_id} is active; test metrics go to "
                                    "the fit's run only while it or no run is active")
            with fluent.start_run(run_id=self.run_id):
                fluent.set_tags({"Mode": "testing"})
                self.metrics.log(metrics, 0)
                self.metrics.flush()

        # -- the first batch's input and output, for the model signature ------------------
        def _watch_forward(self, module: Any) -> None:
            import torch

            had = "forward" in vars(module)
            original = module.forward

            def forward(*inputs: Any, **kwargs: Any) -> Any:
                result = original(*inputs, **kwargs)
                if self._patched is not None:
                    self.restore_forward()
                    if len(inputs) == 1 and isinstance(inputs[0], torch.Tensor) \
                            and isinstance(result, torch.Tensor):
                        self.example = (inputs[0].detach().cpu().clone(),
                                        result.detach().cpu().clone())
                return result

            module.forward = forward
            self._patched = (module, original if had else None)

        def restore_forward(self) -> None:
            if self._patched is None:
                return
            module, previous = self._patched
            self._patched = None
            if previous is None:
                vars(module).pop("forward", None)
            else:
                module.forward = previous

    class CheckpointCallback(pl.Callback):  # type: ignore[misc, name-defined]
        """Logs Lightning checkpoints (``.pth``) per epoch or every n batches."""

        def __init__(self, **settings: Any) -> None:
            self.logger = CheckpointLogger(suffix=".pth", **settings)
            self.guard = HookGuard(FLAVOR)

        def _save(self, trainer: Any) -> None:
            def save(path: str) -> None:
                # not trainer.save_checkpoint: its barrier would wait for the other ranks,
                # which never call this rank-zero-only hook
                connector = getattr(trainer, "_checkpoint_connector", None)
                if connector is None:
                    trainer.save_checkpoint(path, weights_only=self.logger.save_weights_only)
                    return
                state = connector.dump_checkpoint(self.logger.save_weights_only)
                trainer.strategy.save_checkpoint(state, path)

            self.logger.maybe_save(trainer.current_epoch, trainer.global_step,
                                   _floats(trainer.callback_metrics), save)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            freq = self.logger.save_freq
            if isinstance(freq, int) and trainer.global_rank == 0 and trainer.global_step > 0 \
                    and trainer.global_step % freq == 0:
                self.guard.run("log a checkpoint", self._save, trainer)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if self.logger.save_freq == "epoch" and trainer.global_rank == 0:
                self.guard.run("log a checkpoint", self._save, trainer)

    return MetricsCallback, CheckpointCallback
