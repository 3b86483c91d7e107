"""The scikit-learn flavor, stored the way MLflow's ``mlflow.sklearn`` stores it.

The estimator is stored as ``model.skops`` (``serialization_format="skops"``, MLflow 3's
default) or ``model.pkl`` (``"cloudpickle"`` or ``"pickle"``). MLmodel's ``sklearn`` flavor
records the format, the scikit-learn version and ``skops_trusted_types``; the
``python_function`` flavor names ``mlflow.sklearn`` as loader, so MLflow loads these models
natively and trackbook loads MLflow's.

Loading a pickled model executes code from its files: only load pickled models you trust.
A skops file is loaded with skops' trusted types only; other types it needs (e.g. the
``sklearn.tree._tree.Tree`` of tree ensembles) are refused unless the caller names them in
``load_model(..., skops_trusted_types=[...])``; the list saved in the MLmodel file is never
trusted on its own, since it comes from the very files being judged.

>>> with tb.start_run():
...     info = tb.sklearn.log_model(model, name="model", input_example=X[:5])
>>> tb.pyfunc.load_model(info.model_uri).predict(X_new)
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import _code, _skops_import
from ._errors import ModelError, ModelLoadError, UnsupportedModelError, UntrustedTypesError
from .flavor import FlavorSpec, LoadContext, conda_env, default_pip_requirements
from .model import Model, ModelInfo
from .signature import ModelSignature

log = logging.getLogger(__name__)

FLAVOR_NAME = "sklearn"
MODEL_FILE = "model.pkl"
SKOPS_MODEL_FILE = "model.skops"  # MLflow's name for the skops file
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = [SERIALIZATION_FORMAT_SKOPS, SERIALIZATION_FORMAT_PICKLE,
                                   SERIALIZATION_FORMAT_CLOUDPICKLE]
_PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba",
                "decision_function", "transform", "score")


def save_model(sk_model: Any, path: str | os.PathLike[str], *,
               serialization_format: str | None = None,
               skops_trusted_types: Sequence[str] | None = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               pyfunc_predict_fn: str = "predict",
               metadata: dict[str, Any] | None = None) -> Model:
    """Save a scikit-learn estimator (or pipeline) as a model directory at ``path``.

    Parameters
    ----------
    sk_model
        A fitted estimator.
    serialization_format
        ``"skops"`` (``model.skops``, loaded without running code from the file),
        ``"cloudpickle"`` or ``"pickle"`` (``model.pkl``: loading it runs code from the
        file). The default, None, is skops, as in MLflow 3 -- except that a model skops can
        only store by trusting more types (tree ensembles' ``sklearn.tree._tree.Tree``,
        classes or functions defined in a notebook) is saved with cloudpickle instead, with
        a logged warning naming those types (MLflow raises there).
    skops_trusted_types
        Types beyond skops' defaults that this model needs (skops format only), e.g.
        ``["sklearn.tree._tree.Tree"]``; written to MLmodel as MLflow does, so MLflow loads
        the model. trackbook's ``load_model`` asks the loader to name them again.
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`.
    pyfunc_predict_fn
        The estimator method ``pyfunc`` ``predict`` calls (e.g. ``"predict_proba"``).

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, sk_model, serialization_format=serialization_format,
                      skops_trusted_types=skops_trusted_types,
                      code_paths=code_paths, signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements,
                      pyfunc_predict_fn=pyfunc_predict_fn, metadata=metadata)[0]


def _type_list(types: Any, what: str) -> list[str] | None:
    if types is None:
        return None
    if isinstance(types, str) or not all(isinstance(t, str) for t in types):
        raise UnsupportedModelError(f"{what} must be a list of type names such as "
                                    f"['sklearn.tree._tree.Tree'], got {types!r}")
    return list(types)


def _not_importable(name: str) -> bool:
    """A type skops would store by a name no other process can import."""
    return name.startswith("__main__.") or "<" in name


def _skops_bytes(sk_model: Any, trusted: list[str], explicit: bool) -> bytes | None:
    """The model as skops bytes, or None (when ``explicit`` is False) where skops cannot
    store it with ``trusted`` and its default types; ``explicit`` raises instead."""
    try:
        skops_io = _skops_import.skops_io()
    except ImportError:
        if explicit:
            raise UnsupportedModelError(
                "serialization_format='skops' needs skops: pip install 'trackbook[models]' "
                "(or skops)") from None
        log.warning("skops is not installed: saving the model with cloudpickle, whose file "
                    "runs code when loaded; pip install skops to save in the safe format")
        return None
    try:
        data: bytes = skops_io.dumps(sk_model)
        needed = skops_io.get_untrusted_types(data=data)
    except Exception as exc:
        if explicit:
            raise UnsupportedModelError(
                f"skops cannot store this model ({type(exc).__name__}: {exc}); save it with "
                "serialization_format='cloudpickle'") from exc
        log.warning("skops cannot store this model (%s: %s): saving it with cloudpickle, "
                    "whose file runs code when loaded", type(exc).__name__, exc)
        return None
    local = [t for t in needed if _not_importable(t)]
    untrusted = [t for t in needed if t not in trusted and not _not_importable(t)]
    if local:
        if explicit:
            raise UnsupportedModelError(
                f"skops stores classes and functions by import name, and {local} exist only "
                "in this notebook/script; save with serialization_format='cloudpickle' "
                "(trackbook packages notebook code with it) or move them into a module")
        log.warning("the model uses %s, defined in this notebook/script, which skops cannot "
                    "store by name: saving it with cloudpickle, whose file runs code when "
                    "loaded", local)
        return None
    if untrusted:
        if explicit:
            raise UntrustedTypesError(
                f"the model needs types skops does not trust by default: {untrusted}. If "
                f"you trust them, pass skops_trusted_types={untrusted!r} to "
                "save_model/log_model (loaders must name them too), or save with "
                "serialization_format='cloudpickle'", untrusted)
        log.warning("the model needs types skops does not trust by default (%s): saving it "
                    "with cloudpickle, whose file runs code when loaded. To keep the safe "
                    "format pass serialization_format='skops', skops_trusted_types=%r",
                    untrusted, untrusted)
        return None
    return data


def _save_impl(path: str | os.PathLike[str], sk_model: Any, *,
               serialization_format: str | None = None,
               skops_trusted_types: Sequence[str] | None = None,
               pyfunc_predict_fn: str = "predict", **kwargs: Any) -> Any:
    import sklearn

    trusted = _type_list(skops_trusted_types, "skops_trusted_types")
    if serialization_format is not None \
            and serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise UnsupportedModelError(
            f"serialization_format {serialization_format!r} is not supported; use one of "
            f"{SUPPORTED_SERIALIZATION_FORMATS}")
    if trusted is not None and serialization_format not in (None, SERIALIZATION_FORMAT_SKOPS):
        raise UnsupportedModelError(
            f"skops_trusted_types applies to serialization_format='skops' only, got "
            f"serialization_format={serialization_format!r}")
    if pyfunc_predict_fn not in _PREDICT_FNS:
        raise UnsupportedModelError(f"pyfunc_predict_fn must be one of {list(_PREDICT_FNS)}, "
                                    f"got {pyfunc_predict_fn!r}")
    if not callable(getattr(sk_model, "fit", None)):
        raise ModelError(f"sk_model must be a scikit-learn estimator, got "
                         f"{type(sk_model).__name__}")
    has_predict = callable(getattr(sk_model, pyfunc_predict_fn, None))
    skops_data = None
    if serialization_format in (None, SERIALIZATION_FORMAT_SKOPS):
        # Naming trusted types is asking for skops: fail rather than fall back.
        explicit = serialization_format is not None or trusted is not None
        skops_data = _skops_bytes(sk_model, trusted or [], explicit)
    fmt = SERIALIZATION_FORMAT_SKOPS if skops_data is not None \
        else serialization_format or SERIALIZATION_FORMAT_CLOUDPICKLE

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        flavor: dict[str, Any]
        if skops_data is not None:
            from ..store.durable import write_file

            file = SKOPS_MODEL_FILE
            write_file(dest / file, skops_data, what="the model's skops file")
            flavor = {"pickled_model": file, "serialization_format": fmt,
                      "sklearn_version": sklearn.__version__, "skops_trusted_types": trusted}
        else:
            file = MODEL_FILE
            with open(dest / file, "wb") as f:
                _code.dump(sk_model, f, fmt,
                           cap.main_code.redirects if cap.main_code else None)
            # MLflow writes the key for every format (null here: trusted types are refused
            # above for a pickle)
            flavor = {"pickled_model": file, "serialization_format": fmt,
                      "sklearn_version": sklearn.__version__, "skops_trusted_types": None}
        pyfunc_conf = {"model_path": file, "predict_fn": pyfunc_predict_fn} \
            if has_predict else None
        return pyfunc_conf, flavor

    def predict(example: Any) -> Any:
        return getattr(sk_model, pyfunc_predict_fn)(example)

    return SPEC.save(path, sk_model, write, serialization_format=fmt,
                     predict=predict if has_predict else None, **kwargs)


def log_model(sk_model: Any, name: str | None = None, *, artifact_path: str | None = None,
              registered_model_name: str | None = None, **kwargs: Any) -> ModelInfo:
    """Log a scikit-learn model to the active run (starting one if needed).

    Takes :func:`save_model`'s arguments (``serialization_format`` defaults to skops, as
    in MLflow 3); returns a ``ModelInfo`` whose ``model_uri`` is ``runs:/<run_id>/<name>``
    (``name`` defaults to ``"model"``).
    """
    return SPEC.log(_save_impl, sk_model, name, artifact_path=artifact_path,
                    registered_model_name=registered_model_name, **kwargs)


def _read_skops(path: Path, conf: dict[str, Any], trusted: list[str] | None) -> Any:
    try:
        skops_io = _skops_import.skops_io()
    except ImportError:
        raise ModelLoadError(
            f"{path} is in the skops format; install skops to load it (pip install skops)"
        ) from None
    if not path.is_file():
        raise ModelLoadError(f"the model file {path} is missing")
    try:
        needed = skops_io.get_untrusted_types(file=path)
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a readable skops file "
                             f"({type(exc).__name__}: {exc})") from exc
    refused = [t for t in needed if t not in (trusted or [])]
    if refused:
        listed = [t for t in conf.get("skops_trusted_types") or [] if t in refused]
        claim = (f" The model's MLmodel lists {listed} as skops_trusted_types, but that "
                 "list comes from the files being loaded, so trackbook does not take it "
                 "on trust.") if listed else ""
        raise UntrustedTypesError(
            f"{path} needs types skops does not trust by default: {refused}; loading them "
            f"could run code or crash the process, so they were refused.{claim} If you trust "
            f"where this model comes from, load it with skops_trusted_types={refused!r} "
            "(tb.sklearn.load_model / tb.pyfunc.load_model) or "
            + " ".join(f"--skops-trusted-type {t}" for t in refused)
            + " (trackbook models serve / predict)", refused)
    try:
        return skops_io.load(path, trusted=trusted or None)
    except Exception as exc:
        raise ModelLoadError(f"skops could not load {path} "
                             f"({type(exc).__name__}: {exc})") from exc


def _read(path: Path, serialization_format: str, conf: dict[str, Any],
          trusted: list[str] | None = None) -> Any:
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        return _read_skops(path, conf, trusted)
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise UnsupportedModelError(f"unknown sklearn serialization_format "
                                    f"{serialization_format!r} in {path.parent}")
    try:
        with open(path, "rb") as f:
            if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
                import cloudpickle

                return cloudpickle.load(f)
            return pickle.load(f)
    except FileNotFoundError:
        raise ModelLoadError(f"the model file {path} is missing") from None


def _read_native(path: Path, conf: dict[str, Any], meta: Model | None, *,
                 skops_trusted_types: Sequence[str] | None = None) -> Any:
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    return _read(path, fmt, conf, _type_list(skops_trusted_types, "skops_trusted_types"))


def _code_on_path(conf: dict[str, Any], kwargs: dict[str, Any]) -> bool:
    # A skops load imports modules by name (sklearn, numpy ...): the model's own code/
    # first on sys.path could stand in for them, so only a caller who trusts it gets it.
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    return fmt != SERIALIZATION_FORMAT_SKOPS or bool(kwargs.get("skops_trusted_types"))


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None, *,
               skops_trusted_types: Sequence[str] | None = None) -> Any:
    """Load the scikit-learn estimator itself from ``runs:/...``, a path or ``models:/...``.

    .. warning::
       The ``pickle`` and ``cloudpickle`` formats (``model.pkl``) are pickles: loading a
       pickled model executes code from its files. Only load models you trust. The
       ``skops`` format (MLflow 3's default, and trackbook's) loads without running code
       from the file.

    Parameters
    ----------
    model_uri
        ``runs:/<run_id>/<path>``, a local path or ``file://`` URI, or ``models:/...``.
    dst_path
        Copy the model directory here first (the copy is loaded).
    skops_trusted_types
        For a skops model: types beyond skops' defaults you trust this model to use
        (e.g. ``["sklearn.tree._tree.Tree"]``). A type it needs that is neither a skops
        default nor listed here is refused with :class:`~trackbook.models.UntrustedTypesError`
        naming it; the list saved in the model's MLmodel is not trusted.
    """
    _type_list(skops_trusted_types, "skops_trusted_types")
    return SPEC.load(model_uri, dst_path, skops_trusted_types=skops_trusted_types)


class _SklearnWrapper:
    rowwise = True  # scikit-learn's predict/transform score each row on its own

    def __init__(self, model: Any, predict_fn: str) -> None:
        self.raw_model = model
        self._predict_fn = predict_fn
        self._fn = getattr(model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._fn(data)

    def array_scorer(self, columns: Sequence[str]) -> Callable[[Any], Any] | None:
        """A function scoring a 2-D numpy array whose columns are ``columns`` in that order,
        with the predictions a DataFrame of those columns gets; None when that cannot be
        promised (see ``_fastpath``)."""
        from ._fastpath import sklearn_array_scorer

        return sklearn_array_scorer(self.raw_model, self._predict_fn, columns)


def _wrap(model: Any, ctx: LoadContext) -> _SklearnWrapper:
    return _SklearnWrapper(model, ctx.pyfunc_conf.get("predict_fn") or "predict")


SPEC = FlavorSpec(FLAVOR_NAME, loader_module="mlflow.sklearn", modules=("sklearn",),
                  data_key="pickled_model", read=_read_native, wrap=_wrap,
                  code_on_path=_code_on_path)


def get_default_pip_requirements(include_cloudpickle: bool = False,
                                 include_skops: bool = False) -> list[str]:
    """scikit-learn (and cloudpickle / skops when asked), pinned to the installed versions."""
    extra = [m for m, on in (("cloudpickle", include_cloudpickle), ("skops", include_skops))
             if on]
    return default_pip_requirements([*SPEC.modules, *extra])


def get_default_conda_env(include_cloudpickle: bool = False,
                          include_skops: bool = False) -> dict[str, Any]:
    """A conda environment with :func:`get_default_pip_requirements` (MLflow's shape)."""
    return conda_env(get_default_pip_requirements(include_cloudpickle, include_skops))


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None, *,
                 skops_trusted_types: Sequence[str] | None = None) -> _SklearnWrapper:
    """The python_function loader (MLmodel names it ``mlflow.sklearn``)."""
    _type_list(skops_trusted_types, "skops_trusted_types")
    return SPEC.load_pyfunc(path, model_config, skops_trusted_types=skops_trusted_types)
