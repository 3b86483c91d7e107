"""Which run an autologged call logs into: the active one, or one it starts and ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import _config

AUTOLOG_TAG = "mlflow.autologging"  # MLflow's tag on the runs autologging creates


@contextlib.contextmanager
def training_run(flavor: str, *, tags: dict[str, Any] | None = None,
                 nested: bool = False) -> Iterator[Any | None]:
    """Yield the run a training call logs into, or None when it must not log.

    With an active run the call logs into it (unless ``exclusive``) and leaves it open.
    Without one, a run tagged ``mlflow.autologging=<flavor>`` is started and ended after
    the call: FINISHED, or FAILED when training raised (the exception propagates).
    ``nested`` starts a child of the active run instead (search-CV candidates).
    """
    from ..tracking import fluent

    config = _config.get(flavor)
    active = fluent.active_run()
    if config is None:
        yield None
        return
    if active is not None and not nested:
        yield None if config.exclusive else active
        return
    run = fluent.start_run(nested=nested, tags={AUTOLOG_TAG: flavor, **config.extra_tags,
                                                **(tags or {})})
    try:
        yield run
    except BaseException:
        fluent._end(run, "FAILED")
        raise
    fluent._end(run, "FINISHED")
