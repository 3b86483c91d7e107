"""Model validation against thresholds and a baseline: ``MetricThreshold`` and
``validate_evaluation_results`` (MLflow 3 moved baseline comparison out of ``evaluate``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from ._errors import EvaluationError, ModelValidationFailedException
from .result import EvaluationResult

log = logging.getLogger(__name__)


class MetricThreshold:
    """What a metric must reach: an absolute ``threshold``, and/or a minimum absolute or
    relative (0..1, of the baseline's magnitude) improvement over a baseline model.

    Parameters
    ----------
    threshold, min_absolute_change, min_relative_change
        At least one is required.
    greater_is_better
        Required: the direction of "better".
    """

    def __init__(self, threshold: float | None = None,
                 min_absolute_change: float | None = None,
                 min_relative_change: float | None = None,
                 greater_is_better: bool | None = None) -> None:
        if threshold is not None and type(threshold) not in (int, float):
            raise EvaluationError("`threshold` parameter must be a number.")
        if min_absolute_change is not None and (
                type(min_absolute_change) not in (int, float) or min_absolute_change <= 0):
            raise EvaluationError("`min_absolute_change` parameter must be a positive number.")
        if min_relative_change is not None:
            if not isinstance(min_relative_change, float):
                raise EvaluationError(
                    "`min_relative_change` parameter must be a floating point number.")
            if not 0 <= min_relative_change <= 1:
                raise EvaluationError("`min_relative_change` parameter must be between 0 and 1.")
        if greater_is_better is None:
            raise EvaluationError("`greater_is_better` parameter must be defined.")
        if not isinstance(greater_is_better, bool):
            raise EvaluationError("`greater_is_better` parameter must be a boolean.")
        if threshold is None and min_absolute_change is None and min_relative_change is None:
            raise EvaluationError("no threshold was specified.")
        self.threshold = threshold
        self.min_absolute_change = min_absolute_change
        self.min_relative_change = min_relative_change
        self.greater_is_better = greater_is_better

    def __str__(self) -> str:
        parts = []
        if self.threshold is not None:
            parts.append(f"Threshold: {self.threshold}.")
        if self.min_absolute_change is not None:
            parts.append(f"Minimum Absolute Change: {self.min_absolute_change}.")
        if self.min_relative_change is not None:
            parts.append(f"Minimum Relative Change: {self.min_relative_change}.")
        parts.append("Greater value is better." if self.greater_is_better
                     else "Lower value is better.")
        return " ".join(parts)


@dataclass
class _Check:
    name: str
    candidate: Any
    baseline: Any
    rule: MetricThreshold
    missing_candidate: bool = False
    missing_baseline: bool = False
    threshold_failed: bool = False
    absolute_failed: bool = False
    relative_failed: bool = False

    def failures(self) -> str:
        n, c, b, rule = self.name, self.candidate, self.baseline, self.rule
        if self.missing_candidate:
            return (f"Metric validation failed: metric {n} was missing from the evaluation "
                    "result of the candidate model.")
        out = []
        if self.threshold_failed:
            out.append(f"Metric {n} value threshold check failed: candidate model {n} = {c}, "
                       f"{n} threshold = {rule.threshold}.")
        if self.missing_baseline:
            out.append(f"Model comparison failed: metric {n} was missing from the evaluation "
                       "result of the baseline model.")
        if self.absolute_failed:
            out.append(f"Metric {n} minimum absolute change check failed: candidate model "
                       f"{n} = {c}, baseline model {n} = {b}, {n} minimum absolute change "
                       f"threshold = {rule.min_absolute_change}.")
        if self.relative_failed:
            out.append(f"Metric {n} minimum relative change check failed: candidate model "
                       f"{n} = {c}, baseline model {n} = {b}, {n} minimum relative change "
                       f"threshold = {rule.min_relative_change}.")
        return " ".join(out)


def validate_evaluation_results(validation_thresholds: dict[str, MetricThreshold],
                                candidate_result: EvaluationResult,
                                baseline_result: EvaluationResult | None = None) -> None:
    """Check a candidate's metrics against thresholds (and a baseline's metrics).

    Raises
    ------
    ModelValidationFailedException
        Listing every metric that failed, one line each.
    """
    if type(validation_thresholds) is not dict or not all(
            type(k) is str and isinstance(t, MetricThreshold)
            for k, t in validation_thresholds.items()):
        raise EvaluationError("The validation thresholds argument must be a dictionary that "
                              "maps strings to MetricThreshold objects.")
    cand = candidate_result.metrics
    base = baseline_result.metrics if baseline_result else {}
    lines = []
    for name, rule in validation_thresholds.items():
        check = _check(name, rule, cand, base)
        if text := check.failures():
            lines.append(text)
    if lines:
        raise ModelValidationFailedException(os.linesep.join(lines))


def _check(name: str, rule: MetricThreshold, cand: dict[str, Any],
           base: dict[str, Any]) -> _Check:
    from decimal import Decimal

    check = _Check(name, cand.get(name), base.get(name), rule)
    if name not in cand:
        check.missing_candidate = True
        return check
    c = cand[name]

    def better(a: Any, b: Any) -> bool:
        return a >= b if rule.greater_is_better else a <= b

    sign = 1 if rule.greater_is_better else -1
    if rule.threshold is not None:
        check.threshold_failed = not better(c, rule.threshold)
    if (rule.min_relative_change or rule.min_absolute_change) and name not in base:
        check.missing_baseline = True
        return check
    b = base.get(name)
    if rule.min_absolute_change is not None:
        check.absolute_failed = not better(Decimal(c),
                                           Decimal(b + sign * rule.min_absolute_change))
    if rule.min_relative_change is not None:
        if b == 0:
            log.warning("Cannot perform relative model comparison for metric %s as baseline "
                        "metric value is 0; checking candidate is better than baseline.", name)
            check.relative_failed = not better(Decimal(c), Decimal(b + sign * 1e-10))
        else:
            change = sign * (c - b) / abs(b)
            check.relative_failed = change < rule.min_relative_change
    return check
