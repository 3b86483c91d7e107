"""Each framework's autolog settings, as the last ``autolog(...)`` call for it left them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

_lock = threading.Lock()
_configs: dict[str, AutologConfig] = {}


@dataclass(frozen=True)
class AutologConfig:
    """The keywords every ``<flavor>.autolog`` shares (MLflow's names), plus the flavor's own.

    ``options`` holds the flavor's extra keywords (``max_tuning_runs``, ``log_every_n_epoch``...).
    """

    log_models: bool = True
    log_datasets: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    disable: bool = False
    exclusive: bool = False
    disable_for_unsupported_versions: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


_SHARED = frozenset(AutologConfig.__dataclass_fields__) - {"options"}


def configure(flavor: str, settings: dict[str, Any]) -> AutologConfig:
    """Store ``flavor``'s settings from an ``autolog(**settings)`` call and return them."""
    shared = {k: v for k, v in settings.items() if k in _SHARED}
    shared["extra_tags"] = {str(k): str(v) for k, v in (shared.get("extra_tags") or {}).items()}
    options = {k: v for k, v in settings.items() if k not in _SHARED}
    config = AutologConfig(**shared, options=options)
    with _lock:
        _configs[flavor] = config
    return config


def get(flavor: str) -> AutologConfig | None:
    """``flavor``'s settings, or None when autolog was never turned on for it or is disabled."""
    config = _configs.get(flavor)
    return None if config is None or config.disable else config


def enabled_flavors() -> list[str]:
    return sorted(name for name, config in _configs.items() if not config.disable)


def reset() -> None:
    """Forget every flavor's settings (autolog off everywhere); patches stay, doing nothing."""
    with _lock:
        _configs.clear()
