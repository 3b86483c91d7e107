"""Sweep parameter spaces: grids, seeded random samples, and their errors."""

from __future__ import annotations

import pytest

from trackbook._errors import InvalidValueError
from trackbook.projects import choice, loguniform, randint, uniform
from trackbook.projects.space import grid_trials, random_trials, sample_grid
from trackbook.projects.sweeps import _max_parallel, _points


def test_grid_is_every_combination_last_parameter_fastest() -> None:
    assert grid_trials({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


def test_random_search_is_reproducible_with_a_seed() -> None:
    space = {"lr": loguniform(1e-4, 1e-1), "depth": randint(2, 4), "act": ["relu", "tanh"],
             "drop": uniform(0.0, 0.5), "opt": choice(["sgd", "adam"])}
    first = random_trials(space, 20, seed=7)
    assert first == random_trials(space, 20, seed=7)
    assert first != random_trials(space, 20, seed=8)
    for t in first:
        assert 1e-4 <= t["lr"] <= 1e-1
        assert t["depth"] in (2, 3, 4)
        assert t["act"] in ("relu", "tanh")
        assert 0.0 <= t["drop"] <= 0.5
        assert t["opt"] in ("sgd", "adam")
    assert {t["depth"] for t in first} == {2, 3, 4}


def test_grid_with_n_trials_samples_distinct_points_in_order() -> None:
    points = grid_trials({"a": list(range(10))})
    picked = sample_grid(points, 4, seed=1)
    assert len(picked) == 4
    assert picked == sorted(picked, key=lambda p: p["a"])
    assert picked == sample_grid(points, 4, seed=1)
    assert sample_grid(points, 50) == points


@pytest.mark.parametrize(("make", "message"), [
    (lambda: grid_trials({}), "grid must be a non-empty dict"),
    (lambda: grid_trials({"a": 3}), "grid parameter 'a' must be a list of values"),
    (lambda: grid_trials({"a": []}), "grid parameter 'a' has no values"),
    (lambda: grid_trials({"a": uniform(0, 1)}), "a grid needs lists of values"),
    (lambda: random_trials({"a": [1]}, 0), "n_trials must be a positive int"),
    (lambda: random_trials({"a": "xyz"}, 2), "space parameter 'a' must be a list"),
    (lambda: uniform(2, 1), "uniform needs low <= high"),
    (lambda: loguniform(0, 1), "loguniform needs low > 0"),
    (lambda: randint(0.5, 2), "randint needs two ints"),
    (lambda: choice([]), "choice needs a non-empty list"),
    (lambda: _points(None, None, None, None), "pass grid= .* or space="),
    (lambda: _points({"a": [1]}, {"a": [1]}, 2, None), "not both or neither"),
    (lambda: _points(None, {"a": [1]}, None, None), "needs n_trials"),
    (lambda: _max_parallel(0), "max_parallel must be a positive int"),
])
def test_bad_spaces_are_clear_errors(make: object, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        make()  # type: ignore[operator]


def test_default_parallelism_is_bounded_by_this_machine() -> None:
    assert 1 <= _max_parallel(None) <= 8
