"""Model evaluation in MLflow's shape: ``evaluate``, ``make_metric``, ``EvaluationResult``.

Everything heavy (scikit-learn, matplotlib, pandas) loads when ``evaluate`` runs.
"""

from __future__ import annotations

from ._errors import EvaluationError, ModelValidationFailedException
from .evaluate import SUPPORTED_MODEL_TYPES, evaluate
from .metric import EvaluationMetric, MetricValue, make_metric
from .result import (
    CsvEvaluationArtifact,
    EvaluationArtifact,
    EvaluationResult,
    ImageEvaluationArtifact,
    JsonEvaluationArtifact,
    NumpyEvaluationArtifact,
    PickleEvaluationArtifact,
    TextEvaluationArtifact,
)
from .validation import MetricThreshold, validate_evaluation_results


def list_evaluators() -> list[str]:
    """The evaluator names ``evaluate(evaluators=...)`` accepts."""
    return ["default", "classifier", "regressor"]


__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "CsvEvaluationArtifact",
    "EvaluationArtifact",
    "EvaluationError",
    "EvaluationMetric",
    "EvaluationResult",
    "ImageEvaluationArtifact",
    "JsonEvaluationArtifact",
    "MetricThreshold",
    "MetricValue",
    "ModelValidationFailedException",
    "NumpyEvaluationArtifact",
    "PickleEvaluationArtifact",
    "TextEvaluationArtifact",
    "evaluate",
    "list_evaluators",
    "make_metric",
    "validate_evaluation_results",
]
