"""The model registry: registered models, versions, stages & aliases, a promotion log.

Everything is files under ``<store>/registry/`` created exclusively (see ``_files``; on an
``s3://`` store, objects in the bucket created with conditional PUTs, see ``_objects``), so
concurrent processes and machines get distinct consecutive version numbers and alias moves
are atomic.
The MLflow-named methods are on ``trackbook.Client``; this package also offers:

- :func:`register_model` (also ``tb.register_model``)
- :func:`resolve_model_uri` for ``models:/name/3``, ``@alias``, ``/Production``, ``/latest``
- :func:`on_promotion` / ``$TRACKBOOK_PROMOTION_HOOK``: local hooks on promotion events

Importing this package plugs the ``models:/`` resolver into ``trackbook.models``. The
package is light to import (errors and entities only; the rest loads on first use), so the
``trackbook`` command line can offer ``trackbook registry`` without slowing every command.

The package itself is callable: ``tb.registry("churn-model")`` returns the registry widget
(``trackbook.widgets.registry_panel``), imported only on that call so that the registry
never depends on the widgets.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from .entities import STAGES, ModelVersion, PromotionEntry, RegisteredModel
from .errors import (
    InvalidRegistryNameError,
    ModelVersionNotFoundError,
    ProtectedVersionError,
    RegisteredModelExistsError,
    RegisteredModelNotFoundError,
    RegisteredModelRenamedError,
    RegistryError,
    RegistryHookWarning,
    RollbackError,
)

if TYPE_CHECKING:
    from ._registry import Registry, registry_for
    from .api import register_model
    from .hooks import on_promotion, remove_promotion_hook
    from .uri import parse_models_uri, resolve_model_uri, resolve_version

#: Public names loaded on first access: name -> submodule.
_LAZY = {"Registry": "._registry", "registry_for": "._registry", "register_model": ".api",
         "on_promotion": ".hooks", "remove_promotion_hook": ".hooks",
         "parse_models_uri": ".uri", "resolve_model_uri": ".uri", "resolve_version": ".uri"}

__all__ = [
    "STAGES",
    "InvalidRegistryNameError",
    "ModelVersion",
    "ModelVersionNotFoundError",
    "PromotionEntry",
    "ProtectedVersionError",
    "RegisteredModel",
    "RegisteredModelExistsError",
    "RegisteredModelNotFoundError",
    "RegisteredModelRenamedError",
    "Registry",
    "RegistryError",
    "RegistryHookWarning",
    "RollbackError",
    "on_promotion",
    "parse_models_uri",
    "register_model",
    "registry_for",
    "remove_promotion_hook",
    "resolve_model_uri",
    "resolve_version",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def _register_logged_model(info: Any, name: str, tags: dict[str, Any] | None = None) -> Any:
    """``log_model(..., registered_model_name=name)`` registers the logged model: source
    ``models:/<model_id>``, its run and model id on the version, the version in the
    model's ``mlflow.modelVersions`` tag (no catalog query: the training process knows
    them)."""
    from ..tracking.uri import get_store
    from ._registry import registry_for
    from .api import register_model

    if getattr(info, "model_id", None) is None:
        return register_model(info.model_uri, name, tags=tags)
    from .api import MODEL_VERSIONS_TAG, tag_model_versions

    store = get_store()
    reg = registry_for(store.root)
    reg.create_model(name, exist_ok=True)
    mv = reg.create_version(name, info.model_uri, info.run_id, tags, None,
                            model_id=info.model_id)
    tag_model_versions(store, info.model_id, (info.tags or {}).get(MODEL_VERSIONS_TAG), mv)
    return mv


def _resolve_models_uri(uri: str) -> str:
    from .uri import resolve_model_uri

    return resolve_model_uri(uri)


def _plug_into_models() -> None:
    # models.uri is light (its errors module only); models._save is heavy, so it is only
    # wired when already loaded (models imports this package on demand otherwise).
    try:
        from ..models import uri as _models_uri
    except ImportError:  # models package not available in this build
        return
    _models_uri.register_resolver("models", _resolve_models_uri)
    save = sys.modules.get("trackbook.models._save")
    if save is not None and hasattr(save, "set_registry_hook"):
        save.set_registry_hook(_register_logged_model)


_plug_into_models()


class _CallableRegistryModule(types.ModuleType):
    """This package's module type: calling it shows the registry widget."""

    def __call__(self, name: str, **kwargs: Any) -> Any:
        """``tb.registry(name, **kwargs)``: the widget of registered model ``name`` (see
        ``trackbook.widgets.registry_panel``)."""
        widgets = importlib.import_module("trackbook.widgets")
        return widgets.registry_panel(name, **kwargs)


sys.modules[__name__].__class__ = _CallableRegistryModule
