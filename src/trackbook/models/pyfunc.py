"""Custom Python models (``PythonModel``) and the generic ``load_model``.

>>> class AddN(tb.pyfunc.PythonModel):
...     def __init__(self, n):
...         self.n = n
...     def predict(self, context, model_input, params=None):
...         return model_input + self.n
>>> tb.models.save_model(AddN(2), "add_n")          # or tb.pyfunc.save_model(path, python_model=)
>>> tb.pyfunc.load_model("add_n").predict(df)

The instance is pickled with cloudpickle (``python_model.pkl``); a class defined in a
notebook travels as source inside the pickle, so it loads in a fresh process. ``artifacts``
(files the model needs, e.g. weights) are copied into the model and handed to
``load_context`` as local paths.

``python_model.pkl`` is a pickle: loading a pickled model executes code from its files
(and imports its ``code/``). Only load models you trust.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import _code
from ._errors import ModelError, ModelLoadError
from .flavor import FlavorSpec, LoadContext
from .loading import PyFuncModel, inside, load_model
from .model import MODEL_CONFIG, PYFUNC, Model, ModelInfo
from .signature import ModelSignature

LOADER = "trackbook.models.pyfunc"
MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: local paths of the model's artifacts
    and its ``model_config``."""

    def __init__(self, artifacts: dict[str, str] | None = None,
                 model_config: dict[str, Any] | None = None) -> None:
        self.artifacts = dict(artifacts or {})
        self.model_config = dict(model_config or {})

    def __repr__(self) -> str:
        return f"PythonModelContext(artifacts={self.artifacts!r})"


class PythonModel:
    """Base class of custom models: override ``predict`` (and ``load_context`` to read
    artifacts once at load time).

    ``predict(self, context, model_input, params=None)`` (MLflow 2 style) and
    ``predict(self, model_input, params=None)`` (MLflow 3 style) both work. Set the class
    attribute ``rowwise = True`` when each row's prediction depends on that row alone: the
    scoring server then batches concurrent requests into one ``predict`` call.
    """

    rowwise: bool = False

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, with the artifacts' local paths."""

    def predict(self, context: PythonModelContext, model_input: Any,
                params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict("
                                  "self, context, model_input, params=None)")

    def predict_stream(self, context: PythonModelContext, model_input: Any,
                       params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Override to stream a prediction (an iterator of chunks) for one input; the
        model is then saved ``streamable`` and ``PyFuncModel.predict_stream`` calls it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement predict_stream")


def _call_predict(model: PythonModel, context: PythonModelContext, data: Any,
                  params: dict[str, Any] | None, method: str = "predict") -> Any:
    fn = getattr(model, method)
    sig = inspect.signature(fn)
    required = [p for p in sig.parameters.values() if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_context = list(sig.parameters)[:1] == ["context"] or len(required) >= 2
    args = (context, data) if takes_context else (data,)
    if "params" in sig.parameters:
        return fn(*args, params=params)
    return fn(*args)


class _PythonModelWrapper:
    """What the pyfunc loader returns for a PythonModel: ``predict(data, params)``."""

    def __init__(self, python_model: PythonModel, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        self.rowwise = bool(getattr(python_model, "rowwise", False))

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return _call_predict(self.python_model, self.context, data, params)

    @property
    def streamable(self) -> bool:
        return _streamable(self.python_model)

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        return _call_predict(self.python_model, self.context, data, params, "predict_stream")


def _resolve_artifact(uri: str) -> Path:
    if uri.startswith("runs:/"):
        from .uri import _run_artifact

        return _run_artifact(uri)
    path = Path(uri[len("file://"):] if uri.startswith("file://") else uri).expanduser()
    if not path.exists():
        raise ModelError(f"artifact {uri!r} does not exist")
    return path


def save_model(path: str | os.PathLike[str], python_model: PythonModel | None = None, *,
               artifacts: dict[str, str] | None = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               metadata: dict[str, Any] | None = None,
               model_config: dict[str, Any] | None = None) -> Model:
    """Save a custom :class:`PythonModel` as a model directory at ``path``.

    Parameters
    ----------
    python_model
        The model instance (pickled with cloudpickle).
    artifacts
        ``{name: local path or runs:/ URI}``: copied into the model; ``load_context`` gets
        their new local paths in ``context.artifacts[name]``.
    code_paths
        Extra source files/folders to package (put on ``sys.path`` at load).
    signature, input_example
        As in MLflow. With an example and no signature, the signature is inferred from
        the example and the model's prediction on it (``signature=False``: none).
    pip_requirements, extra_pip_requirements
        Replace / extend the captured requirements.
    metadata, model_config
        Free-form metadata for MLmodel; config handed to ``context.model_config``.

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, python_model, artifacts=artifacts, code_paths=code_paths,
                      signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata,
                      model_config=model_config)[0]


def _save_impl(path: str | os.PathLike[str], python_model: Any, *,
               artifacts: dict[str, str] | None = None,
               model_config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    if not isinstance(python_model, PythonModel) and not callable(
            getattr(python_model, "predict", None)):
        raise ModelError(f"python_model must be a trackbook.pyfunc.PythonModel (or have a "
                         f"predict method), got {type(python_model).__name__}")
    sources = {name: _resolve_artifact(uri) for name, uri in (artifacts or {}).items()}
    context = PythonModelContext({k: str(v) for k, v in sources.items()}, model_config)

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], None]:
        import cloudpickle

        with open(dest / MODEL_FILE, "wb") as f:
            _code.dump(python_model, f, "cloudpickle",
                       cap.main_code.redirects if cap.main_code else None)
        # MLflow's keys: code is None unless code_paths (set by the save), streamable
        # says whether the class overrides predict_stream
        conf: dict[str, Any] = {"python_model": MODEL_FILE,
                                "cloudpickle_version": cloudpickle.__version__,
                                "code": None, "streamable": _streamable(python_model)}
        if sources:
            (dest / ARTIFACTS_DIR).mkdir()
            conf["artifacts"] = {}
            for name, src in sources.items():
                target = dest / ARTIFACTS_DIR / name
                if src.is_dir():
                    shutil.copytree(src, target)
                else:
                    target.mkdir()
                    shutil.copy2(src, target / src.name)
                    target = target / src.name
                conf["artifacts"][name] = {"path": target.relative_to(dest).as_posix(),
                                           "uri": str((artifacts or {})[name])}
        if model_config:
            conf[MODEL_CONFIG] = model_config
        return conf, None

    def predict(example: Any) -> Any:
        python_model.load_context(context)
        return _call_predict(python_model, context, example, None)

    return SPEC.save(path, python_model, write, serialization_format="cloudpickle",
                     predict=predict, **kwargs)


def _streamable(python_model: Any) -> bool:
    """MLflow's default for ``streamable``: the class defines its own ``predict_stream``."""
    own = getattr(type(python_model), "predict_stream", None)
    return own is not None and own is not getattr(PythonModel, "predict_stream", None)


def log_model(python_model: PythonModel | None = None, name: str | None = None, *,
              artifact_path: str | None = None, registered_model_name: str | None = None,
              **kwargs: Any) -> ModelInfo:
    """Log a custom :class:`PythonModel` to the active run (see :func:`save_model` for the
    arguments); returns a ``ModelInfo`` whose ``model_uri`` is ``runs:/<run_id>/<name>``."""
    return SPEC.log(_save_impl, python_model, name, artifact_path=artifact_path,
                    registered_model_name=registered_model_name, **kwargs)


def _read_python_model(model_dir: Path, conf: dict[str, Any], meta: Model | None) -> Any:
    import cloudpickle

    try:
        with open(inside(model_dir, conf.get("python_model", MODEL_FILE)), "rb") as f:
            return cloudpickle.load(f)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"the model file {exc.filename} is missing") from None


def _wrap(python_model: Any, ctx: LoadContext) -> _PythonModelWrapper:
    model_dir = ctx.model_dir or Path(".")
    artifacts = {name: str(inside(model_dir, a["path"] if isinstance(a, dict) else a))
                 for name, a in (ctx.flavor_conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts, ctx.model_config)
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)


# A PythonModel has no flavor of its own: its conf is the python_function entry.
SPEC = FlavorSpec(PYFUNC, loader_module=LOADER, data_key=None, read=_read_python_model,
                  wrap=_wrap, extra_pip=("cloudpickle",))
get_default_pip_requirements = SPEC.get_default_pip_requirements
get_default_conda_env = SPEC.get_default_conda_env


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _PythonModelWrapper:
    """The python_function loader for models saved by :func:`save_model`.

    ``python_model.pkl`` is unpickled with cloudpickle: loading a pickled model executes
    code from its files; only load models you trust.
    """
    return SPEC.load_pyfunc(path, model_config)


__all__ = ["PyFuncModel", "PythonModel", "PythonModelContext", "get_default_conda_env",
           "get_default_pip_requirements", "load_model", "log_model", "save_model"]
