"""What XGBoost's and LightGBM's autologging share: the training call's params, the logged
model started before training (as MLflow 3), per-iteration metrics (one batch per iteration,
linked to that model), early-stopping metrics, feature importance artifacts, the input
example captured from the dataset and the model completed at the end."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any

from . import _config, _safety

log = logging.getLogger("trackbook.autolog")
INPUT_EXAMPLE_ROWS = 5  # MLflow's INPUT_EXAMPLE_SAMPLE_ROWS
EXAMPLE_ATTR = "_trackbook_input_example"  # set on a DMatrix / lgb.Dataset at construction
_local = threading.local()


def note(flavor: str, message: str, *args: Any) -> None:
    """An expected shortfall (no input example ...): a log line, as MLflow logs it."""
    config = _config.get(flavor)
    level = logging.DEBUG if config is not None and config.silent else logging.WARNING
    log.log(level, "%s autolog: " + message, flavor, *args)


def capture_example(flavor: str) -> Callable[..., Any]:
    """A wrapper for a dataset class's ``__init__`` keeping its first rows as the example
    (a dataset cannot give its rows back afterwards)."""
    def __init__(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        data = args[0] if args else kwargs.get("data")
        if data is not None:
            try:
                if isinstance(data, (str, os.PathLike)):
                    raise ValueError("cannot gather an input example from a dataset loaded "
                                     "from a file")
                setattr(self, EXAMPLE_ATTR, (deepcopy(data[:INPUT_EXAMPLE_ROWS]), None))
            except Exception as exc:
                with contextlib.suppress(Exception):
                    setattr(self, EXAMPLE_ATTR, (None, str(exc)))
        return original(self, *args, **kwargs)
    return __init__


def example_of(dataset: Any) -> Any:
    example, error = getattr(dataset, EXAMPLE_ATTR, (None, None))
    if example is None:
        raise ValueError(error or "the training dataset was built before autolog was on")
    return example


def bind(fn: Callable[..., Any], args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> inspect.BoundArguments:
    return inspect.signature(fn).bind(*args, **kwargs)


def call_params(bound: inspect.BoundArguments, unlogged: frozenset[str]) -> dict[str, Any]:
    """The training function's arguments, defaults included, minus ``unlogged`` (MLflow's
    params from a call: ``num_boost_round``, ``early_stopping_rounds``...)."""
    full = bound.signature.bind_partial(*bound.args, **bound.kwargs)
    full.apply_defaults()
    return {k: v for k, v in full.arguments.items() if k not in unlogged}


def log_params(booster_params: Any, fn_params: dict[str, Any]) -> None:
    from ..tracking import fluent

    fluent.log_params({**dict(booster_params or {}), **fn_params})


def sanitize(metrics: dict[str, float]) -> dict[str, float]:
    """MLflow's metric names: ``ndcg@3`` becomes ``ndcg_at_3``."""
    return {k.replace("@", "_at_"): v for k, v in metrics.items()}


class Recorder:
    """Per-iteration evaluation results: kept (for the best-iteration metrics) and logged
    at ``step=iteration``, one batch per iteration, as MLflow's ``BatchMetricsLogger``:
    linked to the logged model ``model_id`` started before training (when models are
    logged), to no other model. :meth:`close` writes the links still held."""

    def __init__(self, flavor: str, model_id: str | None = None) -> None:
        from ._model_metrics import ModelMetrics

        self.flavor = flavor
        self.results: list[dict[str, float]] = []
        self.metrics = ModelMetrics(model_id, link_outputs=False)
        self._failed = False

    def record(self, metrics: dict[str, float], step: int) -> None:
        metrics = sanitize(metrics)
        self.results.append(metrics)
        if self._failed or not metrics:
            return
        try:
            self.metrics.log(metrics, step)
        except Exception as exc:
            self._failed = True  # warn once, not once per iteration
            _safety.warn(self.flavor, f"could not log per-iteration metrics ({type(exc).__name__}"
                                      f": {exc}); training is unaffected")

    def close(self) -> None:
        with _safety.guard(self.flavor, "link the per-iteration metrics to the logged model"):
            self.metrics.flush()


@contextlib.contextmanager
def training(flavor: str, model_id: str | None) -> Iterator[Recorder]:
    """A :class:`Recorder` for one training call; its model links are written when the
    call ends, and the model ``model_id`` is marked FAILED if training raises."""
    from ._model_metrics import fail_model

    recorder = Recorder(flavor, model_id)
    try:
        yield recorder
    except BaseException:
        recorder.close()
        if model_id is not None:
            with _safety.guard(flavor, "mark the logged model FAILED"):
                fail_model(model_id)
        raise
    recorder.close()


def start_model(flavor: str, log_models: bool) -> str | None:
    """The logged model the training's metrics link to (MLflow 3 creates it before
    training, without params), or None when no model is logged."""
    if not log_models:
        return None
    from ._model_metrics import start_model as start

    return _safety.call_safely(flavor, "start the logged model", start)


def log_early_stopping(stopped: int, best: int, best_metrics: dict[str, float],
                       extra_step: int, model_id: str | None = None,
                       dataset: Any = None) -> None:
    """MLflow's ``stopped_iteration``/``best_iteration`` metrics (step 0), then the best
    iteration's metrics again at the step after the last; as MLflow's autologging client
    logs them: a client ``log_batch`` linking them to ``model_id`` (else the active model)
    with ``dataset``'s name and digest, and to no other model."""
    from ..tracking import active_model, fluent
    from . import _sklearn_runs

    run_id = fluent._current().info.run_id
    model_id = model_id or active_model.get_active_model_id()
    _sklearn_runs.log_metrics(run_id, {"stopped_iteration": stopped, "best_iteration": best},
                              model_id=model_id, dataset=dataset)
    if best_metrics:
        _sklearn_runs.log_metrics(run_id, best_metrics, model_id=model_id, step=extra_step,
                                  dataset=dataset)


def log_importance(flavor: str, importance_type: str, importance: dict[str, Any],
                   indent: int | None = None) -> None:
    """``feature_importance_<type>.json`` now and ``.png`` (drawn on the background worker;
    the run waits for it before it ends) at the run's artifact root."""
    from ..tracking import fluent
    from . import _deferred, _plots

    name = f"feature_importance_{importance_type}"
    if importance:
        run_id = fluent._current().info.run_id
        _deferred.submit(run_id, flavor, f"plot {name}.png", _plots.save, run_id,
                         f"{name}.png", _plots.importance, list(importance),
                         list(importance.values()), importance_type)
    fluent.log_text(json.dumps(importance, indent=indent), f"{name}.json")


def resolve_example(flavor: str, config: _config.AutologConfig, get_example: Callable[[], Any],
                    predict: Callable[[Any], Any]) -> tuple[Any, Any]:
    """``(input_example, signature)`` for the logged model, as the settings ask."""
    if not (config.log_input_examples or config.log_model_signatures):
        return None, None
    try:
        example = get_example()
    except Exception as exc:
        note(flavor, "no input example or signature for the model: %s", exc)
        return None, None
    signature = None
    if config.log_model_signatures:
        try:
            from ..models.signature import infer_signature

            signature = infer_signature(example, predict(deepcopy(example)))
        except Exception as exc:
            note(flavor, "could not infer the model signature: %s", exc)
    return (example if config.log_input_examples else None), signature


# -- the scikit-learn wrappers' fit: its inner train call logs into the fit's run -------------
@contextlib.contextmanager
def in_fit(run: Any) -> Iterator[None]:
    previous = getattr(_local, "fit_run", None)
    _local.fit_run = run
    try:
        yield
    finally:
        _local.fit_run = previous


def fit_run() -> Any:
    return getattr(_local, "fit_run", None)


def fit_example(fit: Callable[..., Any], self: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> tuple[Any, Exception | None]:
    """The first rows of ``fit``'s ``X``, copied before training may change them."""
    try:
        X = bind(fit, (self, *args), kwargs).arguments["X"]
        return deepcopy(X[:INPUT_EXAMPLE_ROWS]), None
    except Exception as exc:
        return None, exc


def datasets_available() -> bool:
    """Whether this build has ``trackbook.data`` (dataset logging is skipped without it)."""
    import importlib.util

    return importlib.util.find_spec("trackbook.data") is not None
