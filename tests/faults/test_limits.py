"""Limits on logged values (issue 13, fault 8): every out-of-range input is refused with a
TrackbookError at the call, before anything is buffered or written.

Checked against MLflow 3.17 (see the README's "Bad input"): names as MLflow (250 characters,
experiment names 500); values longer than MLflow's (kept verbatim up to 1,000,000 characters
where MLflow truncates past 6,000/8,000); booleans are not metric values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import trackbook as tb
from trackbook._errors import InvalidNameError, InvalidValueError
from trackbook.tracking.entities import Metric
from trackbook.tracking.validation import MAX_VALUE_LENGTH

pytestmark = pytest.mark.usefixtures("store")


def points(run_id: str) -> list[tuple[Any, ...]]:
    df = tb.Client().get_metric_history_df(run_id)
    return sorted(zip(df["key"], df["step"], df["value"], df["timestamp"], strict=True))


def refused(calls: dict[str, Callable[[], object]], error: type[Exception]) -> list[str]:
    wrong = []
    for what, call in calls.items():
        try:
            call()
        except error:
            continue
        except Exception as exc:
            wrong.append(f"{what} raised {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{what} was accepted")
    return wrong


def test_values_past_the_limit_are_refused_and_at_it_kept() -> None:
    long = "x" * (MAX_VALUE_LENGTH + 1)
    with tb.start_run() as run:
        rid = run.info.run_id
        client = tb.Client()
        wrong = refused({
            "log_param": lambda: tb.log_param("p", long),
            "log_params": lambda: tb.log_params({"ok": 1, "p": long}),
            "set_tag": lambda: tb.set_tag("t", long),
            "set_tags": lambda: tb.set_tags({"ok": 1, "t": long}),
            "log_batch": lambda: client.log_batch(rid, params=[("p", long)]),
            "experiment tag": lambda: client.set_experiment_tag("0", "t", long),
        }, InvalidValueError)
        assert not wrong, "\n".join(wrong)
        with pytest.raises(InvalidNameError, match="1,000,001 characters"):
            client.update_run(rid, name=long)
        tb.log_param("edge", long[:-1])
    data = tb.get_run(rid).data
    assert data.params == {"edge": long[:-1]}
    assert "ok" not in data.tags


BOOLS = [True, False, np.True_, np.False_, np.bool_(1)]
STEPS = [2**63, -(2**63) - 1, 10**30, np.uint64(2**63), 2.0**70, True, np.True_]
TIMESTAMPS = [-1, 2**63, 10**30, np.int64(-5), True, np.True_]


def metric_calls(rid: str, value: Any = 1.0, step: Any = 0,
                 timestamp: Any = None) -> dict[str, Callable[[], object]]:
    client = tb.Client()
    ts = 1 if timestamp is None else timestamp
    return {
        "log_metric": lambda: tb.log_metric("m", value, step=step, timestamp=timestamp),
        "log_metrics": lambda: tb.log_metrics({"ok": 1.0, "m": value}, step=step,
                                              timestamp=timestamp),
        "Client.log_metric": lambda: client.log_metric(rid, "m", value, timestamp, step),
        "log_batch": lambda: client.log_batch(rid, metrics=[Metric("ok", 1.0, 1, 0),
                                                            Metric("m", value, ts, step)]),
    }


BAD_METRIC_INPUTS = ([("value", b) for b in BOOLS]
                     + [("value", 10**400), ("value", "1.5"), ("value", None)]
                     + [("step", s) for s in STEPS] + [("timestamp", t) for t in TIMESTAMPS])


@pytest.mark.parametrize(("field", "bad"), BAD_METRIC_INPUTS,
                         ids=[f"{f}={type(b).__name__}:{str(b)[:12]}"
                              for f, b in BAD_METRIC_INPUTS])
def test_bad_metric_inputs_are_refused_before_anything_is_buffered(field: str,
                                                                   bad: Any) -> None:
    """MLflow stores True as 1.0 and fails on step 2**63 only inside SQLite; trackbook
    refuses both at the call (before: np.True_ was 1.0 and step 2**63 was dropped at flush)."""
    with tb.start_run() as run:
        rid = run.info.run_id
        tb.log_metric("m", 0.5, step=1, timestamp=10)
        tb.flush()
        tb.log_metric("m", 0.25, step=2, timestamp=20)  # buffered
        wrong = refused(metric_calls(rid, **{field: bad}), InvalidValueError)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tb.end_run()
    assert not wrong, "\n".join(wrong)
    assert not caught, [str(w.message) for w in caught]
    assert points(rid) == [("m", 1, 0.5, 10), ("m", 2, 0.25, 20)]


def test_range_edges_are_accepted() -> None:
    """The extremes MLflow takes: int64 steps, timestamp 0, NaN and inf values."""
    with tb.start_run() as run:
        tb.log_metric("a", float("nan"), step=2**63 - 1, timestamp=0)
        tb.log_metric("a", float("inf"), step=-(2**63), timestamp=2**63 - 1)
        tb.log_metrics({"b": float("-inf")}, step=np.int64(7))
        tb.log_metric("c", np.float32(0.5), step=np.int32(3))
    got = points(run.info.run_id)
    assert [(k, s) for k, s, _, _ in got] == [("a", -(2**63)), ("a", 2**63 - 1), ("b", 7),
                                              ("c", 3)]


def test_names_follow_mlflow_limits() -> None:
    with tb.start_run():
        wrong = refused({
            "metric key 251": lambda: tb.log_metric("k" * 251, 1.0),
            "param key 251": lambda: tb.log_param("k" * 251, 1),
            "tag key 251": lambda: tb.set_tag("k" * 251, 1),
            "experiment name 501": lambda: tb.create_experiment("e" * 501),
        }, InvalidNameError)
        tb.log_param("k" * 250, 1)
    assert not wrong, "\n".join(wrong)


def test_log_batch_has_no_count_limit_like_mlflows_client() -> None:
    """MLflow's client splits a log_batch into requests of 1,000 metrics / 100 params /
    100 tags; trackbook writes a batch of any size at once."""
    with tb.start_run() as run:
        rid = run.info.run_id
        tb.Client().log_batch(rid, metrics=[Metric("m", float(i), 1, i) for i in range(5000)],
                              params=[(f"p{i}", i) for i in range(500)],
                              tags=[(f"t{i}", i) for i in range(500)])
    data = tb.get_run(rid).data
    assert len(data.params) == 500
    assert len(points(rid)) == 5000
