"""Scoring a plain scikit-learn model with a numpy array instead of a DataFrame.

scikit-learn validates a DataFrame at a fixed cost per call (feature names, dtypes through
pandas and narwhals: ~1-2 ms on this kind of machine, whatever the row count) against
~0.2-0.4 ms for a numpy array. The scoring server's usual request is a few numeric rows,
so it hands the estimator the 2-D array the DataFrame would have become, when the
estimator is known to treat both the same:

- its class comes from scikit-learn and it holds no estimators, functions or classes in
  its parameters (a ``FunctionTransformer``, a ``ColumnTransformer`` or a score function
  may look at column names), no categorical features and no pandas output; a
  ``Pipeline`` qualifies when each of its steps does;
- it was fitted on exactly these column names in this order, or without names.

The array goes to a shallow copy of the estimator without ``feature_names_in_`` (so
scikit-learn does not warn that the array has no names); the loaded model is untouched.
Anything else returns None, and the caller takes the DataFrame path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

# Estimators that pick or transform columns with user code or by name.
_ROUTERS = frozenset({"ColumnTransformer", "FunctionTransformer", "FeatureUnion",
                      "TransformedTargetRegressor"})


def _holds_code(value: Any) -> bool:
    if callable(value) or hasattr(value, "fit"):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, tuple) or _holds_code(v) for v in value)
    return False


def _plain(est: Any) -> bool:
    """True for a scikit-learn estimator that treats an array as the same DataFrame."""
    cls = type(est)
    if not cls.__module__.startswith("sklearn.") or cls.__name__ in _ROUTERS:
        return False
    output = getattr(est, "_sklearn_output_config", None) or {}
    if output.get("transform", "default") != "default":
        return False
    categorical = getattr(est, "is_categorical_", None)
    if categorical is not None and bool(getattr(categorical, "any", lambda: True)()):
        return False
    try:
        params = est.get_params(deep=False)
    except Exception:  # not a well-formed estimator: do not guess
        return False
    return not any(_holds_code(v) for v in params.values())


def _without_names(est: Any) -> Any:
    twin = copy.copy(est)
    vars(twin).pop("feature_names_in_", None)
    return twin


def sklearn_array_scorer(model: Any, predict_fn: str, columns: Sequence[str]
                         ) -> Callable[[Any], Any] | None:
    """``model.<predict_fn>`` for 2-D arrays of ``columns`` (see the module docstring),
    or None when the array could be treated differently from the DataFrame."""
    try:
        import sklearn
        from sklearn.pipeline import Pipeline
    except ImportError:
        return None
    if sklearn.get_config().get("transform_output", "default") != "default":
        return None
    is_pipeline = type(model) is Pipeline
    steps = [s for _, s in model.steps] if is_pipeline else [model]
    steps = [s for s in steps if s is not None and not isinstance(s, str)]  # "passthrough"
    if not steps or not all(_plain(s) for s in steps):
        return None
    names = getattr(steps[0], "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != list(columns):
        return None  # the DataFrame path raises scikit-learn's own error about it
    if any(hasattr(s, "feature_names_in_") for s in steps[1:]):
        return None  # a later step was fitted on a DataFrame: it expects one
    if is_pipeline:
        twin = copy.copy(model)
        first = steps[0]
        twin.steps = [(n, _without_names(s) if s is first else s) for n, s in model.steps]
    else:
        twin = _without_names(model)
    fn = getattr(twin, predict_fn, None)
    if not callable(fn):
        return None
    if is_pipeline:
        return fn  # later steps check what earlier ones produce: keep every check
    import numpy as np

    def score(array: Any) -> Any:
        # A lone estimator checks only its input for NaN/inf; checked here in ~1 us instead
        # of ~40 us (an array that fails goes the DataFrame way, to scikit-learn's message).
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError("the input has missing or infinite values")
        with sklearn.config_context(assume_finite=True):
            return fn(array)

    return score
