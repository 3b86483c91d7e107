"""Base class of trackbook's widgets: request/response over custom messages.

The browser sends ``{"type": kind, "id": ..., ...}``; :meth:`TrackbookWidget.handle_request`
routes it to ``_req_<kind>`` and the answer goes back with the same id, plus binary
buffers. Errors never escape as tracebacks into a lost log: they come back as
``{"ok": False, "error": "..."}`` and the widget shows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

import anywidget
import traitlets

from .._errors import TrackbookError
from ._bundle import read_bundle
from ._protocol import Reply

log = logging.getLogger(__name__)

SLOW_REQUEST_SECONDS = 0.3

Handler = Callable[[dict[str, Any]], tuple[dict[str, Any], list[bytes]]]


class TrackbookWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """An anywidget whose ESM comes from ``trackbook/static/<_bundle_name>.js``."""

    _bundle_name: ClassVar[str] = ""

    error = traitlets.Unicode("").tag(sync=True)
    """The last error shown in the widget (e.g. a filter syntax error); empty when fine."""

    @property
    def _esm(self) -> str:  # read by anywidget when the widget is created
        return read_bundle(self._bundle_name)

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(k for k in kwargs if not self.has_trait(k))
        if unknown:
            allowed = sorted(n for n in self.trait_names(sync=True) if not n.startswith("_"))
            raise TypeError(
                f"{type(self).__name__} got unknown argument(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(allowed)}")
        super().__init__(**kwargs)
        # NB: not ``_handle_msg``, which is ipywidgets' own comm handler.
        self.on_msg(self._on_custom_msg)

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "id" not in content:
            return
        reply, buffers = self.handle_request(content)
        self.send(reply, buffers or None)

    def handle_request(self, content: dict[str, Any]) -> tuple[Reply, list[bytes]]:
        """Answer one request from the browser (also the entry point of message tests).

        Parameters
        ----------
        content : dict
            ``{"type": kind, "id": request_id, ...}``.

        Returns
        -------
        tuple of (Reply, list of bytes)
            The reply (``ok`` False with ``error`` on failure) and its binary buffers.
        """
        kind = str(content.get("type", ""))
        reply: Reply = {"type": "reply", "id": str(content.get("id", "")), "ok": True}
        handler: Handler | None = getattr(self, f"_req_{kind}", None)
        if handler is None:
            reply.update(ok=False, error=f"unknown request type {kind!r}")
            return reply, []
        t0 = time.perf_counter()
        try:
            payload, buffers = handler(content)
        except (TrackbookError, ValueError, TypeError, LookupError) as exc:
            reply.update(ok=False, error=str(exc))
            return reply, []
        except Exception as exc:  # shown in the widget; the traceback goes to the log
            log.exception("%s request %r failed", type(self).__name__, kind)
            reply.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            return reply, []
        finally:
            dt = time.perf_counter() - t0
            if dt > SLOW_REQUEST_SECONDS:
                log.info("%s %s request took %.3fs", type(self).__name__, kind, dt)
        reply.update(payload)  # type: ignore[typeddict-item]
        reply["ms"] = round((time.perf_counter() - t0) * 1000, 1)
        return reply, buffers
