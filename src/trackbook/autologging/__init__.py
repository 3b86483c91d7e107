"""Automatic logging from training calls: ``tb.autolog()`` or ``tb.<flavor>.autolog()``.

Each framework's integration lives in its own module (``sklearn``, ``xgboost``,
``lightgbm``, ``pytorch``, ``keras``) and is built from four parts here: ``_config`` (the
settings of the last ``autolog`` call per flavor), ``_patch`` (wrapping a framework
method once, reversibly), ``_runs.training_run`` (log into the active run, or start and end
one tagged ``mlflow.autologging``) and ``_safety`` (our failures become an
:class:`AutologWarning`; training always goes on). ``_enable.enable`` ties them together and
patches a framework when it is imported, so ``autolog()`` may come before the import.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect

from ._safety import AutologWarning

# flavor -> module holding its autolog(); MLflow's `mlflow.autolog` integrations we have
INTEGRATIONS: dict[str, str] = {
    "sklearn": "trackbook.autologging.sklearn",
    "xgboost": "trackbook.autologging.xgboost",
    "lightgbm": "trackbook.autologging.lightgbm",
    "pytorch": "trackbook.autologging.pytorch",
    "keras": "trackbook.autologging.keras",
}


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, log_traces: bool = True,
            disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            extra_tags: dict[str, str] | None = None,
            exclude_flavors: list[str] | None = None) -> None:
    """Turn on autologging for every supported framework (MLflow's ``mlflow.autolog``).

    Frameworks already imported are patched now, the others when they are imported.

    Parameters
    ----------
    log_input_examples, log_model_signatures, log_models, log_datasets
        What each training call logs besides params and metrics.
    log_traces
        Traces come from GenAI flavors, which trackbook does not have: accepted for
        MLflow compatibility, it changes nothing.
    disable
        Turn autologging off (every flavor not in ``exclude_flavors``).
    exclusive
        Log only into runs autologging starts, never into a run you started.
    disable_for_unsupported_versions
        Stay off for framework versions outside the tested range (else warn).
    silent
        No warnings or log lines from autologging.
    extra_tags
        Tags set on every run autologging starts.
    exclude_flavors
        Flavor names (``"sklearn"``, ``"xgboost"``, ...) to leave as they are.
    """
    settings = {
        "log_input_examples": log_input_examples, "log_model_signatures": log_model_signatures,
        "log_models": log_models, "log_datasets": log_datasets, "disable": disable,
        "exclusive": exclusive, "silent": silent, "extra_tags": extra_tags,
        "disable_for_unsupported_versions": disable_for_unsupported_versions,
    }
    excluded = set(exclude_flavors or ())
    unknown = excluded - set(INTEGRATIONS)
    if unknown:
        from .._errors import InvalidValueError

        raise InvalidValueError(f"exclude_flavors names unknown flavors {sorted(unknown)}; "
                                f"trackbook autologs {sorted(INTEGRATIONS)}")
    for flavor, module_name in INTEGRATIONS.items():
        if flavor in excluded:
            continue
        if importlib.util.find_spec(module_name) is None:
            continue  # an integration not in this build
        module = importlib.import_module(module_name)
        accepted = inspect.signature(module.autolog).parameters
        module.autolog(**{k: v for k, v in settings.items() if k in accepted})


__all__ = ["INTEGRATIONS", "AutologWarning", "autolog"]
