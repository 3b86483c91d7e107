"""Custom evaluation metrics: ``make_metric``, ``EvaluationMetric`` and ``MetricValue``.

The same shapes as ``mlflow.models.make_metric`` / ``mlflow.metrics.MetricValue``: an
``eval_fn`` returns a number or a ``MetricValue``; a number is logged under the metric's
name, a ``MetricValue``'s ``aggregate_results`` under ``<name>/<aggregate>`` (or ``<name>``
when the aggregate is named like the metric), and per-row ``scores`` go to the
``eval_results_table.json`` artifact.
"""

from __future__ import annotations

import inspect
import keyword
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import Any

from ._errors import EvaluationError

log = logging.getLogger(__name__)


@dataclass
class MetricValue:
    """What an ``eval_fn`` may return: per-row ``scores`` and ``justifications`` (lists),
    and ``aggregate_results`` (a dict of name -> number)."""

    scores: list[Any] | None = None
    justifications: list[str] | None = None
    aggregate_results: dict[str, float] | None = None


class EvaluationMetric:
    """A metric computed by :func:`~trackbook.models.evaluate` from its ``eval_fn``.

    Parameters
    ----------
    eval_fn
        ``eval_fn(predictions, targets, metrics, **kwargs)`` (parameters chosen by name), or
        the older ``eval_fn(eval_df, builtin_metrics)``; returns a number or a MetricValue.
    name, greater_is_better, long_name, version, metric_details, metric_metadata
        As in MLflow; ``version`` makes the logged name ``<name>/<version>``.
    """

    def __init__(self, eval_fn: Callable[..., Any], name: str, greater_is_better: bool,
                 long_name: str | None = None, version: str | None = None,
                 metric_details: str | None = None,
                 metric_metadata: dict[str, Any] | None = None,
                 genai_metric_args: dict[str, Any] | None = None) -> None:
        self.eval_fn = eval_fn
        self.name = name
        self.greater_is_better = greater_is_better
        self.long_name = long_name or name
        self.version = version
        self.metric_details = metric_details
        self.metric_metadata = metric_metadata
        self.genai_metric_args = genai_metric_args

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.eval_fn(*args, **kwargs)

    def __str__(self) -> str:
        parts = [f"name={self.name}, greater_is_better={self.greater_is_better}"]
        for label in ("long_name", "version", "metric_details", "metric_metadata"):
            if getattr(self, label):
                parts.append(f"{label}={getattr(self, label)}")
        return "EvaluationMetric(" + ", ".join(parts) + ")"

    __repr__ = __str__


def make_metric(*, eval_fn: Callable[..., Any], greater_is_better: bool,
                name: str | None = None, long_name: str | None = None,
                version: str | None = None, metric_details: str | None = None,
                metric_metadata: dict[str, Any] | None = None,
                genai_metric_args: dict[str, Any] | None = None) -> EvaluationMetric:
    """Make an :class:`EvaluationMetric` for ``evaluate(..., extra_metrics=[...])``.

    Parameters
    ----------
    eval_fn
        The function computing the metric (see :class:`EvaluationMetric`).
    greater_is_better
        Whether a larger value is better.
    name
        The logged name; defaults to ``eval_fn.__name__`` (required for a lambda). May not
        contain ``/``.

    Examples
    --------
    >>> def mae(predictions, targets):
    ...     return float((predictions - targets).abs().mean())
    >>> metric = make_metric(eval_fn=mae, greater_is_better=False)
    """
    if name is None:
        if isinstance(eval_fn, FunctionType) and eval_fn.__name__ == "<lambda>":
            raise EvaluationError("`name` must be specified if `eval_fn` is a lambda function.")
        if not hasattr(eval_fn, "__name__"):
            raise EvaluationError(
                "`name` must be specified if `eval_fn` does not have a `__name__` attribute.")
        name = eval_fn.__name__
    if "/" in name:
        raise EvaluationError(
            f"Invalid metric name '{name}'. Metric names cannot include forward slashes ('/').")
    if not name.isidentifier() or keyword.iskeyword(name) \
            or name in ("predictions", "targets", "metrics"):
        log.warning("The metric name %r cannot be used as an argument of other metrics", name)
    return EvaluationMetric(eval_fn, name, greater_is_better, long_name, version,
                            metric_details, metric_metadata, genai_metric_args)


def logged_name(metric: EvaluationMetric) -> str:
    """The key a metric's value is stored under (``name`` or ``name/version``)."""
    return f"{metric.name}/{metric.version}" if metric.version else metric.name


def as_metric_value(metric: EvaluationMetric, index: int, value: Any) -> MetricValue | None:
    """Check what ``eval_fn`` returned; a bad result is warned about and skipped, as MLflow
    does (the other metrics still log)."""
    import numpy as np

    where = f"Did not log metric '{metric.name}' at index {index} in the `extra_metrics` " \
            "parameter because it"
    if value is None:
        log.warning("%s returned None.", where)
        return None
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return MetricValue(aggregate_results={metric.name: value})
    if not isinstance(value, MetricValue):
        log.warning("%s did not return a MetricValue.", where)
        return None
    if value.scores is not None and not isinstance(value.scores, list):
        log.warning("%s must return MetricValue with scores as a list.", where)
        return None
    if value.justifications is not None and not isinstance(value.justifications, list):
        log.warning("%s must return MetricValue with justifications as a list.", where)
        return None
    if value.aggregate_results is not None and not isinstance(value.aggregate_results, dict):
        log.warning("%s must return MetricValue with aggregate_results as a dict.", where)
        return None
    return value


def eval_args(metric: EvaluationMetric, eval_df: Any, features: Any,
              values: dict[str, MetricValue], aggregates: dict[str, float],
              config: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The arguments to call ``metric.eval_fn`` with, chosen by parameter name as MLflow
    does, and the names of the parameters nothing could fill."""
    import copy

    params = inspect.signature(metric.eval_fn).parameters
    names = list(params)
    if len(names) == 2 and names[0] != "predictions" and names[1] != "targets":
        return [eval_df.copy(), copy.deepcopy(aggregates)], []  # eval_fn(eval_df, builtins)
    mapping = config.get("col_mapping", {})
    args: list[Any] = []
    missing: list[str] = []
    for pname, param in params.items():
        column = mapping.get(pname, pname)
        if column == "predictions":
            args.append(eval_df["prediction"].copy())
        elif column == "targets":
            if "target" in eval_df:
                args.append(eval_df["target"].copy())
            elif param.default is inspect.Parameter.empty:
                missing.append(pname)
            else:
                args.append(param.default)
        elif column == "metrics":
            args.append(copy.deepcopy(values))
        elif not isinstance(column, str):
            args.append(column)
        elif column in features.columns:
            args.append(features[column].copy())
        elif column in config:
            args.append(config[column])
        elif column in values:
            args.append(values[column])
        elif param.default is not inspect.Parameter.empty:
            args.append(param.default)
        else:
            missing.append(pname)
    return args, missing
