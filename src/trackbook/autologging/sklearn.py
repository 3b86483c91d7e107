"""scikit-learn autologging: ``tb.sklearn.autolog()``, MLflow 3.17's ``mlflow.sklearn.autolog``.

>>> tb.sklearn.autolog()
>>> model = LogisticRegression().fit(X, y)       # a run with params, training_* metrics, model
>>> model.score(X_test, y_test)                  # logs LogisticRegression_score_X_test there

The estimators patched are MLflow's: every class of ``sklearn.utils.all_estimators()`` plus
``Pipeline``, ``GridSearchCV`` and ``RandomizedSearchCV``, minus ``sklearn.preprocessing``,
``sklearn.impute``, ``sklearn.feature_extraction``, ``sklearn.feature_selection`` and
``ColumnTransformer`` (data preparation, logged only as part of a pipeline). Their ``fit``,
``fit_transform`` and ``fit_predict`` log; ``predict``, ``predict_proba``,
``predict_log_proba``, ``transform`` and ``score`` and the ``sklearn.metrics`` functions feed
the post-training metrics. Only the outermost call logs, and while one fit logs in any thread
no other fit does (MLflow's training session); ``cross_val_score`` and the other
``sklearn.model_selection`` helpers MLflow lists run with autologging off.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from . import _config as _configs
from . import _enable, _hooks, _patch, _runs, _safety, _sklearn_log, _sklearn_post

FLAVOR = "sklearn"
SUPPORTED = ("1.6.0", "1.9.1")  # MLflow 3.17's tested scikit-learn range for autologging
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
PREDICT_METHODS = ("predict", "predict_proba", "transform", "predict_log_proba")
EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                    "sklearn.feature_selection")
EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
NOT_METRICS = ("check_scoring", "get_scorer", "make_scorer", "get_scorer_names")
# run with autologging off: they fit many copies of an estimator (MLflow's list)
AUTOLOG_OFF = ("cross_validate", "cross_val_predict", "cross_val_score", "learning_curve",
               "permutation_test_score", "validation_curve")

_busy_lock = threading.Lock()
_busy = 0  # fits being logged, in any thread


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5,
            log_post_training_metrics: bool = True, serialization_format: str = "cloudpickle",
            registered_model_name: str | None = None, pos_label: Any = None,
            extra_tags: dict[str, str] | None = None) -> None:
    """Turn on (or off) autologging of scikit-learn training, as ``mlflow.sklearn.autolog``.

    Parameters
    ----------
    log_input_examples
        Store the first 5 training rows as the model's input example.
    log_model_signatures
        Infer the model signature from those rows and the model's predictions.
    log_models
        Log the fitted estimator as the model ``model`` (and ``best_estimator`` for
        parameter searches).
    log_datasets
        Record the training data as a run input (context ``train``) and the data later
        predicted on as ``eval`` inputs.
    disable, exclusive, disable_for_unsupported_versions, silent, extra_tags
        As in :func:`trackbook.autolog`.
    max_tuning_runs
        Child runs for the best this-many candidates of a ``GridSearchCV`` or
        ``RandomizedSearchCV`` (by ``rank_test_score``); None for all of them.
    log_post_training_metrics
        Log ``model.score(...)`` and ``sklearn.metrics`` results on a fitted model's
        predictions into its run.
    serialization_format
        ``"cloudpickle"`` (MLflow's autolog default), ``"pickle"`` or ``"skops"``.
    registered_model_name
        Register every logged ``model`` as a new version of this registered model.
    pos_label
        The positive label for binary precision/recall/f1 (``average="binary"``).

    Raises
    ------
    InvalidValueError
        ``max_tuning_runs`` is negative, or ``serialization_format`` is not one of the three.
    """
    from .._errors import InvalidValueError
    from ..models.sklearn import SUPPORTED_SERIALIZATION_FORMATS

    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise InvalidValueError(
            f"`max_tuning_runs` must be non-negative, instead got {max_tuning_runs}.")
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidValueError(
            f"Unrecognized serialization format: {serialization_format!r}. Please specify "
            f"one of the following supported formats: {SUPPORTED_SERIALIZATION_FORMATS}.")
    settings = dict(locals())
    del settings["InvalidValueError"], settings["SUPPORTED_SERIALIZATION_FORMATS"]
    _enable.enable(FLAVOR, "sklearn", _install, settings, supported=SUPPORTED)


# -- patching ------------------------------------------------------------------------------

def public_modules() -> list[str]:
    """The modules ``sklearn.utils.all_estimators()`` walks (no ``._`` part, no tests),
    found on disk without importing them."""
    import pkgutil

    import sklearn
    from sklearn.utils import discovery

    ignored = set(getattr(discovery, "_MODULE_TO_IGNORE", {"tests", "externals", "setup",
                                                            "conftest"}))
    found: list[str] = []

    def walk(paths: list[str], prefix: str) -> None:
        for info in pkgutil.iter_modules(paths, prefix):
            parts = info.name.split(".")
            if "._" in info.name or any(p in ignored for p in parts):
                continue
            found.append(info.name)
            if info.ispkg:
                walk([str(Path(info.module_finder.path) / parts[-1])], info.name + ".")

    walk(list(sklearn.__path__), "sklearn.")
    return found


def estimators_in(module: ModuleType) -> list[type]:
    """The classes of ``module`` that ``all_estimators()`` lists and MLflow patches (plus
    the meta-estimators ``Pipeline``, ``GridSearchCV``, ``RandomizedSearchCV``), minus
    data-preparation modules and ``ColumnTransformer``."""
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    meta = (GridSearchCV, RandomizedSearchCV, Pipeline)
    chosen = []
    for name, cls in inspect.getmembers(module, inspect.isclass):
        listed = (not name.startswith("_") and issubclass(cls, BaseEstimator)
                  and name != "BaseEstimator" and not getattr(cls, "__abstractmethods__", ()))
        if (listed or cls in meta) and not cls.__module__.startswith(EXCLUDED_MODULES) \
                and f"{cls.__module__}.{cls.__name__}" not in EXCLUDED_CLASSES:
            chosen.append(cls)
    return chosen


def estimators_to_patch() -> list[type]:
    """Every class MLflow patches (this imports all of scikit-learn, as MLflow does;
    autolog itself patches each module when it is imported)."""
    import importlib

    found: set[type] = set()
    for name in public_modules():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            found.update(estimators_in(importlib.import_module(name)))
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def metric_functions() -> list[str]:
    from sklearn import metrics

    return [name for name in metrics.__all__
            if name not in NOT_METRICS and not name.startswith("plot_")
            and callable(getattr(metrics, name, None))
            and not inspect.isclass(getattr(metrics, name))]


def _patch_method(cls: type, name: str, wrapper: Any) -> None:
    """Patch ``cls.name`` (inherited too); an ``available_if`` method is patched in its
    descriptor, so ``hasattr(model, "predict_proba")`` still answers as before."""
    if not hasattr(cls, name):
        return
    raw = inspect.getattr_static(cls, name)
    if hasattr(raw, "fn") and (hasattr(raw, "check") or hasattr(raw, "delegate_names")):
        _patch.patch(FLAVOR, raw, "fn", wrapper)
    elif callable(raw) or isinstance(raw, (classmethod, staticmethod)):
        _patch.patch(FLAVOR, cls, name, wrapper, inherited=True)


def _patch_module(module: ModuleType) -> None:
    for cls in estimators_in(module):
        for name in FIT_METHODS:
            _patch_method(cls, name, _fit)
        for name in PREDICT_METHODS:
            _patch_method(cls, name, _predict)
        _patch_method(cls, "score", _score)


def _install(sklearn: ModuleType) -> None:
    import sklearn.metrics
    import sklearn.model_selection

    # all_estimators() would import every module of scikit-learn (many seconds): each
    # module's estimators are patched instead when it is imported, which is before any of
    # its classes can be used
    for name in ("sklearn.pipeline", "sklearn.model_selection", *public_modules()):
        _hooks.when_imported(name, _patch_module)
    for name in metric_functions():
        _patch.patch(FLAVOR, sklearn.metrics, name, _metric)
    for name in AUTOLOG_OFF:
        if hasattr(sklearn.model_selection, name):
            _patch.patch(FLAVOR, sklearn.model_selection, name, _untracked)


# -- the wrappers ----------------------------------------------------------------------------

def _untracked(original: Any, *args: Any, **kwargs: Any) -> Any:
    # being a patched call is enough: the fits inside are nested, so none of them logs
    global _busy
    with _busy_lock:
        _busy += 1
    try:
        return original(*args, **kwargs)
    finally:
        with _busy_lock:
            _busy -= 1


def _fit(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    global _busy
    config = _configs.get(FLAVOR)
    with _busy_lock:
        if config is None or _busy:
            claimed = False
        else:
            _busy += 1
            claimed = True
    if not claimed:
        return original(self, *args, **kwargs)
    try:
        with _runs.training_run(FLAVOR) as run:
            if run is None:
                return original(self, *args, **kwargs)
            fit_log = None
            with _safety.guard(FLAVOR, "read the training data"):
                data = _sklearn_log.training_data(self.fit, args, kwargs)
                fit_log = _sklearn_log.FitLog(run, self, config, data)
            if fit_log is not None:
                fit_log.before()
            result = original(self, *args, **kwargs)
            if fit_log is not None:
                with _safety.guard(FLAVOR, "log the trained model"):
                    fit_log.after()
                if config.option("log_post_training_metrics", True):
                    _sklearn_post.follow(self, fit_log.run_id, fit_log.model_id)
            return result
    finally:
        with _busy_lock:
            _busy -= 1


def _post_training(model: Any) -> tuple[str, str | None] | None:
    config = _configs.get(FLAVOR)
    if config is None or _busy or not config.option("log_post_training_metrics", True):
        return None
    return _sklearn_post.run_of(model)


def _predict(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    followed = _post_training(self)
    result = original(self, *args, **kwargs)
    if followed is None:
        return result
    with _safety.guard(FLAVOR, "follow a prediction for post-training metrics"):
        run_id, model_id = followed
        data = _first_arg(original, args, kwargs)
        name = _sklearn_post.dataset_name(run_id, data)
        _sklearn_post.remember_prediction(result, name, run_id, model_id)
        config = _configs.get(FLAVOR)
        if config is not None and config.log_datasets:
            from . import _sklearn_runs

            _sklearn_runs.log_dataset(run_id, _sklearn_runs.dataset(data), "eval")
    return result


def _score(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    followed = _post_training(self)
    value = original(self, *args, **kwargs)
    if followed is None or not _sklearn_post.loggable(value):
        return value
    with _safety.guard(FLAVOR, "log a post-training score"):
        run_id, model_id = followed
        call = _sklearn_post.call_text(self, original, args, kwargs)
        name = _sklearn_post.dataset_name(run_id, _first_arg(original, args, kwargs))
        _sklearn_post.log(run_id, model_id, f"{type(self).__name__}_score", name, value, call)
    return value


def _metric(original: Any, *args: Any, **kwargs: Any) -> Any:
    config = _configs.get(FLAVOR)
    value = original(*args, **kwargs)
    if (config is None or _busy or not config.option("log_post_training_metrics", True)
            or not _sklearn_post.loggable(value)):
        return value
    with _safety.guard(FLAVOR, f"log the post-training metric {original.__name__}"):
        found = _sklearn_post.prediction_of(args, kwargs)
        if found is not None:
            name, run_id, model_id = found
            call = _sklearn_post.call_text(None, original, args, kwargs)
            _sklearn_post.log(run_id, model_id, original.__name__, name, value, call)
    return value


def _first_arg(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args:
        return args[0]
    names = list(inspect.signature(method).parameters)
    return kwargs.get(names[1]) if len(names) > 1 else None


__all__ = ["autolog"]
