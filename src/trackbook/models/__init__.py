"""Model packaging, loading and serving in MLflow's MLmodel format.

``tb.models.save_model(model, path)`` saves a scikit-learn estimator, a PyTorch module or a
custom ``tb.pyfunc.PythonModel``; ``tb.models.serve(uri)`` starts a REST scoring server;
``tb.models.check(uri)`` proves a model loads in a fresh virtualenv built from its
requirements. Names load lazily: importing this package costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY: dict[str, tuple[str, str]] = {
    "save_model": ("trackbook.models._dispatch", "save_model"),
    "log_model": ("trackbook.models._dispatch", "log_model"),
    "load_model": ("trackbook.models.loading", "load_model"),
    "PyFuncModel": ("trackbook.models.loading", "PyFuncModel"),
    "Model": ("trackbook.models.model", "Model"),
    "ModelInfo": ("trackbook.models.model", "ModelInfo"),
    "ModelSignature": ("trackbook.models.signature", "ModelSignature"),
    "infer_signature": ("trackbook.models.signature", "infer_signature"),
    "Schema": ("trackbook.models.schema", "Schema"),
    "ColSpec": ("trackbook.models.schema", "ColSpec"),
    "TensorSpec": ("trackbook.models.schema", "TensorSpec"),
    "ParamSchema": ("trackbook.models.schema", "ParamSchema"),
    "ParamSpec": ("trackbook.models.schema", "ParamSpec"),
    "serve": ("trackbook.models.serving", "serve"),
    "ScoringServer": ("trackbook.models.serving", "ScoringServer"),
    "check": ("trackbook.models.check", "check"),
    "CheckResult": ("trackbook.models.check", "CheckResult"),
    "score_batch": ("trackbook.models.batch", "score_batch"),
    "register_resolver": ("trackbook.models.uri", "register_resolver"),
    "SchemaEnforcementError": ("trackbook.models._errors", "SchemaEnforcementError"),
    "ModelError": ("trackbook.models._errors", "ModelError"),
    "DependencyWarning": ("trackbook.models._errors", "DependencyWarning"),
    "ModelWarning": ("trackbook.models._errors", "ModelWarning"),
    "UntrustedTypesError": ("trackbook.models._errors", "UntrustedTypesError"),
}
# mlflow.models' evaluation names (scikit-learn and matplotlib load when evaluate runs)
_LAZY.update({name: ("trackbook.models.evaluation", name) for name in (
    "evaluate", "make_metric", "EvaluationMetric", "EvaluationResult", "EvaluationArtifact",
    "MetricThreshold", "list_evaluators", "validate_evaluation_results")})

__all__ = [
    "CheckResult",
    "ColSpec",
    "DependencyWarning",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "MetricThreshold",
    "Model",
    "ModelError",
    "ModelInfo",
    "ModelSignature",
    "ModelWarning",
    "ParamSchema",
    "ParamSpec",
    "PyFuncModel",
    "Schema",
    "SchemaEnforcementError",
    "ScoringServer",
    "TensorSpec",
    "UntrustedTypesError",
    "check",
    "evaluate",
    "infer_signature",
    "list_evaluators",
    "load_model",
    "log_model",
    "make_metric",
    "register_resolver",
    "save_model",
    "score_batch",
    "serve",
    "validate_evaluation_results",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from ._dispatch import log_model, save_model
    from ._errors import (
        DependencyWarning,
        ModelError,
        ModelWarning,
        SchemaEnforcementError,
        UntrustedTypesError,
    )
    from .batch import score_batch
    from .check import CheckResult, check
    from .evaluation import (
        EvaluationArtifact,
        EvaluationMetric,
        EvaluationResult,
        MetricThreshold,
        evaluate,
        list_evaluators,
        make_metric,
        validate_evaluation_results,
    )
    from .loading import PyFuncModel, load_model
    from .model import Model, ModelInfo
    from .schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
    from .serving import ScoringServer, serve
    from .signature import ModelSignature, infer_signature
    from .uri import register_resolver
