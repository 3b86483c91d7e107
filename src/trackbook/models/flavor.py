"""The shared base of trackbook's model flavors: one :class:`FlavorSpec` per flavor.

Every flavor module (``sklearn``, ``pytorch``, ``pyfunc``, ``onnx``, ``keras``,
``xgboost`` ...) has the same shape, MLflow's: ``save_model`` writes the framework's data
into a model directory and adds MLmodel entries, ``log_model`` saves into a temp folder and
logs it to the active run, ``load_model`` reads the flavor's conf from MLmodel and loads
the native object, and ``_load_pyfunc`` (the ``python_function`` loader MLmodel names)
wraps the native object so that ``predict(data, params=None)`` works. A flavor describes
what differs -- its name, loader module, the modules it needs, the MLmodel key naming its
data, how to read the data and how to wrap the result -- in one :class:`FlavorSpec`, and
the spec does the rest:

>>> SPEC = FlavorSpec("onnx", loader_module="mlflow.onnx", modules=("onnx", "onnxruntime"),
...                   data_key="data", read=_read, wrap=_OnnxWrapper)
>>> def save_model(onnx_model, path, *, ..., **common):       # public, documented signature
...     def write(dest, cap):            # write the data files; return the two confs
...         onnx.save(onnx_model, dest / "model.onnx")
...         return {"data": "model.onnx"}, {"data": "model.onnx", "onnx_version": ...}
...     return SPEC.save(path, onnx_model, write, predict=..., **common)[0]
>>> def log_model(onnx_model, name=None, **kwargs):
...     return SPEC.log(_save_impl, onnx_model, name, **kwargs)
>>> load_model = SPEC.loader()                 # (model_uri, dst_path=None) -> native model
>>> _load_pyfunc = SPEC.pyfunc_loader()        # (path, model_config=None) -> wrapper
>>> get_default_pip_requirements = SPEC.get_default_pip_requirements
>>> get_default_conda_env = SPEC.get_default_conda_env

``write(dest, capture)`` returns ``(pyfunc_conf or None, flavor_conf or None)``: the
``python_function`` entry (``loader_module`` is added; ``None``: the model has no pyfunc
flavor) and the flavor's own entry (``None``: no own flavor, as for a custom PythonModel).
``read(data_path, flavor_conf, meta, **kwargs)`` returns the native model: ``data_path`` is
the file or folder ``flavor_conf[data_key]`` names (checked to stay inside the model), or the
model directory when ``data_key`` is None. ``wrap(native, ctx)`` returns the pyfunc
implementation (any object with ``predict(data, params=None)``; optionally ``raw_model``,
``rowwise``); ``ctx`` is a :class:`LoadContext`. Save steps (env capture, code packaging,
input example, signature, MLmodel) are ``_save.save``'s; ``_save.log_model`` logs.

Register the pyfunc loader of a flavor whose MLmodel names an MLflow loader (e.g.
``mlflow.onnx``) in ``loading.LOADERS`` and its types in ``_dispatch``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ModelLoadError, UnsupportedModelError
from ._save import Flavor
from ._save import log_model as _log_model
from ._save import save as _save
from .loading import add_code_path, inside
from .model import MLMODEL_FILE, MODEL_CONFIG, PYFUNC, Model, ModelInfo
from .uri import local_model_copy

WriteFn = Callable[[Path, Any], tuple[dict[str, Any] | None, dict[str, Any] | None]]


@dataclass
class LoadContext:
    """What a pyfunc ``wrap`` gets besides the native model."""

    model_dir: Path | None
    meta: Model | None
    flavor_conf: dict[str, Any]
    pyfunc_conf: dict[str, Any]
    model_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlavorSpec:
    """The declarative part of a flavor (see the module docstring).

    Parameters
    ----------
    name
        The MLmodel flavor key (``"sklearn"``, ``"onnx"`` ...).
    loader_module
        What ``python_function``'s ``loader_module`` names: MLflow's module (e.g.
        ``"mlflow.onnx"``) so MLflow loads the model natively.
    modules
        Import names the flavor needs at load time: added to the captured requirements and
        to ``get_default_pip_requirements`` (mapped to their distributions).
    data_key
        The flavor-conf key naming the data file or folder (``"data"``, ``"model_data"``,
        ``"pickled_model"``); None when ``read`` takes the model directory.
    read
        ``read(data_path, flavor_conf, meta, **kwargs) -> native model``.
    wrap
        ``wrap(native, ctx) -> pyfunc implementation``.
    default_data
        Where the data is when an MLmodel omits ``data_key``.
    extra_pip
        Distributions the default requirements list besides ``modules``'.
    code_on_path
        ``(flavor_conf, load kwargs) -> bool``: whether to put the model's ``code/`` on
        ``sys.path`` before reading (default: always, as MLflow; sklearn's skops format
        only when the caller trusts extra types).
    code_key
        Whether the flavor's MLmodel entry has MLflow's ``code`` key (``None`` when the
        model has no ``code/``): every MLflow flavor trackbook writes has it but ``keras``.
    """

    name: str
    loader_module: str
    modules: tuple[str, ...] = ()
    data_key: str | None = "data"
    read: Callable[..., Any] | None = None
    wrap: Callable[[Any, LoadContext], Any] | None = None
    default_data: str | None = None
    extra_pip: tuple[str, ...] = ()
    code_on_path: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None
    code_key: bool = True

    # -- save / log ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], obj: Any, write: WriteFn, *,
             predict: Callable[[Any], Any] | None = None,
             serialization_format: str | None = None,
             extra_modules: Iterable[str] = (), **common: Any) -> tuple[Model, Any]:
        """Save ``obj`` to ``path``: ``write`` writes the data; ``common`` are the save
        arguments every flavor takes (``signature``, ``input_example``, ``code_paths``,
        ``pip_requirements``, ``extra_pip_requirements``, ``metadata``, and ``run_id`` /
        ``artifact_path`` from ``log``). Returns ``(Model, env capture)``."""
        def _write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
            pyfunc_conf, flavor_conf = write(dest, cap)
            pyfunc = {"loader_module": self.loader_module, **pyfunc_conf} \
                if pyfunc_conf is not None else {}
            return pyfunc, ({self.name: flavor_conf} if flavor_conf is not None else {})

        modules = [*self.modules, *extra_modules]
        return _save(path, Flavor(obj, _write, serialization_format, extra_modules=modules,
                                  predict=predict, code_key=self.code_key), **common)

    @staticmethod
    def log(save_impl: Callable[..., tuple[Model, Any]], obj: Any, name: str | None, *,
            artifact_path: str | None = None, registered_model_name: str | None = None,
            **kwargs: Any) -> ModelInfo:
        """Log ``obj`` to the active run with ``save_impl(path, obj, **kwargs)``."""
        return _log_model(save_impl, obj, name, artifact_path=artifact_path,
                          registered_model_name=registered_model_name, **kwargs)

    # -- load ----------------------------------------------------------------------------------
    def flavor_conf(self, model_dir: Path) -> tuple[Model, dict[str, Any]]:
        """The model's MLmodel and this flavor's conf in it (a clear error when absent)."""
        meta = Model.load(model_dir)
        conf = meta.flavors.get(self.name)
        if conf is None:
            raise UnsupportedModelError(
                f"the model at {model_dir} has no {self.name} flavor (it has "
                f"{sorted(meta.flavors)}); load it with tb.pyfunc.load_model or the "
                "flavor it was saved with")
        return meta, conf

    def data_path(self, model_dir: Path, conf: dict[str, Any]) -> Path:
        if self.data_key is None:
            return model_dir
        rel = conf.get(self.data_key) or self.default_data
        if not rel:
            raise ModelLoadError(f"the {self.name} flavor in {model_dir / MLMODEL_FILE} has "
                                 f"no {self.data_key!r} entry naming the model's data")
        return inside(model_dir, rel)

    def _add_code(self, model_dir: Path, meta: Model, conf: dict[str, Any],
                  kwargs: dict[str, Any]) -> None:
        if self.code_on_path is None or self.code_on_path(conf, kwargs):
            add_code_path(model_dir, conf)
            add_code_path(model_dir, meta.flavors.get(PYFUNC, {}))

    def load_dir(self, model_dir: Path, **kwargs: Any) -> Any:
        """The native model stored in the local model directory ``model_dir`` (its
        ``code/`` put first on ``sys.path``, as MLflow does); ``kwargs`` go to ``read``."""
        if self.read is None:
            raise UnsupportedModelError(f"the {self.name} flavor has no native loader")
        meta, conf = self.flavor_conf(model_dir)
        self._add_code(model_dir, meta, conf, kwargs)
        return self.read(self.data_path(model_dir, conf), conf, meta, **kwargs)

    def load(self, model_uri: str | os.PathLike[str], dst_path: str | None = None,
             **kwargs: Any) -> Any:
        """``load_model``: the native model from ``runs:/``, ``models:/``, a path..."""
        return self.load_dir(local_model_copy(model_uri, dst_path), **kwargs)

    def loader(self, doc: str | None = None) -> Callable[..., Any]:
        """A ``load_model(model_uri, dst_path=None)`` function for the flavor module."""
        def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
            return self.load(model_uri, dst_path)

        load_model.__doc__ = doc or (f"Load the native {self.name} model from ``runs:/...``, "
                                     "a local path or ``models:/...``.")
        return load_model

    def load_pyfunc(self, path: str | os.PathLike[str],
                    model_config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """``_load_pyfunc``: ``path`` is the pyfunc ``data`` entry (or the model folder)."""
        if self.wrap is None or self.read is None:
            raise UnsupportedModelError(f"the {self.name} flavor has no python_function loader")
        model_dir = find_model_dir(Path(path))
        if model_dir is None:  # a bare data folder, as MLflow's loaders also accept
            native = self.read(Path(path), {}, None, **kwargs)
            ctx = LoadContext(None, None, {}, {}, dict(model_config or {}))
            return self.wrap(native, ctx)
        meta, conf = self.flavor_conf(model_dir)
        self._add_code(model_dir, meta, conf, kwargs)
        native = self.read(self.data_path(model_dir, conf), conf, meta, **kwargs)
        pyfunc_conf = meta.flavors.get(PYFUNC, {})
        # MLflow's key is "config"; older trackbook models have "model_config"
        saved = pyfunc_conf.get(MODEL_CONFIG) or pyfunc_conf.get("model_config") or {}
        config = {**saved, **(model_config or {})}
        return self.wrap(native, LoadContext(model_dir, meta, conf, pyfunc_conf, config))

    def pyfunc_loader(self) -> Callable[..., Any]:
        def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> Any:
            return self.load_pyfunc(path, model_config)

        _load_pyfunc.__doc__ = (f"The python_function loader (MLmodel names it "
                                f"``{self.loader_module}``).")
        return _load_pyfunc

    # -- environment ---------------------------------------------------------------------------
    def get_default_pip_requirements(self) -> list[str]:
        """The flavor's pip requirements, pinned to the installed versions (as MLflow)."""
        return default_pip_requirements([*self.modules, *self.extra_pip])

    def get_default_conda_env(self) -> dict[str, Any]:
        """A conda environment with the default pip requirements (MLflow's shape)."""
        return conda_env(self.get_default_pip_requirements())


def find_model_dir(path: Path) -> Path | None:
    """The model directory holding ``path`` (``path`` itself or up to two levels up)."""
    for candidate in [path, *list(path.parents)[:2]]:
        if (candidate / MLMODEL_FILE).is_file():
            return candidate
    return None


def default_pip_requirements(modules: Iterable[str]) -> list[str]:
    """``dist==version`` for each import name (or distribution name) in ``modules``."""
    import importlib.metadata as md

    from .env import _top_level_map

    out: list[str] = []
    for module in modules:
        dists = _top_level_map().get(module) or [module]
        for dist in dict.fromkeys(dists):
            try:
                req = f"{dist}=={md.version(dist)}"
            except md.PackageNotFoundError:
                req = dist
            if req not in out:
                out.append(req)
    return out


def conda_env(pip_requirements: list[str]) -> dict[str, Any]:
    """MLflow's default conda env layout around ``pip_requirements``."""
    import importlib.metadata as md

    try:
        pip = f"pip<={md.version('pip')}"
    except md.PackageNotFoundError:
        pip = "pip"
    return {"name": "mlflow-env", "channels": ["conda-forge"],
            "dependencies": [f"python={platform.python_version()}", pip,
                             {"pip": list(pip_requirements)}]}
