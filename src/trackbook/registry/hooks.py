"""Local hooks on promotion events (stage changes, alias moves, rollbacks).

A hook runs in the process that made the change, right after the event is in the store:

- Python callables registered with :func:`on_promotion`, called with the
  :class:`~trackbook.registry.entities.PromotionEntry`;
- a shell command in ``$TRACKBOOK_PROMOTION_HOOK``, run with the entry as JSON on stdin
  (and ``TRACKBOOK_PROMOTION_ACTION`` / ``_MODEL`` / ``_TARGET`` in its environment).

A failing hook warns (:class:`RegistryHookWarning`); the promotion itself stands.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from collections.abc import Callable

from .entities import PromotionEntry
from .errors import RegistryHookWarning

log = logging.getLogger(__name__)
HOOK_ENV = "TRACKBOOK_PROMOTION_HOOK"
HOOK_TIMEOUT_SECONDS = 60.0

Hook = Callable[[PromotionEntry], object]
_hooks: list[Hook] = []


def on_promotion(callback: Hook) -> Hook:
    """Call ``callback(entry)`` after every promotion event this process writes.

    Returns ``callback``, so it works as a decorator; undo with :func:`remove_promotion_hook`.

    Examples
    --------
    >>> from trackbook.registry import on_promotion
    >>> @on_promotion                                                     # doctest: +SKIP
    ... def notify(entry):
    ...     print(entry.name, entry.action, entry.target, entry.from_, "->", entry.to)
    """
    if not callable(callback):
        raise TypeError(f"on_promotion needs a callable, got {callback!r}")
    _hooks.append(callback)
    return callback


def remove_promotion_hook(callback: Hook) -> None:
    """Stop calling ``callback`` (no error if it was not registered)."""
    while callback in _hooks:
        _hooks.remove(callback)


def fire(entry: PromotionEntry) -> None:
    """Run every hook for ``entry``; failures warn and never undo the promotion."""
    for hook in list(_hooks):
        try:
            hook(entry)
        except Exception as exc:
            warnings.warn(f"promotion hook {hook!r} failed on {entry.action} {entry.target} of "
                          f"{entry.name!r}: {type(exc).__name__}: {exc}", RegistryHookWarning,
                          stacklevel=4)
    command = os.environ.get(HOOK_ENV, "").strip()
    if command:
        _run_command(command, entry)


def _run_command(command: str, entry: PromotionEntry) -> None:
    env = dict(os.environ, TRACKBOOK_PROMOTION_ACTION=entry.action,
               TRACKBOOK_PROMOTION_MODEL=entry.name, TRACKBOOK_PROMOTION_TARGET=entry.target)
    try:
        proc = subprocess.run(command, shell=True, input=json.dumps(entry.to_dict()),
                              text=True, capture_output=True, timeout=HOOK_TIMEOUT_SECONDS,
                              env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        warnings.warn(f"${HOOK_ENV} command {command!r} failed: {exc}", RegistryHookWarning,
                      stacklevel=5)
        return
    if proc.returncode != 0:
        warnings.warn(f"${HOOK_ENV} command {command!r} exited with {proc.returncode}: "
                      f"{proc.stderr.strip()[-500:]}", RegistryHookWarning, stacklevel=5)
    elif proc.stdout.strip():
        log.info("promotion hook: %s", proc.stdout.strip()[-500:])
