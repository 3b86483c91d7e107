"""Autolog overhead on ``xgboost.train``: 200 rounds on 10k rows x 20 features, one eval set.

CPU time of the same process (``nthread=1``, so other load on the machine counts less),
autolog off / per-iteration metrics only / + feature importance / + model, median of 3.
Run: ``PYTHONPATH=src python benchmarks/bench_autolog_xgboost.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import numpy as np
import xgboost as xgb

import trackbook as tb

MODES = {
    "off": {"disable": True},
    "metrics only (importance_types=[])": {"log_models": False, "importance_types": []},
    "log_models=False": {"log_models": False},
    "log_models=True": {"log_models": True},
}
PARAMS = {"objective": "binary:logistic", "max_depth": 4, "nthread": 1,
          "eval_metric": ["logloss", "auc"]}


def main() -> None:
    tb.set_tracking_uri(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    X = rng.random((10_000, 20))
    dtrain = xgb.DMatrix(X, label=(X[:, 0] + X[:, 1] > 1).astype(int))
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for rep in range(4):  # the first round warms up imports and caches
        for mode, settings in MODES.items():
            tb.xgboost.autolog(**settings)
            start = time.process_time()
            xgb.train(PARAMS, dtrain, 200, evals=[(dtrain, "train")], verbose_eval=False)
            tb.flush()
            if rep:
                times[mode].append(time.process_time() - start)
    base = statistics.median(times["off"])
    for mode, values in times.items():
        med = statistics.median(values)
        print(f"{mode:38s} {med:.3f}s cpu (+{med - base:.3f}s, "
              f"{100 * (med - base) / base:+.1f}%)")


if __name__ == "__main__":
    main()
