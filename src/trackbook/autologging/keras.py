"""Keras 3 autologging: MLflow 3's ``mlflow.keras.autolog``.

``keras.Model.fit`` logs:

- params ``batch_size`` and ``fit``'s other arguments (``epochs``, ``validation_split``,
  ``shuffle``...; not ``x``, ``y``, ``callbacks``, ``validation_data``, ``verbose``), and
  the optimizer's config as ``optimizer_<key>`` (``optimizer_name``,
  ``optimizer_learning_rate``...);
- Keras's epoch logs (``loss``, ``accuracy``, ``val_loss``...) at step = epoch, or with
  ``log_every_n_steps`` the batch logs every n optimizer iterations (step = iteration), and
  each validation's logs as ``validation_<name>`` (step 0, as MLflow);
- ``model_summary.txt``, the training data as a dataset input (context ``train``,
  ``eval`` for ``validation_data``) and the model (``trackbook.keras``, name ``model``, a
  logged model created before training, to which the metrics are linked).
"""

from __future__ import annotations

import inspect
import itertools
from types import ModuleType
from typing import Any

from .._errors import InvalidValueError
from . import _enable, _patch, _runs, _safety
from ._hookguard import HookGuard
from ._model_metrics import fail_model, start_model

FLAVOR = "keras"
SUPPORTED = ("3.7.0", "3.15.1")  # MLflow 3.17's tested Keras range
_UNLOGGED = {"self", "x", "y", "callbacks", "validation_data", "verbose", "batch_size"}
_EXAMPLE_ROWS = 5


def autolog(log_every_epoch: bool = True, log_every_n_steps: int | None = None,
            log_models: bool = True, log_model_signatures: bool = True,
            save_exported_model: bool = False, log_datasets: bool = True,
            log_input_examples: bool = False, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            registered_model_name: str | None = None,
            save_model_kwargs: dict[str, Any] | None = None,
            extra_tags: dict[str, str] | None = None) -> None:
    """Log Keras 3 training (``keras.Model.fit``) into the active or a new run.

    Parameters
    ----------
    log_every_epoch
        Log the epoch metrics at the end of each epoch.
    log_every_n_steps
        Instead, log the batch metrics every n training steps (``log_every_epoch=False``).
    log_models
        Log the trained model as a ``keras`` model named ``model``.
    log_model_signatures
        Give the model a tensor signature from its input and output shapes.
    save_exported_model
        MLflow's TensorFlow SavedModel export: not supported (raises).
    log_datasets
        Log ``x``/``y`` (and ``validation_data``) as dataset inputs of the run.
    log_input_examples
        Log the first rows of ``x`` as the model's input example (MLflow accepts this
        keyword and logs nothing for it).
    disable, exclusive, disable_for_unsupported_versions, silent, extra_tags
        As in :func:`trackbook.autolog`.
    registered_model_name
        Register each logged model as a new version of this registered model.
    save_model_kwargs
        Passed to ``keras.Model.save``.
    """
    settings = dict(locals())
    if log_every_epoch and log_every_n_steps is not None:
        raise InvalidValueError(f"log_every_n_steps must be None when log_every_epoch=True, "
                                f"got log_every_n_steps={log_every_n_steps!r}")
    if not log_every_epoch and log_every_n_steps is None:
        raise InvalidValueError("log_every_n_steps must be set when log_every_epoch=False")
    if log_every_n_steps is not None and (type(log_every_n_steps) is not int
                                          or log_every_n_steps < 1):
        raise InvalidValueError(f"log_every_n_steps must be a positive integer, "
                                f"got {log_every_n_steps!r}")
    if save_exported_model and not disable:
        from ..models._errors import UnsupportedModelError

        raise UnsupportedModelError(
            "save_exported_model=True (a TensorFlow SavedModel export) is not supported by "
            "trackbook; use save_exported_model=False, which logs the .keras file")
    _enable.enable(FLAVOR, "keras", _install, settings, supported=SUPPORTED)


def _install(module: ModuleType) -> None:
    # keras.Model inherits fit from its backend's trainer: patch the class defining it
    owner = next(c for c in module.Model.__mro__ if "fit" in vars(c))
    _patch.patch(FLAVOR, owner, "fit", _fit)


def _fit(original: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
    from . import _config

    with _runs.training_run(FLAVOR) as run:
        config = _config.get(FLAVOR)
        if run is None or config is None:
            return original(model, *args, **kwargs)
        guard = HookGuard(FLAVOR)
        call = guard.run("read fit's arguments", _bind, original, model, args, kwargs)
        if call is None:
            return original(model, *args, **kwargs)
        guard.run("log fit's params", _log_params, model, call)
        model_id = guard.run("start the logged model", start_model) if config.log_models \
            else None
        if config.log_datasets:
            guard.run("log the datasets", _log_datasets, call)
        example = _example(call) if config.log_models and config.log_input_examples else None
        callback = guard.run("add the logging callback", _callback, config, model_id)
        if callback is not None:  # appended to a copy: the caller's list stays as it was
            call.arguments["callbacks"] = [*(call.arguments.get("callbacks") or []), callback]
        try:
            history = original(*call.args, **call.kwargs)
        except BaseException:
            if model_id is not None:
                guard.run("mark the logged model FAILED", fail_model, model_id)
            raise
        finally:
            if callback is not None:
                guard.run("link the epoch metrics to the logged model", callback.metrics.flush)
        if config.log_models:
            guard.run("log the model", _log_model, model, config, model_id, example)
        return history


def _callback(config: Any, model_id: str | None) -> Any:
    from ._keras_callback import callback_class

    return callback_class()(config.option("log_every_epoch", True),
                            config.option("log_every_n_steps"), model_id)


def _bind(original: Any, model: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> inspect.BoundArguments:
    call = inspect.signature(original).bind(model, *args, **kwargs)
    call.apply_defaults()
    return call


def _log_params(model: Any, call: inspect.BoundArguments) -> None:
    from ..tracking import fluent

    given = call.arguments
    params: dict[str, Any] = {}
    batch_size = _batch_size(model, call)
    if batch_size is not None:
        params["batch_size"] = batch_size
    elif "batch_size" in given:
        params["batch_size"] = given["batch_size"]  # None: MLflow logs it as 'None'
    params.update({k: v for k, v in given.items() if k not in _UNLOGGED
                   and call.signature.parameters[k].kind not in (
                       inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)})
    fluent.log_params(params)


def _batch_size(model: Any, call: inspect.BoundArguments) -> Any:
    """``batch_size``, else the data's own batch size, else the first batch's length."""
    given = call.arguments
    if given.get("batch_size") is not None:
        return given["batch_size"]
    x = given.get("x")
    for attr in ("batch_size", "_batch_size"):
        size = getattr(x, attr, None)
        if size:
            return size if isinstance(size, int) else int(size)
    if x is not None and hasattr(x, "__next__"):  # a generator: peek, then put it back
        first = next(x)
        given["x"] = itertools.chain([first], x)
        single_input = isinstance(model.input_shape, tuple)
        return len(first[0]) if single_input else len(first[0][0])
    return None



def _log_datasets(call: inspect.BoundArguments) -> None:
    import importlib.util

    from ..tracking import fluent

    if importlib.util.find_spec("trackbook.data") is None or \
            not hasattr(fluent, "log_input"):
        _safety.warn(FLAVOR, "dataset logging (log_datasets=True) needs tb.data and "
                             "tb.log_input, which this build lacks; pass log_datasets=False")
        return
    import numpy as np

    from .. import data

    given = call.arguments
    inputs = [(given.get("x"), given.get("y"), "train")]
    validation = given.get("validation_data")
    if isinstance(validation, tuple) and validation:
        inputs.append((validation[0], validation[1] if len(validation) > 1 else None, "eval"))
    for features, targets, context in inputs:
        if isinstance(features, np.ndarray):
            fluent.log_input(data.from_numpy(features, targets=targets), context=context)


def _example(call: inspect.BoundArguments) -> Any:
    x = call.arguments.get("x")
    return x[:_EXAMPLE_ROWS] if hasattr(x, "shape") and hasattr(x, "__getitem__") else None


def _signature(model: Any) -> Any:
    import numpy as np

    from ..models.schema import Schema, TensorSpec
    from ..models.signature import ModelSignature

    def schema(shapes: Any, dtype: Any) -> Schema:
        shapes = shapes if isinstance(shapes, list) else [shapes]
        return Schema([TensorSpec(np.dtype(dtype).name,
                                  tuple(-1 if d is None else d for d in shape))
                       for shape in shapes])

    return ModelSignature(schema(model.input_shape, model.input_dtype),
                          schema(model.output_shape, model.compute_dtype))


def _log_model(model: Any, config: Any, model_id: str | None, example: Any) -> None:
    from ..models import keras as flavor

    signature = None
    if config.log_model_signatures:
        try:
            signature = _signature(model)
        except Exception as exc:  # MLflow logs the model without one
            _safety.warn(FLAVOR, f"no model signature ({type(exc).__name__}: {exc})")
    flavor.log_model(model, name="model", model_id=model_id, signature=signature,
                     input_example=example,
                     registered_model_name=config.registered_model_name,
                     save_model_kwargs=config.option("save_model_kwargs"))
