"""Parameter spaces for sweeps: a grid of lists, or distributions sampled with a seed.

>>> grid_trials({"alpha": [0.1, 1.0], "l1_ratio": [0.2]})
[{'alpha': 0.1, 'l1_ratio': 0.2}, {'alpha': 1.0, 'l1_ratio': 0.2}]
>>> len(random_trials({"alpha": loguniform(1e-3, 1.0), "l1_ratio": [0.1, 0.9]}, 5, seed=0))
5
"""

from __future__ import annotations

import abc
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidValueError


class Distribution(abc.ABC):
    """Something a random search samples a value from."""

    @abc.abstractmethod
    def sample(self, rng: random.Random) -> Any:
        """One value drawn with ``rng``."""


# Lower-case names: in a space they read like calls (scipy.stats, ray.tune do the same).
@dataclass(frozen=True)
class uniform(Distribution):
    """A float between ``low`` and ``high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range(self, self.low, self.high)

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class loguniform(Distribution):
    """A float between ``low`` and ``high`` (both > 0), uniform on a log scale."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range(self, self.low, self.high)
        if self.low <= 0:
            raise InvalidValueError(f"loguniform needs low > 0, got {self.low}")

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))


@dataclass(frozen=True)
class randint(Distribution):
    """An int from ``low`` to ``high``, both included."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not all(isinstance(v, int) and not isinstance(v, bool)
                   for v in (self.low, self.high)):
            raise InvalidValueError(f"randint needs two ints, got {self.low!r}, {self.high!r}")
        _check_range(self, self.low, self.high)

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class choice(Distribution):
    """One of ``values`` (a plain list in a space means the same)."""

    values: tuple[Any, ...]

    def __init__(self, values: Sequence[Any]) -> None:
        if isinstance(values, str | bytes) or not list(values):
            raise InvalidValueError(f"choice needs a non-empty list of values, got {values!r}")
        object.__setattr__(self, "values", tuple(values))

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.values)


def _check_range(dist: Distribution, low: float, high: float) -> None:
    name = type(dist).__name__
    if isinstance(low, bool) or isinstance(high, bool) or not all(
            isinstance(v, int | float) for v in (low, high)):
        raise InvalidValueError(f"{name} needs two numbers, got {low!r}, {high!r}")
    if not low <= high:
        raise InvalidValueError(f"{name} needs low <= high, got {low!r} > {high!r}")


def _values(name: str, values: Any, what: str) -> list[Any]:
    if isinstance(values, Distribution):
        raise InvalidValueError(f"{what} {name!r}: a grid needs lists of values; use space= "
                                "with n_trials for distributions")
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | set | range):
        raise InvalidValueError(f"{what} {name!r} must be a list of values, got "
                                f"{values!r}; put fixed values in parameters=")
    out = list(values)
    if not out:
        raise InvalidValueError(f"{what} {name!r} has no values")
    return out


def grid_trials(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last parameter varying fastest."""
    if not isinstance(grid, Mapping) or not grid:
        raise InvalidValueError(f"grid must be a non-empty dict of lists, got {grid!r}")
    names = list(grid)
    columns = [_values(n, grid[n], "grid parameter") for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*columns)]


def random_trials(space: Mapping[str, Any], n_trials: int,
                  seed: int | None = None) -> list[dict[str, Any]]:
    """``n_trials`` independent samples of ``space`` (lists are sampled uniformly)."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidValueError(f"space must be a non-empty dict, got {space!r}")
    check_n_trials(n_trials)
    dists = {n: v if isinstance(v, Distribution) else choice(_values(n, v, "space parameter"))
             for n, v in space.items()}
    rng = random.Random(seed)
    return [{n: d.sample(rng) for n, d in dists.items()} for _ in range(n_trials)]


def sample_grid(trials: list[dict[str, Any]], n_trials: int,
                seed: int | None = None) -> list[dict[str, Any]]:
    """``n_trials`` distinct grid points, in grid order (all of them when fewer)."""
    check_n_trials(n_trials)
    if n_trials >= len(trials):
        return trials
    keep = sorted(random.Random(seed).sample(range(len(trials)), n_trials))
    return [trials[i] for i in keep]


def check_n_trials(n_trials: Any) -> int:
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidValueError(f"n_trials must be a positive int, got {n_trials!r}")
    return n_trials
