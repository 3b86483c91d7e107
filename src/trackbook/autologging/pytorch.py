"""PyTorch Lightning autologging: MLflow's ``mlflow.pytorch.autolog``.

``Trainer.fit`` (``pytorch_lightning`` and, when installed, ``lightning.pytorch``) logs:

- params ``epochs``, ``optimizer_name`` and the first optimizer's defaults (``lr``...), and
  an ``EarlyStopping`` callback's ``monitor``, ``mode``, ``patience``, ``min_delta``,
  ``stopped_epoch`` (before training);
- every ``trainer.callback_metrics`` value at the end of each training epoch (step = epoch,
  one batch per epoch), or of every n-th batch for step-only metrics (step = global step);
- after an early stop, metrics ``stopped_epoch``, ``restored_epoch``, ``best_score``,
  ``wait_count``;
- tag ``Mode`` (``training``; ``testing`` after ``trainer.test``), ``model_summary.txt``,
  checkpoints under ``checkpoints/`` and the model (``trackbook.pytorch.log_model``, name
  ``model``, signature from the first batch) with ``restored_model_checkpoint/`` after an
  early stop.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .._errors import InvalidValueError
from . import _checkpoints, _enable, _patch, _runs
from ._hookguard import HookGuard
from ._model_metrics import fail_model, start_model

FLAVOR = "pytorch"
FRAMEWORKS = ("pytorch_lightning", "lightning.pytorch")
SUPPORTED = ("2.4.0", "2.6.6")  # MLflow 3.17's tested pytorch-lightning range
_EARLY_STOP_PARAMS = ("monitor", "mode", "patience", "min_delta", "stopped_epoch")


def autolog(log_every_n_epoch: int = 1, log_every_n_step: int | None = None,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, registered_model_name: str | None = None,
            extra_tags: dict[str, str] | None = None, checkpoint: bool = True,
            checkpoint_monitor: str | None = "val_loss", checkpoint_mode: str = "min",
            checkpoint_save_best_only: bool = True, checkpoint_save_weights_only: bool = False,
            checkpoint_save_freq: str | int = "epoch",
            log_model_signatures: bool = True) -> None:
    """Log PyTorch Lightning training (``Trainer.fit``) into the active or a new run.

    Parameters
    ----------
    log_every_n_epoch
        Log epoch metrics every n epochs (1: each epoch).
    log_every_n_step
        Also log step-only metrics every n training steps, at the global step.
    log_models
        Log the trained module as a ``pytorch`` model named ``model``.
    log_datasets
        Accepted for MLflow compatibility: MLflow's Lightning autologging logs no
        datasets either.
    disable, exclusive, disable_for_unsupported_versions, silent, extra_tags
        As in :func:`trackbook.autolog`.
    registered_model_name
        Register each logged model as a new version of this registered model.
    checkpoint
        Log checkpoints during training.
    checkpoint_monitor, checkpoint_mode, checkpoint_save_best_only
        With ``checkpoint_save_best_only`` only a checkpoint whose ``checkpoint_monitor``
        metric improves (``"min"`` or ``"max"``) is logged, replacing the last one.
    checkpoint_save_weights_only
        Checkpoints hold the weights only, not optimizer and loop state.
    checkpoint_save_freq
        ``"epoch"``, or a number of batches between checkpoints.
    log_model_signatures
        Infer the model signature from the first training batch's input and output.
    """
    settings = dict(locals())
    if type(log_every_n_epoch) is not int or log_every_n_epoch < 1:
        raise InvalidValueError(f"log_every_n_epoch must be a positive integer, "
                                f"got {log_every_n_epoch!r}")
    if log_every_n_step is not None and (type(log_every_n_step) is not int
                                         or log_every_n_step < 1):
        raise InvalidValueError(f"log_every_n_step must be None or a positive integer, "
                                f"got {log_every_n_step!r}")
    if checkpoint and not disable:
        _checkpoints.check_settings(checkpoint_monitor, checkpoint_mode,
                                    checkpoint_save_best_only, checkpoint_save_freq)
    for framework in FRAMEWORKS:
        _enable.enable(FLAVOR, framework, _install, settings, supported=SUPPORTED)


def _install(module: ModuleType) -> None:
    _patch.patch(FLAVOR, module.Trainer, "fit",
                 lambda original, trainer, *args, **kwargs:
                 _fit(module, original, trainer, *args, **kwargs))


def _fit(pl: ModuleType, original: Any, trainer: Any, *args: Any, **kwargs: Any) -> Any:
    from . import _config

    with _runs.training_run(FLAVOR) as run:
        config = _config.get(FLAVOR)
        if run is None or config is None:
            return original(trainer, *args, **kwargs)
        guard = HookGuard(FLAVOR)
        model_id = guard.run("start the logged model", start_model) if config.log_models \
            else None
        early_stop = guard.run("log early stopping params", _early_stop_params, pl, trainer)
        callback = guard.run("add the logging callbacks", _add_callbacks, pl, trainer,
                             run.info.run_id, config, model_id)
        try:
            result = original(trainer, *args, **kwargs)
        except BaseException:
            if model_id is not None:
                guard.run("mark the logged model FAILED", fail_model, model_id)
            raise
        finally:
            if callback is not None:
                callback.restore_forward()
                guard.run("link the epoch metrics to the logged model", callback.metrics.flush)
        if early_stop is not None:
            guard.run("log early stopping metrics", _early_stop_metrics, early_stop, model_id)
        guard.run("log the model summary", _log_summary, pl, trainer)
        if config.log_models:
            guard.run("log the model", _log_model, trainer, callback, early_stop, config,
                      model_id)
        return result



def _early_stop_params(pl: ModuleType, trainer: Any) -> Any:
    from ..tracking import fluent

    found = None
    for cb in trainer.callbacks:
        if isinstance(cb, pl.callbacks.EarlyStopping):
            found = cb
            fluent.log_params({p: getattr(cb, p) for p in _EARLY_STOP_PARAMS if hasattr(cb, p)})
    return found


def _add_callbacks(pl: ModuleType, trainer: Any, run_id: str, config: Any,
                   model_id: str | None) -> Any:
    from ._lightning import callback_classes

    metrics_cls, checkpoint_cls = callback_classes(pl)
    # a trainer fitted before keeps our callbacks (trainer.test logs through them): replace
    trainer.callbacks[:] = [cb for cb in trainer.callbacks
                            if not isinstance(cb, (metrics_cls, checkpoint_cls))]
    callback = metrics_cls(run_id, config.option("log_every_n_epoch", 1),
                           config.option("log_every_n_step"),
                           config.log_models and config.log_model_signatures, model_id)
    trainer.callbacks.append(callback)
    if config.option("checkpoint", True):
        trainer.callbacks.append(checkpoint_cls(
            monitor=config.option("checkpoint_monitor", "val_loss"),
            mode=config.option("checkpoint_mode", "min"),
            save_best_only=config.option("checkpoint_save_best_only", True),
            save_weights_only=config.option("checkpoint_save_weights_only", False),
            save_freq=config.option("checkpoint_save_freq", "epoch")))
    return callback


def _early_stop_metrics(cb: Any, model_id: str | None) -> None:
    from ..tracking import fluent

    if cb.stopped_epoch == 0:
        return
    metrics = {"stopped_epoch": cb.stopped_epoch,
               "restored_epoch": cb.stopped_epoch - max(1, cb.patience)}
    if hasattr(cb, "best_score"):
        metrics["best_score"] = float(cb.best_score)
    if hasattr(cb, "wait_count"):
        metrics["wait_count"] = cb.wait_count
    fluent.log_metrics({k: float(v) for k, v in metrics.items()}, step=0, model_id=model_id)


def _log_summary(pl: ModuleType, trainer: Any) -> None:
    from ..tracking import fluent

    summary = importlib.import_module(f"{pl.__name__}.utilities.model_summary")
    fluent.log_text(str(summary.ModelSummary(trainer.lightning_module, max_depth=-1)),
                    "model_summary.txt")


def _log_model(trainer: Any, callback: Any, early_stop: Any, config: Any,
               model_id: str | None) -> None:
    from ..models import pytorch as flavor
    from ..tracking import fluent

    signature = None
    if callback is not None and callback.example is not None:
        from ..models.signature import infer_signature

        x, y = callback.example
        signature = infer_signature(x.numpy(), y.numpy())
    # pickle: what MLflow's autologging saves (its default format warns about pickle)
    flavor.log_model(trainer.lightning_module, name="model", model_id=model_id,
                     registered_model_name=config.registered_model_name,
                     signature=signature, serialization_format="pickle")
    best = getattr(getattr(trainer, "checkpoint_callback", None), "best_model_path", "")
    if early_stop is not None and best:
        fluent.log_artifact(best, "restored_model_checkpoint")
