"""Fork server of ``test_kill_points.py``: scripted run lives that count their write steps.

Started once (imports paid once), it reads lines ``ROOT PHASE KILL_AT WHEN RESULT`` on stdin
and forks a child per line that runs PHASE in store ROOT (``life``: start a run, params,
tags, metrics over several flushes with a compaction, end it; ``resume``: resume that run,
log more, compact, end it; ``reg_setup``, ``registry``, ``reg_more``: the registry claims of
``test_kill_points_registry.py``) and exits as a script does (exit hooks run). Every
``os.replace``/``rename``/``link``/``unlink``/``write``/``ftruncate`` on a path under ROOT
is one write step; the child SIGKILLs itself just before (WHEN=before) or just after
(WHEN=after) step KILL_AT (0: never) and otherwise writes the steps it took to RESULT as
JSON. The server answers each line with the child's wait status. Nothing in trackbook knows
about this: the os functions are wrapped here.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys

ROOT, PHASE, KILL_AT, WHEN = "/nonexistent", "", 0, ""
steps: list[str] = []
logged = 0  # metric points the script has logged so far (a flush writes all of them)
_busy = False
TRACE: int | None = None  # fd of ROOT/../trace in an s3life child


def _under_root(path: object) -> bool:
    try:
        p = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return p == ROOT or p.startswith(ROOT + os.sep)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _registry_name(path: str) -> str:
    """``<model slug>/[versions|events/]<file>`` of a registry path; a claim's temp file
    ``.<n>.json.<pid>.<hex>.tmp`` as ``<n>.json~tmp``."""
    parts = path.split(os.sep + "registry" + os.sep, 1)[1].split(os.sep)
    parts[0] = parts[0].rsplit("-", 1)[0]
    if parts[-1].startswith(".") and parts[-1].endswith(".tmp"):
        parts[-1] = parts[-1][1:].split(".json.", 1)[0] + ".json~tmp"
    return "/".join(parts)


def _describe(name: str, args: tuple[object, ...]) -> str:
    path = _fd_path(args[0]) if name in ("write", "ftruncate") else os.fsdecode(  # type: ignore[arg-type]
        args[-1] if name != "unlink" else args[0])  # type: ignore[arg-type]
    if os.sep + "registry" + os.sep in path:
        return f"{name} {_registry_name(path)}"
    if name in ("write", "ftruncate"):
        target = os.path.basename(_fd_path(args[0]))  # type: ignore[arg-type]
        data = bytes(args[1][:200]) if name == "write" else b""  # type: ignore[index]
        if target.endswith(".jsonl") and b'"op":"' in data:
            return "append " + data.split(b'"op":"', 1)[1].split(b'"', 1)[0].decode()
        return f"{name} {target}"
    target = os.path.basename(os.fsdecode(args[-1] if name != "unlink" else args[0]))
    text = f"{name} {target}"
    if name == "replace" and target.startswith("c-"):
        text += f" [{logged} pts]"
    return text


def _trace(text: str) -> None:
    """The steps so far, outside ROOT, for a child whose step order is not fixed."""
    if TRACE is not None:
        os.write(TRACE, (text + "\n").encode())


def _step_only(text: str) -> None:
    steps.append(text)
    if len(steps) == KILL_AT and WHEN == "before":
        os.kill(os.getpid(), signal.SIGKILL)


def _step(name: str, args: tuple[object, ...]) -> None:
    text = _describe(name, args)
    _trace(text)
    _step_only(text)


def _after() -> None:
    if len(steps) == KILL_AT and WHEN == "after":
        os.kill(os.getpid(), signal.SIGKILL)


def _wrap(name: str, path_of: object) -> None:
    real = getattr(os, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        global _busy
        if _busy or not _under_root(path_of(args)):  # type: ignore[operator]
            return real(*args, **kwargs)
        _busy = True
        try:
            _step(name, args)
            out = real(*args, **kwargs)
            _after()
            return out
        finally:
            _busy = False

    setattr(os, name, wrapper)


for _name in ("replace", "rename", "link"):
    _wrap(_name, lambda a: a[-1])
_wrap("unlink", lambda a: a[0])
_wrap("write", lambda a: _fd_path(a[0]))  # type: ignore[arg-type]
_wrap("ftruncate", lambda a: _fd_path(a[0]))  # type: ignore[arg-type]

os.environ.update(TRACKBOOK_FLUSH_POINTS="4", TRACKBOOK_FLUSH_SECONDS="3600",
                  TRACKBOOK_S3_PUSH_GAP_SECONDS="3600")  # s3life pushes at flush and exit only
import atexit  # noqa: E402

import duckdb  # noqa: E402, F401 - imported once, before the forks
import pyarrow.parquet  # noqa: E402, F401

import trackbook as tb  # noqa: E402
from trackbook.store import events, session  # noqa: E402

if "append_all" not in inspect.getsource(events):
    # The log appends through a file object here (no os.write to see): count the appends.
    _real_append = events.EventLog.append

    def _append(self: events.EventLog, records: list[dict[str, object]]) -> None:
        records = list(records)
        global _busy
        _busy = True
        try:
            steps.append("append " + ",".join(str(r.get("op")) for r in records))
            if len(steps) == KILL_AT and WHEN == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            _real_append(self, records)
            _after()
        finally:
            _busy = False

    events.EventLog.append = _append  # type: ignore[method-assign]

session.COMPACT_EVERY_CHUNKS = 3  # a compaction mid-run, not only at its end
session.COMPACT_AT_END_MIN_FILES = 2


def log_points(n: int, start: int) -> None:
    global logged
    for i in range(start, start + n):
        logged += 1
        tb.log_metric("loss", 1.0 / (i + 1), step=i, timestamp=1_000_000 + i)


def life() -> None:
    run = tb.start_run(run_name="faulty")
    with open(os.path.join(ROOT, "..", "run_id"), "w") as f:  # outside the store: no step
        f.write(run.info.run_id)
    tb.log_params({"lr": "0.1", "layers": "3"})
    tb.set_tag("stage", "one")
    log_points(14, 0)  # 3 chunks (then a compaction), 2 points left for end_run's flush
    tb.end_run()


def resume() -> None:
    with open(os.path.join(ROOT, "..", "run_id")) as f:
        tb.start_run(run_id=f.read())
    tb.log_param("resumed", "yes")
    tb.set_tag("stage", "two")
    log_points(6, 100)
    tb.end_run()


def _run_id() -> str:
    with open(os.path.join(ROOT, "..", "run_id")) as f:
        return f.read()


def reg_setup() -> None:
    """A finished run with a ``model`` artifact to register (never killed)."""
    run = tb.start_run(run_name="trained")
    with open(os.path.join(ROOT, "..", "run_id"), "w") as f:
        f.write(run.info.run_id)
    tb.log_text("flavor: none\n", "model/MLmodel")
    tb.end_run()


def registry() -> None:
    """Every kind of registry claim: two models (one by the client, one by
    ``register_model``), three versions, aliases set and moved, stages moved."""
    rid = _run_id()
    client = tb.MlflowClient()
    client.create_registered_model("m", description="kill points")
    client.create_model_version("m", f"runs:/{rid}/model", run_id=rid)
    tb.register_model(f"runs:/{rid}/model", "m")
    client.set_registered_model_alias("m", "champion", 1)
    client.transition_model_version_stage("m", 1, "Staging")
    tb.register_model(f"runs:/{rid}/model", "n")
    client.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    client.set_registered_model_alias("m", "champion", 2)
    client.set_registered_model_alias("m", "challenger", 1)
    client.transition_model_version_stage("m", 1, "Archived")


def reg_more() -> None:
    """A later registration in a fresh process: the next version, the alias moved to it."""
    rid = _run_id()
    mv = tb.register_model(f"runs:/{rid}/model", "m")
    tb.MlflowClient().set_registered_model_alias("m", "champion", mv.version)
    extra["version"] = int(mv.version)


def _s3_steps() -> None:
    """Each PUT and DELETE of the S3 client is a write step too (one at a time: the
    pusher's parallel PUTs are counted in a definite order)."""
    import threading

    from trackbook.store.objects import S3Objects

    lock = threading.Lock()
    real_put, real_delete = S3Objects._put, S3Objects.delete

    def counted(text: str, call: object) -> object:
        with lock:
            _trace(text)
            _step_only(text)
            out = call()  # type: ignore[operator]
            _after()
            return out

    def put(self: S3Objects, full: str, data: bytes, if_none_match: bool = False) -> None:
        key = full[len(self.prefix) + 1:] if self.prefix else full
        text = f"put {key}"
        if key.startswith("log/") or key.endswith(".parquet"):
            text += f" [{logged} pts]"  # a push flushes first: every point logged so far
        if key.startswith("log/") and b'"status":"FINISHED"' in data:
            text += " +end"
        counted(text, lambda: real_put(self, full, data, if_none_match))

    def delete(self: S3Objects, key: str) -> None:
        counted(f"delete {key}", lambda: real_delete(self, key))

    S3Objects._put = put  # type: ignore[method-assign]
    S3Objects.delete = delete  # type: ignore[method-assign]


def s3life() -> None:
    """A run on an ``s3://`` store (ROOT is the writer's replica folder): two explicit
    pushes (``tb.flush()``) and the one at exit, with a compaction on the way."""
    with open(os.path.join(ROOT, "..", "s3_url")) as f:
        tb.set_tracking_uri(f.read())
    tb.start_run(run_name="pushed")
    tb.log_param("lr", "0.1")
    log_points(5, 0)
    tb.flush()
    log_points(5, 5)
    tb.flush()
    log_points(4, 10)
    tb.end_run()


PHASES = {"life": life, "resume": resume, "reg_setup": reg_setup,
          "registry": registry, "reg_more": reg_more, "s3life": s3life}
extra: dict[str, object] = {}


def child(result: str) -> None:
    global TRACE
    if PHASE == "s3life":
        os.environ.update(TRACKBOOK_CACHE_DIR=ROOT, TRACKBOOK_HOST="writer-host")
        TRACE = os.open(os.path.join(ROOT, "..", "trace"),
                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        _s3_steps()
    tb.set_tracking_uri(ROOT)
    try:
        PHASES[PHASE]()
        atexit._run_exitfuncs()  # what the interpreter does at exit (the final flush, ...)
    except BaseException as exc:
        with open(result, "w") as f:
            json.dump({"error": repr(exc), "steps": steps}, f)
        os._exit(3)
    with open(result, "w") as f:
        json.dump({"steps": steps, **extra}, f)
    os._exit(0)


for line in sys.stdin:
    root, PHASE, kill_at, WHEN, result = line.split()
    KILL_AT = int(kill_at)
    pid = os.fork()
    if pid == 0:
        ROOT = os.path.realpath(root)
        child(result)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
