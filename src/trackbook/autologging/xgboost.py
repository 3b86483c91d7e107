"""XGBoost autologging (MLflow's ``mlflow.xgboost.autolog``).

``xgboost.train`` logs the booster params and the call's own arguments as params, every
``evals`` metric at each iteration as ``<eval name>-<metric>`` (step = iteration), with
``early_stopping_rounds`` the ``stopped_iteration``/``best_iteration`` metrics and the
best iteration's metrics one step after the last, ``feature_importance_<type>.json`` and
``.png`` per importance type, and the Booster as the ``model`` (xgboost flavor): a logged
model started before training, with no params, that every metric above is linked to. The
scikit-learn wrappers' ``fit`` (``XGBClassifier``...) log the same through their inner
``train`` call and log the wrapper itself as the model.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import _boosting, _config, _enable, _patch, _runs, _safety

FLAVOR = "xgboost"
SUPPORTED = ("2.1.2", "3.4.1")  # the range MLflow 3.17 autologs
# train() arguments that are not logged as params (MLflow's list)
_UNLOGGED = frozenset({"params", "dtrain", "evals", "obj", "feval", "evals_result",
                       "xgb_model", "callbacks", "learning_rates"})


def autolog(importance_types: list[str] | None = None, log_input_examples: bool = False,
            log_model_signatures: bool = True, log_models: bool = True,
            log_datasets: bool = True, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            registered_model_name: str | None = None, model_format: str = "ubj",
            extra_tags: dict[str, str] | None = None) -> None:
    """Turn XGBoost autologging on (or off with ``disable=True``); MLflow's keywords.

    Parameters
    ----------
    importance_types
        Booster ``get_score`` importance types to log (default ``["weight"]``).
    log_input_examples, log_model_signatures
        Log the first 5 training rows as the model's input example / infer its signature.
    log_models
        Log the trained model as ``model``.
    log_datasets
        Log the training and evaluation datasets as run inputs (needs ``trackbook.data``).
    disable, exclusive, disable_for_unsupported_versions, silent, extra_tags
        As in :func:`trackbook.autolog`.
    registered_model_name
        Register every logged model under this name.
    model_format
        ``"ubj"``, ``"json"`` or ``"xgb"``: the logged model's file format.
    """
    from ..models.xgboost import SUPPORTED_MODEL_FORMATS

    if model_format not in SUPPORTED_MODEL_FORMATS:
        from .._errors import InvalidValueError

        raise InvalidValueError(f"model_format {model_format!r} is not supported; use one "
                                f"of {list(SUPPORTED_MODEL_FORMATS)}")
    settings = {
        "log_input_examples": log_input_examples, "log_model_signatures": log_model_signatures,
        "log_models": log_models, "log_datasets": log_datasets, "disable": disable,
        "exclusive": exclusive, "disable_for_unsupported_versions":
            disable_for_unsupported_versions, "silent": silent,
        "registered_model_name": registered_model_name, "extra_tags": extra_tags,
        "importance_types": list(importance_types) if importance_types is not None
        else ["weight"], "model_format": model_format,
    }
    _enable.enable(FLAVOR, "xgboost", _install, settings, supported=SUPPORTED)


def _install(xgboost: ModuleType) -> None:
    import xgboost.sklearn

    _patch.patch(FLAVOR, xgboost, "train", _train)
    # XGBModel.fit calls xgboost.sklearn.train: it logs params and metrics into the fit's run
    _patch.patch(FLAVOR, xgboost.sklearn, "train", _sklearn_train, reentrant=True)
    _patch.patch(FLAVOR, xgboost.DMatrix, "__init__", _boosting.capture_example(FLAVOR))
    for cls in _subclasses(xgboost.XGBModel):
        _patch.patch(FLAVOR, cls, "fit", _fit)


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += [c for c in _subclasses(sub) if c not in out]
    return out


def _train(original: Any, *args: Any, **kwargs: Any) -> Any:
    config = _config.get(FLAVOR)
    with _runs.training_run(FLAVOR) as run:
        if run is None or config is None:
            return original(*args, **kwargs)
        return _train_logged(original, args, kwargs, config, config.log_models)


def _sklearn_train(original: Any, *args: Any, **kwargs: Any) -> Any:
    config = _config.get(FLAVOR)
    if config is None:
        return original(*args, **kwargs)
    if _boosting.fit_run() is not None:
        return _train_logged(original, args, kwargs, config, log_models=False)
    if _safety.depth(FLAVOR) > 1:
        return original(*args, **kwargs)  # inside a fit that does not log (exclusive)
    with _runs.training_run(FLAVOR) as run:
        if run is None:
            return original(*args, **kwargs)
        return _train_logged(original, args, kwargs, config, log_models=False)


def _callback(xgboost: Any, recorder: _boosting.Recorder) -> Any:
    class AutologCallback(xgboost.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            try:
                recorder.record({f"{data}-{metric}": values[-1]
                                 for data, metrics in evals_log.items()
                                 for metric, values in metrics.items()}, epoch)
            except Exception as exc:
                _safety.warn(FLAVOR, f"could not read iteration {epoch}'s metrics "
                                     f"({type(exc).__name__}: {exc}); training is unaffected")
            return False

    return AutologCallback()


def _train_logged(original: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  config: _config.AutologConfig, log_models: bool) -> Any:
    import xgboost

    bound = _boosting.bind(original, args, kwargs)  # a TypeError here is the caller's
    arguments = bound.arguments
    with _safety.guard(FLAVOR, "log params"):
        _boosting.log_params(arguments.get("params"),
                             _boosting.call_params(bound, _UNLOGGED))
    dtrain = arguments.get("dtrain")
    dataset = None
    if config.log_datasets and dtrain is not None:
        with _safety.guard(FLAVOR, "log datasets"):
            dataset = _log_datasets(dtrain, arguments.get("evals"))
    model_id = _boosting.start_model(FLAVOR, log_models)
    with _boosting.training(FLAVOR, model_id) as recorder:
        arguments["callbacks"] = [*(arguments.get("callbacks") or []),
                                  _callback(xgboost, recorder)]
        model = original(*bound.args, **bound.kwargs)
    if log_models:
        with _safety.guard(FLAVOR, "log the model"):
            _log_booster(model, dtrain, config, model_id)
    if arguments.get("early_stopping_rounds"):
        with _safety.guard(FLAVOR, "log the early stopping metrics"):
            results = recorder.results
            best = int(model.best_iteration)
            _boosting.log_early_stopping(len(results) - 1, best,
                                         results[best] if best < len(results) else {},
                                         len(results), model_id, dataset)
    for importance_type in config.option("importance_types", ["weight"]):
        with _safety.guard(FLAVOR, f"log the {importance_type} feature importance"):
            _boosting.log_importance(FLAVOR, importance_type,
                                     model.get_score(importance_type=importance_type))
    return model


def _log_booster(model: Any, dtrain: Any, config: _config.AutologConfig,
                 model_id: str | None) -> None:
    import xgboost

    from ..models import xgboost as flavor

    example, signature = _boosting.resolve_example(
        FLAVOR, config, lambda: _boosting.example_of(dtrain),
        lambda x: model.predict(xgboost.DMatrix(x)))
    # into the model started before training: MLflow's has no params (log_model(params=)
    # is ignored for an existing model) and already holds the per-iteration metrics
    flavor.log_model(model, name="model", model_id=model_id, signature=signature,
                     input_example=example, registered_model_name=config.registered_model_name,
                     model_format=config.option("model_format", "ubj"))


def _fit(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    config = _config.get(FLAVOR)
    with _runs.training_run(FLAVOR) as run:
        if run is None or config is None:
            return original(self, *args, **kwargs)
        example, error = _boosting.fit_example(original, self, args, kwargs)
        with _boosting.in_fit(run):
            result = original(self, *args, **kwargs)
        if config.log_models:
            with _safety.guard(FLAVOR, "log the model"):
                _log_wrapper(self, example, error, config)
        return result


def _log_wrapper(model: Any, example: Any, error: Exception | None,
                 config: _config.AutologConfig) -> None:
    from ..models import xgboost as flavor

    def get_example() -> Any:
        if error is not None:
            raise error
        return example

    example, signature = _boosting.resolve_example(FLAVOR, config, get_example, model.predict)
    flavor.log_model(model, name="model", signature=signature, input_example=example,
                     registered_model_name=config.registered_model_name,
                     model_format=config.option("model_format", "ubj"))


def _log_datasets(dtrain: Any, evals: Any) -> Any:
    """The training and ``evals`` datasets as run inputs (context ``train`` / ``eval``);
    returns the training dataset (the early-stopping metrics name it)."""
    if not _boosting.datasets_available():
        return None  # this build has no trackbook.data: nothing to log them with
    from .. import data as tb_data
    from ..data.dataset_source import code_source
    from ..tracking import fluent

    def dataset(d: Any, name: str | None) -> Any:
        features = d.get_data()
        kw = {"name": name} if name else {}
        if hasattr(features, "toarray"):
            features = features.toarray()
        return tb_data.from_numpy(features, source=code_source(), **kw)

    train = dataset(dtrain, None)
    fluent.log_input(train, context="train")
    for d, name in evals or []:
        fluent.log_input(dataset(d, name), context="eval")
    return train
