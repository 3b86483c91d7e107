"""LightGBM autologging (MLflow's ``mlflow.lightgbm.autolog``).

``lightgbm.train`` logs the booster params and the call's own arguments as params, every
``valid_sets`` metric at each iteration as ``<valid name>-<metric>`` (step = iteration;
unnamed sets are ``valid_0``...), with early stopping (``model.best_iteration > 0``) the
``stopped_iteration``/``best_iteration`` metrics and the best iteration's metrics one step
after the last, ``feature_importance_split``/``_gain`` ``.json`` and ``.png``, and the
Booster as the ``model``: a logged model started before training, with no params, that
every metric above is linked to. The scikit-learn wrappers' ``fit`` (``LGBMClassifier``...) log
the same through their inner ``train`` call and log the wrapper itself as the model.
MLflow's LightGBM autolog has no ``importance_types`` or ``model_format``; neither has this.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import _boosting, _config, _enable, _patch, _runs, _safety

FLAVOR = "lightgbm"
SUPPORTED = ("4.6.0", "4.7.0")  # the range MLflow 3.17 autologs
IMPORTANCE_TYPES = ("split", "gain")
_UNLOGGED = frozenset({"params", "train_set", "valid_sets", "valid_names", "fobj", "feval",
                       "init_model", "learning_rates", "callbacks"})


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, registered_model_name: str | None = None,
            extra_tags: dict[str, str] | None = None) -> None:
    """Turn LightGBM autologging on (or off with ``disable=True``); MLflow's keywords.

    Parameters
    ----------
    log_input_examples, log_model_signatures
        Log the first 5 training rows as the model's input example / infer its signature.
    log_models
        Log the trained model as ``model``.
    log_datasets
        Log the training and validation datasets as run inputs (needs ``trackbook.data``).
    disable, exclusive, disable_for_unsupported_versions, silent, extra_tags
        As in :func:`trackbook.autolog`.
    registered_model_name
        Register every logged model under this name.
    """
    settings = {
        "log_input_examples": log_input_examples, "log_model_signatures": log_model_signatures,
        "log_models": log_models, "log_datasets": log_datasets, "disable": disable,
        "exclusive": exclusive, "disable_for_unsupported_versions":
            disable_for_unsupported_versions, "silent": silent,
        "registered_model_name": registered_model_name, "extra_tags": extra_tags,
    }
    _enable.enable(FLAVOR, "lightgbm", _install, settings, supported=SUPPORTED)


def _install(lightgbm: ModuleType) -> None:
    import lightgbm.sklearn

    _patch.patch(FLAVOR, lightgbm, "train", _train)
    _patch.patch(FLAVOR, lightgbm.sklearn, "train", _sklearn_train, reentrant=True)
    _patch.patch(FLAVOR, lightgbm.Dataset, "__init__", _boosting.capture_example(FLAVOR))
    todo = [lightgbm.LGBMModel]
    while todo:
        cls = todo.pop()
        _patch.patch(FLAVOR, cls, "fit", _fit)
        todo += cls.__subclasses__()


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


def _callback(recorder: _boosting.Recorder) -> Any:
    def autolog_callback(env: Any) -> None:
        try:
            recorder.record({f"{item[0]}-{item[1]}": item[2]
                             for item in env.evaluation_result_list or []}, env.iteration)
        except Exception as exc:
            _safety.warn(FLAVOR, f"could not read iteration {env.iteration}'s metrics "
                                 f"({type(exc).__name__}: {exc}); training is unaffected")

    return autolog_callback


def _train_logged(original: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  config: _config.AutologConfig, log_models: bool) -> Any:
    bound = _boosting.bind(original, args, kwargs)
    arguments = bound.arguments
    with _safety.guard(FLAVOR, "log params"):
        _boosting.log_params(arguments.get("params"),
                             _boosting.call_params(bound, _UNLOGGED))
    train_set = arguments.get("train_set")
    if config.log_datasets and train_set is not None:
        with _safety.guard(FLAVOR, "log datasets"):
            _log_datasets(train_set, arguments.get("valid_sets"), arguments.get("valid_names"))
    model_id = _boosting.start_model(FLAVOR, log_models)
    with _boosting.training(FLAVOR, model_id) as recorder:
        arguments["callbacks"] = [*(arguments.get("callbacks") or []), _callback(recorder)]
        model = original(*bound.args, **bound.kwargs)
    best = int(getattr(model, "best_iteration", 0) or 0)
    if best > 0:
        with _safety.guard(FLAVOR, "log the early stopping metrics"):
            results = recorder.results
            _boosting.log_early_stopping(len(results), best,
                                         results[best - 1] if best <= len(results) else {},
                                         len(results), model_id)
    for importance_type in IMPORTANCE_TYPES:
        with _safety.guard(FLAVOR, f"log the {importance_type} feature importance"):
            values = model.feature_importance(importance_type=importance_type).tolist()
            _boosting.log_importance(FLAVOR, importance_type,
                                     dict(zip(model.feature_name(), values, strict=True)), indent=2)
    if log_models:
        with _safety.guard(FLAVOR, "log the model"):
            _log_model(model, lambda: _boosting.example_of(train_set), config, model_id)
    return model


def _log_model(model: Any, get_example: Any, config: _config.AutologConfig,
               model_id: str | None = None) -> None:
    from ..models import lightgbm as flavor

    example, signature = _boosting.resolve_example(FLAVOR, config, get_example, model.predict)
    # with model_id: the model started before training (MLflow's has no params)
    flavor.log_model(model, name="model", model_id=model_id, signature=signature,
                     input_example=example, registered_model_name=config.registered_model_name)


def _fit(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    config = _config.get(FLAVOR)
    with _runs.training_run(FLAVOR) as run:
        if run is None or config is None:
            return original(self, *args, **kwargs)
        example, error = _boosting.fit_example(original, self, args, kwargs)
        with _boosting.in_fit(run):
            result = original(self, *args, **kwargs)
        if config.log_models:
            def get_example() -> Any:
                if error is not None:
                    raise error
                return example

            with _safety.guard(FLAVOR, "log the model"):
                _log_model(self, get_example, config)
        return result


def _log_datasets(train_set: Any, valid_sets: Any, valid_names: Any) -> None:
    """The training and validation datasets as run inputs (context ``train`` / ``eval``)."""
    if not _boosting.datasets_available():
        return  # this build has no trackbook.data: nothing to log them with
    from .. import data as tb_data
    from ..data.dataset_source import code_source
    from ..tracking import fluent

    def dataset(d: Any, name: str | None) -> Any:
        import pandas as pd

        features = d.data
        kw = {"name": name} if name else {}
        if isinstance(features, pd.DataFrame):
            return tb_data.from_pandas(features, source=code_source(), **kw)
        if hasattr(features, "toarray"):
            features = features.toarray()
        return tb_data.from_numpy(features, source=code_source(), targets=d.label, **kw)

    fluent.log_input(dataset(train_set, None), context="train")
    names = list(valid_names) if valid_names is not None else [None] * len(valid_sets or [])
    for d, name in zip(valid_sets or [], names, strict=False):
        fluent.log_input(dataset(d, name), context="eval")
