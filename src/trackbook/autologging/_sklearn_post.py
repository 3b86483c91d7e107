"""Post-training metrics: after an autologged ``fit``, ``model.score(X_test, y_test)`` and
``sklearn.metrics.<fn>(y_test, model.predict(X_test))`` log into that fit's run.

Keys are MLflow's: ``<metric>[-<call index>]_<dataset variable name>`` (the variable found
in the caller's frame, ``unknown_dataset`` when there is none), e.g. ``accuracy_score_X_test``,
``accuracy_score-2_X_test``, ``LogisticRegression_score_X_test``; each call is recorded in
the run's ``metric_info.json`` as its call text.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from collections import defaultdict
from typing import Any

_OURS = "trackbook.autologging"
_lock = threading.Lock()
# estimator -> (run_id, model_id): the fitted models whose predictions are followed
_models: weakref.WeakKeyDictionary[Any, tuple[str, str | None]] = weakref.WeakKeyDictionary()
# id(prediction result) -> (dataset name, run_id, model_id), dropped when the result is freed
_predictions: dict[int, tuple[str, str, str | None]] = {}
# run_id -> dataset variable name -> ids of the distinct objects seen under that name
_datasets: defaultdict[str, defaultdict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
# run_id -> metric name -> [(metric key, call text)]
_calls: defaultdict[str, defaultdict[str, list[tuple[str, str]]]] = defaultdict(
    lambda: defaultdict(list))


def follow(model: Any, run_id: str, model_id: str | None) -> None:
    """Log ``model``'s later scores and metric calls into ``run_id`` (and ``model_id``)."""
    with contextlib.suppress(TypeError):  # not weakly referenceable: not followed
        _models[model] = (run_id, model_id)


def run_of(model: Any) -> tuple[str, str | None] | None:
    try:
        return _models.get(model)
    except TypeError:
        return None


def loggable(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def var_name(var: Any, fallback: str) -> str:
    """The name the outermost caller gave ``var``: past autologging's own frames, frames
    that received it as an argument are passed through and the first one that did not is
    searched (MLflow's rule)."""
    if var is None:
        return fallback
    try:
        frame = inspect.currentframe()
        while frame is not None and frame.f_globals.get("__name__", "").startswith(_OURS):
            frame = frame.f_back
        while frame is not None:
            info = inspect.getargvalues(frame)
            args = [info.locals[a] for a in info.args if a in info.locals]
            if info.varargs:
                args.extend(info.locals.get(info.varargs, ()))
            if info.keywords:
                args.extend(info.locals.get(info.keywords, {}).values())
            if any(var is a for a in args):
                frame = frame.f_back
                continue
            for name, value in frame.f_locals.items():
                if value is var:
                    return name
            return fallback
        return fallback
    except Exception:
        return fallback


def _indexed(name: str, index: int) -> str:
    return name if index == 0 else f"{name}-{index + 1}"  # '-' is never in a variable name


def dataset_name(run_id: str, dataset: Any) -> str:
    """``dataset``'s variable name, ``-2``, ``-3``... for other objects under that name."""
    name = var_name(dataset, "unknown_dataset")
    with _lock:
        seen = _datasets[run_id][name]
        if id(dataset) not in seen:
            seen.append(id(dataset))
        return _indexed(name, seen.index(id(dataset)))


def remember_prediction(result: Any, name: str, run_id: str, model_id: str | None) -> None:
    key = id(result)
    with _lock:
        _predictions[key] = (name, run_id, model_id)
    with contextlib.suppress(TypeError):  # not weakly referenceable: kept until reused
        weakref.finalize(result, _predictions.pop, key, None)


def prediction_of(args: tuple[Any, ...], kwargs: dict[str, Any]
                  ) -> tuple[str, str, str | None] | None:
    """The (dataset name, run_id, model_id) of the first argument that is a followed
    prediction."""
    import numpy as np

    for arg in (*args, *kwargs.values()):
        if arg is not None and not np.isscalar(arg):
            found = _predictions.get(id(arg))
            if found is not None:
                return found
    return None


def call_text(owner: Any, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``accuracy_score(y_true=y_test, y_pred=<ndarray>)``: the call as MLflow records it."""
    import numpy as np

    def text(arg: Any) -> str:
        if arg is None or np.isscalar(arg):
            if isinstance(arg, str) and len(arg) > 32:
                return repr(arg[:32] + "...")
            return repr(arg)
        return var_name(arg, f"<{type(arg).__name__}>")

    names = list(inspect.signature(fn).parameters)
    if owner is not None:
        names.pop(0)
    title = f"{type(owner).__name__}.{fn.__name__}" if owner is not None else fn.__name__
    parts = [f"{n}={text(a)}" for n, a in zip(names, args, strict=False)]
    parts += [f"{n}={text(a)}" for n, a in kwargs.items()]
    return f"{title}({', '.join(parts)})"


def log(run_id: str, model_id: str | None, metric: str, dataset: str, value: Any,
        call: str) -> None:
    """Log ``value`` under its MLflow key and rewrite the run's ``metric_info.json``."""
    from . import _sklearn_runs

    with _lock:
        calls = _calls[run_id][metric]
        key = f"{_indexed(metric, len(calls))}_{dataset}"
        calls.append((key, call))
        info = dict(sorted(c for cs in _calls[run_id].values() for c in cs))
    _sklearn_runs.log_metrics(run_id, {key: value}, model_id=model_id)
    _sklearn_runs.client().log_dict(run_id, info, "metric_info.json")
