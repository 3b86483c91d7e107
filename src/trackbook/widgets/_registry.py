"""The registry widget: a registered model's versions with stage/alias badges, the metrics of
their source runs side by side, promote / archive / alias / roll back buttons, and the
promotion log.

Every action is a request/response message that writes through ``trackbook.Client`` (the
same API as code); the reply carries the result or the error, and the fresh state read back
from the store (the store is the source of truth).
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
from typing import Any, Literal, NotRequired, TypedDict

import traitlets

from .._errors import InvalidValueError
from ._base import TrackbookWidget
from ._html import format_value

log = logging.getLogger(__name__)

DEFAULT_MAX_METRICS = 6
HISTORY_SHOWN = 50
STAGE_TARGETS = ("Staging", "Production", "Archived", "None")
_FINAL = ("FINISHED", "FAILED", "KILLED")


# -- message shapes (js/src/registry.ts declares the same) -------------------------------

class VersionRow(TypedDict):
    """One version as the table shows it."""

    version: int
    stage: str
    aliases: list[str]
    run_id: str | None
    run_name: str | None
    source: str
    created: int  # ms since the epoch
    user: str | None
    description: str | None
    metrics: dict[str, float]  # latest values of the source run's key metrics


class LogRow(TypedDict):
    """One promotion-log entry (``PromotionEntry.to_dict()``)."""

    seq: int
    timestamp: int
    user: str | None
    action: str  # "stage" | "alias" | "rollback" | "rename"
    target: str
    version: int | None
    comment: str | None


class RegistryState(TypedDict):
    """Everything the view draws, read back from the store."""

    name: str
    versions: list[VersionRow]  # newest first
    metrics: list[str]  # metric columns, in order
    aliases: dict[str, int]
    history: list[dict[str, Any]]  # newest first, at most HISTORY_SHOWN
    history_total: int
    rollback_targets: list[str]  # held stages and aliases


class PromoteRequest(TypedDict):
    type: Literal["promote"]  # also used for Archive (stage "Archived")
    id: str
    version: int
    stage: str
    comment: NotRequired[str]
    archive_existing_versions: NotRequired[bool]


class AliasRequest(TypedDict):
    type: Literal["alias"]
    id: str
    version: int
    alias: str
    comment: NotRequired[str]


class RollbackRequest(TypedDict):
    type: Literal["rollback"]
    id: str
    target: str  # a stage ("Production") or an alias ("champion")
    comment: NotRequired[str]


class Registry(TrackbookWidget):
    """A registered model's versions, promotions and promotion log. Create it with
    :func:`registry_panel` (or ``tb.registry(name)``).

    Actions are asked for in the view (with an inline confirmation) and answered by
    :meth:`handle_request` (``promote``, ``alias``, ``rollback``, ``state`` requests).
    """

    _bundle_name = "registry"

    model_name = traitlets.Unicode("").tag(sync=True)
    """The registered model shown."""

    metrics = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Metric keys of the source runs shown as columns (default: up to 6 of them)."""

    refresh_seconds = traitlets.Float(5.0).tag(sync=True)
    """How often the view re-reads the store (changes made from code); 0 turns it off."""

    def __init__(self, name: str, tracking_uri: str | None = None, **kwargs: Any) -> None:
        from ..client import Client

        self._client = Client(tracking_uri)
        self._run_cache: dict[str, Any] = {}
        self._client.get_registered_model(name)  # a clear error now, not in the view
        super().__init__(model_name=name, **kwargs)
        if not self.metrics:
            self.metrics = self._default_metrics()

    # -- reading -------------------------------------------------------------------------

    def _versions(self) -> list[Any]:
        """The model's live versions (straight from the registry: search_model_versions
        would fold every registered model to filter by name)."""
        return self._client._registry.versions(self.model_name)

    def _runs(self) -> dict[str, Any]:
        """Source runs of the live versions, by run id (None for a missing run).

        Finished runs are read once and cached (their metrics no longer change), so the
        view's refreshes only cost the registry read and the runs still going."""
        wanted = {mv.run_id for mv in self._versions() if mv.run_id}
        out: dict[str, Any] = {rid: self._run_cache[rid] for rid in wanted
                               if rid in self._run_cache}
        missing = sorted(wanted - set(out))
        if missing:
            found = self._fetch_runs(missing)
            for rid in missing:
                run = out[rid] = found.get(rid)  # None: deleted run or foreign source
                if run is not None and run.info.status in _FINAL:
                    self._run_cache[rid] = run
        return out

    def _fetch_runs(self, run_ids: list[str]) -> dict[str, Any]:
        """The runs ``run_ids`` in one search over every experiment (one get_run each if
        that search is refused)."""
        from ..tracking.entities import ViewType

        c = self._client
        try:
            exps = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
            quoted = ", ".join(f"'{r}'" for r in run_ids)
            runs = c.search_runs(exps, f"attributes.run_id IN ({quoted})",
                                 run_view_type=ViewType.ALL)
            return {r.info.run_id: r for r in runs}
        except Exception:
            log.debug("batched run lookup failed; reading runs one by one", exc_info=True)
        out = {}
        for rid in run_ids:
            try:
                out[rid] = c.get_run(rid)
            except Exception:
                continue
        return out

    def _default_metrics(self) -> list[str]:
        keys = sorted({k for run in self._runs().values() if run is not None
                       for k in run.data.metrics})
        return keys[:DEFAULT_MAX_METRICS]

    def state(self) -> RegistryState:
        """The versions, aliases and promotion log, read from the store now."""
        c = self._client
        name = self.model_name
        model = c.get_registered_model(name)
        runs = self._runs()
        versions = sorted(self._versions(), key=lambda mv: -mv.version)
        rows: list[VersionRow] = []
        for mv in versions:
            run = runs.get(mv.run_id) if mv.run_id else None
            run_metrics = dict(run.data.metrics) if run is not None else {}
            rows.append({
                "version": mv.version, "stage": mv.current_stage,
                "aliases": sorted(mv.aliases), "run_id": mv.run_id,
                "run_name": run.info.run_name if run is not None else None,
                "source": mv.source, "created": mv.creation_timestamp, "user": mv.user_id,
                "description": mv.description,
                "metrics": {k: run_metrics[k] for k in self.metrics if k in run_metrics},
            })
        history = c.get_model_version_history(name)
        held = [s for s in ("Production", "Staging")
                if any(r["stage"] == s for r in rows)]
        return {
            "name": name, "versions": rows, "metrics": list(self.metrics),
            "aliases": dict(sorted(model.aliases.items())),
            "history": [e.to_dict() for e in reversed(history[-HISTORY_SHOWN:])],
            "history_total": len(history),
            "rollback_targets": held + sorted(model.aliases),
        }

    # -- requests ------------------------------------------------------------------------

    def _answer(self, message: str) -> tuple[dict[str, Any], list[bytes]]:
        self.error = ""
        return {"message": message, "state": self.state()}, []

    def _req_state(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        return {"state": self.state()}, []

    def _req_promote(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        version = _version(msg)
        stage = str(msg.get("stage", ""))
        if stage not in STAGE_TARGETS:
            raise InvalidValueError(f"stage must be one of {', '.join(STAGE_TARGETS)}, got "
                                    f"{stage!r}")
        archive = bool(msg.get("archive_existing_versions", False))
        mv = self._client.transition_model_version_stage(
            self.model_name, version, stage, archive_existing_versions=archive,
            comment=_comment(msg))
        return self._answer(f"version {mv.version} is now in {mv.current_stage}"
                            + (" (others archived)" if archive else ""))

    def _req_alias(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        version = _version(msg)
        alias = str(msg.get("alias", "")).strip()
        if not alias:
            raise InvalidValueError("type an alias name (e.g. champion)")
        self._client.set_registered_model_alias(self.model_name, alias, version,
                                                comment=_comment(msg))
        return self._answer(f"alias @{alias} now points at version {version}")

    def _req_rollback(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        target = str(msg.get("target", "")).strip()
        if not target:
            raise InvalidValueError("say which stage or alias to roll back")
        mv = self._client.rollback(self.model_name, target, comment=_comment(msg))
        return self._answer(f"{target} rolled back to version {mv.version}")

    # -- fallbacks -----------------------------------------------------------------------

    def _rows_and_log(self) -> tuple[list[list[str]], list[str], list[dict[str, Any]]]:
        st = self.state()
        head = ["version", "stage", "aliases", "run", *st["metrics"]]
        rows = []
        for v in st["versions"]:
            run = v["run_id"][:8] if v["run_id"] else v["source"]
            if v["run_name"]:
                run = f"{run} {v['run_name']}"
            rows.append([str(v["version"]), v["stage"],
                         " ".join(f"@{a}" for a in v["aliases"]), run,
                         *(format_value("", v["metrics"].get(m)) for m in st["metrics"])])
        return [head, *rows], [st["name"]], st["history"][:5]

    def _repr_html_(self) -> str:
        try:
            grid, (name,), log = self._rows_and_log()
        except Exception as exc:
            return f"<pre>error: {html.escape(str(exc))}</pre>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in grid[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in grid[1:])
        items = "".join(f"<li>{html.escape(log_line(e))}</li>" for e in log)
        return (f'<div class="trackbook-registry"><table><caption>registered model '
                f"{html.escape(name)}: {len(grid) - 1} versions</caption><thead><tr>{head}"
                f"</tr></thead><tbody>{body}</tbody></table>"
                f"<p>promotion log (latest first):</p><ul>{items}</ul></div>")

    def __repr__(self) -> str:
        try:
            grid, (name,), log = self._rows_and_log()
        except Exception as exc:
            return f"Registry({self.model_name!r}; error: {exc})"
        widths = [max(len(r[i]) for r in grid) for i in range(len(grid[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                 for r in grid]
        out = [f"registered model {name}: {len(grid) - 1} versions", *lines]
        if log:
            out += ["promotion log (latest first):", *(f"  {log_line(e)}" for e in log)]
        return "\n".join(out)


def log_line(entry: dict[str, Any]) -> str:
    """One promotion-log entry as text: when, who, what, from -> to, comment."""
    when = _dt.datetime.fromtimestamp(entry["timestamp"] / 1000, tz=_dt.UTC)
    what = {"stage": f"v{entry['version']} stage", "alias": f"@{entry['target']}",
            "rollback": f"rollback {entry['target']}", "rename": "renamed"}.get(
                entry["action"], entry["action"])
    line = (f"{when:%Y-%m-%d %H:%M:%S} {entry.get('user') or '?'}: {what} "
            f"{_holder(entry['from'])} -> {_holder(entry['to'])}")
    if entry.get("archived"):
        line += f" (archived v{', v'.join(map(str, entry['archived']))})"
    if entry.get("comment"):
        line += f" — {entry['comment']}"
    return line


def _holder(value: Any) -> str:
    if value is None:
        return "(none)"
    return f"v{value}" if isinstance(value, int) else str(value)


def _version(msg: dict[str, Any]) -> int:
    try:
        return int(msg["version"])
    except (KeyError, TypeError, ValueError):
        raise InvalidValueError(f"a version number is needed, got {msg.get('version')!r}") \
            from None


def _comment(msg: dict[str, Any]) -> str | None:
    text = str(msg.get("comment") or "").strip()
    return text or None


def registry_panel(name: str, tracking_uri: str | None = None, **kwargs: Any) -> Registry:
    """A widget for the registered model ``name``: versions with stage/alias badges, the
    source runs' metrics side by side, promote / archive / alias / roll back buttons (each
    confirmed in the widget) and the promotion log. Also ``tb.registry(name)``.

    Parameters
    ----------
    name : str
        A registered model name.
    tracking_uri : str, optional
        The store (default: the current tracking URI).
    **kwargs
        Initial widget state: ``metrics`` (keys shown as columns), ``refresh_seconds``.

    Examples
    --------
    >>> tb.registry("churn-model")                                   # doctest: +SKIP
    """
    return Registry(name, tracking_uri=tracking_uri, **kwargs)
