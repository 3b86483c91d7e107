"""``mlflow.metrics`` for classifiers and regressors: ``MetricValue``, ``make_metric`` and
the scikit-learn metrics (``mae()``, ``rmse()``, ``f1_score()``...) to pass as
``evaluate(..., extra_metrics=[...])``. The GenAI metrics (toxicity, rouge, ``genai``...)
are out of scope and raise saying so.
"""

from __future__ import annotations

from typing import Any

from .models.evaluation.metric import EvaluationMetric, MetricValue, make_metric

# metric factory -> (sklearn function, logged name, greater_is_better, is a classifier metric)
_SKLEARN = {
    "mae": ("mean_absolute_error", "mean_absolute_error", False, False),
    "mse": ("mean_squared_error", "mean_squared_error", False, False),
    "rmse": ("root_mean_squared_error", "root_mean_squared_error", False, False),
    "r2_score": ("r2_score", "r2_score", True, False),
    "max_error": ("max_error", "max_error", False, False),
    "mape": ("mean_absolute_percentage_error", "mean_absolute_percentage_error", False, False),
    "recall_score": ("recall_score", "recall_score", True, True),
    "precision_score": ("precision_score", "precision_score", True, True),
    "f1_score": ("f1_score", "f1_score", True, True),
}
_GENAI = ("flesch_kincaid_grade_level", "ari_grade_level", "exact_match", "rouge1", "rouge2",
          "rougeL", "rougeLsum", "toxicity", "token_count", "latency", "genai", "bleu",
          "precision_at_k", "recall_at_k", "ndcg_at_k")


def _factory(fn_name: str, name: str, greater: bool, classifier: bool) -> Any:
    def eval_fn(predictions: Any, targets: Any = None, metrics: Any = None,
                sample_weight: Any = None, **kw: Any) -> MetricValue | None:
        if targets is None or len(targets) == 0:
            return None
        from sklearn import metrics as skm

        fn = getattr(skm, fn_name)
        if fn_name == "max_error":
            value = fn(targets, predictions)
        else:
            value = fn(targets, predictions, sample_weight=sample_weight, **kw)
        return MetricValue(aggregate_results={name: value})

    if classifier:
        def clf_fn(predictions: Any, targets: Any = None, metrics: Any = None,
                   pos_label: Any = 1, average: str = "binary",
                   sample_weight: Any = None) -> MetricValue | None:
            return eval_fn(predictions, targets, metrics, sample_weight,
                           pos_label=pos_label, average=average)
        chosen = clf_fn
    else:
        def reg_fn(predictions: Any, targets: Any = None, metrics: Any = None,
                   sample_weight: Any = None) -> MetricValue | None:
            return eval_fn(predictions, targets, metrics, sample_weight)
        chosen = reg_fn

    def make() -> EvaluationMetric:
        return make_metric(eval_fn=chosen, greater_is_better=greater, name=name)

    make.__doc__ = f"An :class:`EvaluationMetric` logging ``{name}`` (sklearn's {fn_name})."
    return make


mae, mse, rmse, r2_score, max_error, mape, recall_score, precision_score, f1_score = (
    _factory(*_SKLEARN[n]) for n in ("mae", "mse", "rmse", "r2_score", "max_error", "mape",
                                     "recall_score", "precision_score", "f1_score"))


def __getattr__(name: str) -> Any:
    if name in _GENAI:
        from .models.evaluation._errors import EvaluationError

        raise EvaluationError(f"mlflow.metrics.{name} is a GenAI/text metric, out of scope "
                              f"for trackbook; available: {sorted(__all__)}")
    raise AttributeError(f"module 'trackbook.metrics' has no attribute {name!r}")


__all__ = ["EvaluationMetric", "MetricValue", "make_metric", *sorted(_SKLEARN)]
