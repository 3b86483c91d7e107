"""``trackbook`` command line: list runs and experiments, rebuild the catalog, collect garbage,
run projects.

``trackbook`` and ``python -m trackbook`` are the same program. Heavy modules (pandas,
DuckDB) load inside the subcommands that need them, so ``trackbook --version`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._errors import StoreError, TrackbookError
from ._version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from .store.store import Store
    from .tracking.table_text import Column

PROG = "trackbook"
_VIEWS = {"active": 1, "deleted": 2, "all": 3}
_STAGES = {"active": ["active"], "deleted": ["deleted"], "all": ["active", "deleted"]}
# Friendly column names for --columns -> search_frame columns ("duration" is computed).
_ATTRS = {"id": "run_id", "run": "run_id", "run_id": "run_id", "name": "run_name",
          "run_name": "run_name", "experiment": "experiment_id",
          "experiment_id": "experiment_id", "status": "status", "start": "start_time",
          "started": "start_time", "start_time": "start_time", "end": "end_time",
          "end_time": "end_time", "duration": "duration", "artifact_uri": "artifact_uri"}


class CliUsageError(TrackbookError, ValueError):
    """A command-line argument names something that does not exist (exit status 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except TrackbookError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `trackbook runs | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. no permission to read the store
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Notebook-first experiment tracking with MLflow's API.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    store_help = ("the store: a folder, file:// URI or s3://bucket/prefix (default: "
                  "$TRACKBOOK_STORE, else ./trackbook-store)")

    p = sub.add_parser("runs", help="list runs as a table, CSV or JSON",
                       description="List runs, newest first (MLflow search_runs semantics).")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.add_argument("-e", "--experiment", metavar="NAME", action="extend", nargs="+",
                   help="only these experiments (names or ids; default: all)")
    p.add_argument("--all-experiments", action="store_true",
                   help="search every experiment (the default)")
    p.add_argument("-f", "--filter", metavar="FILTER", default="",
                   help="e.g. \"metrics.acc > 0.9 and params.model = 'rf'\"")
    p.add_argument("-o", "--order-by", metavar="KEY", action="extend", nargs="+",
                   help="e.g. -o metrics.acc DESC (default: start_time DESC)")
    p.add_argument("-n", "--max", metavar="N", type=_non_negative_int, default=50,
                   help="show at most N runs (default 50; 0 = all)")
    p.add_argument("--columns", metavar="COL", action="extend", nargs="+",
                   help="columns to show: id, name, experiment, status, start, end, "
                        "duration, metrics.KEY, params.KEY, tags.KEY or a bare key")
    p.add_argument("--view", choices=sorted(_VIEWS), default="active",
                   help="lifecycle stage of the runs to list (default: active)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("experiments", help="list experiments with their run counts")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("reindex", help="delete and rebuild the DuckDB catalog from the files")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser(
        "doctor", help="list damaged store files; --repair quarantines them",
        description="Check every log line, metric file, JSON record and the catalog of a "
                    "store; list what is damaged (exit status 1 if anything is). With "
                    "--repair, move damaged files to <store>/quarantine/<time>/ (bad log "
                    "lines of exited writers are cut out of their log), then rebuild the "
                    "catalog.")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.add_argument("--repair", action="store_true",
                   help="quarantine what is damaged and rebuild the catalog")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("gc", help="permanently delete runs marked deleted",
                       description="Remove the files of runs marked deleted (delete_run) and "
                                   "make the catalog forget them. RUNNING runs are kept.")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.add_argument("--older-than", metavar="DAYS", type=_non_negative_float,
                   help="only runs deleted at least DAYS days ago (fractions allowed)")
    p.add_argument("--dry-run", action="store_true", help="show what would go; delete nothing")
    p.set_defaults(func=cmd_gc)

    from .projects._cli import add_parser as add_run_parser  # argparse only: stays light

    add_run_parser(sub, store_help)
    from .models._cli import add_parser as add_models_parser  # argparse only: stays light

    add_models_parser(sub, store_help)
    from .registry._cli import add_parser as add_registry_parser  # argparse only: stays light
    add_registry_parser(sub, store_help)
    from .importers._cli import add_parser as add_import_parser  # argparse only: stays light
    add_import_parser(sub, store_help)
    p = sub.add_parser(
        "exec", help="run an unchanged MLflow script on trackbook (mlflow.* imports give "
                     "trackbook)",
        description="Run a Python script (or -m module) with `import mlflow` and every "
                    "`mlflow.*` import mapped onto trackbook for that process only.")
    p.add_argument("--store", help=store_help)
    p.add_argument("--experiment", help="experiment for its runs (like $MLFLOW_EXPERIMENT_NAME)")
    p.add_argument("-m", dest="module", action="store_true",
                   help="run a module, like python -m")
    p.add_argument("script", help="the script (or module name with -m)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    p.set_defaults(func=cmd_exec)
    return parser


def cmd_exec(args: argparse.Namespace) -> int:
    from .as_mlflow import run_script

    if args.store:
        os.environ["TRACKBOOK_STORE"] = args.store
    if args.experiment:
        os.environ["TRACKBOOK_EXPERIMENT_NAME"] = args.experiment
    if not args.module and not os.path.isfile(args.script):
        raise CliUsageError(f"no script {args.script!r}: give the path of a Python file "
                            "(or -m module.name)")
    if not args.module:
        sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))
    try:
        run_script(args.script, list(args.args), module=args.module)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more days, got {text}")
    return value


def open_store(arg: str | None) -> Store:
    """The store at ``arg`` (or the usual default); it must already exist.

    An ``s3://`` store (or its replica folder) comes back as an
    :class:`~trackbook.store.s3store.S3Store` that has just pulled what other machines
    pushed, so every command reads the bucket's current state, not the replica's last pull.
    """
    from .store.layout import FORMAT_VERSION
    from .store.store import Store
    from .tracking.uri import store_path

    text = arg or os.environ.get("TRACKBOOK_STORE") or ""
    if text.startswith("s3://"):
        return _open_s3_store(text)
    path = store_path(arg)
    marker = path / "FORMAT"
    if not marker.is_file():
        what = "does not exist" if not path.exists() else "is not a trackbook store (no FORMAT)"
        raise StoreError(f"store {path} {what}. Pass --store PATH or set $TRACKBOOK_STORE; "
                         "a store is created when the first run is logged")
    words = marker.read_text(errors="replace").split()
    if len(words) == 2 and words[1].isdigit() and int(words[1]) > FORMAT_VERSION:
        raise StoreError(f"store {path} has format {words[1]}, newer than this trackbook "
                         f"understands ({FORMAT_VERSION}); upgrade trackbook")
    if (path / "sync" / "remote.json").is_file():  # an s3:// store's replica folder
        from .tracking.uri import get_store

        store = get_store(str(path))
        _pull(store)
        return store
    return Store(path)


def _open_s3_store(url: str) -> Store:
    """The s3:// store at ``url``, pulled; it must already exist (a FORMAT object)."""
    from .store.objects import S3Objects
    from .store.s3store import explain
    from .tracking.uri import get_store

    try:
        exists = S3Objects(url).exists("FORMAT")
    except StoreError as exc:
        raise StoreError(explain(exc, url) or str(exc)) from exc
    if not exists:
        raise StoreError(f"store {url} does not exist (no FORMAT object there). Pass "
                         "--store s3://bucket/prefix of a store; a store is created when the "
                         "first run is logged")
    store = get_store(url)
    _pull(store)
    return store


def _pull(store: Store) -> None:
    pull = getattr(store, "pull", None)
    if pull is not None:
        pull(force=True)


def _experiment_ids(store: Store, wanted: list[str]) -> list[str]:
    ids = []
    for item in wanted:
        rec = store.experiment_by_name(item) or store.experiment_by_id(item)
        if rec is None:
            raise CliUsageError(f"no experiment named (or with id) {item!r}; "
                                f"`{PROG} experiments` lists them")
        ids.append(rec["experiment_id"])
    return ids


def _order_items(raw: list[str] | None) -> list[str] | None:
    """``-o metrics.acc DESC`` arrives as two words: join a direction to its key."""
    items: list[str] = []
    for word in raw or []:
        if items and word.upper() in ("ASC", "DESC"):
            items[-1] += " " + word
        else:
            items.append(word)
    return items or None


def _count_runs(store: Store, exp_ids: list[str] | None, filter_string: str,
                view: str) -> int:
    from .tracking.search import compile_filter

    fsql, fparams = compile_filter(filter_string)
    exp_sql, params = "TRUE", []
    if exp_ids is not None:
        exp_sql, params = "r.experiment_id IN (SELECT unnest(?))", [exp_ids]
    sql = (f"SELECT count(*) FROM runs r WHERE {exp_sql} "  # noqa: S608 - fragments are ours
           f"AND r.lifecycle_stage IN (SELECT unnest(?)) AND ({fsql})")
    with store.connect() as con:
        row = con.execute(sql, [*params, _STAGES[view], *fparams]).fetchone()
    return int(row[0]) if row else 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .tracking import query

    store = open_store(args.store)
    if args.experiment and args.all_experiments:
        raise CliUsageError("use either --experiment or --all-experiments, not both")
    exp_ids = _experiment_ids(store, args.experiment) if args.experiment else None
    limit = args.max or None
    frame = query.search_frame(store, exp_ids, args.filter, _VIEWS[args.view], limit,
                               _order_items(args.order_by))
    total = len(frame)
    if limit is not None and total == limit:
        total = _count_runs(store, exp_ids, args.filter, args.view)
    more = total - len(frame)
    keys = _select_columns(frame, args.columns, args.format)
    if args.format != "table":
        _write_machine(_machine_frame(frame, keys), args.format)
        if more:
            print(f"{PROG}: {more} more run{'s' if more > 1 else ''} not shown "
                  "(use -n 0 for all)", file=sys.stderr)
        return 0
    if frame.empty:
        print("No runs match." if args.filter or exp_ids else "No runs yet.")
        return 0
    from .tracking.table_text import run_columns

    names = {e: (store.experiment_by_id(e) or {}).get("name", e)
             for e in set(frame["experiment_id"])}
    _print_table(run_columns(frame, keys, names), more, "runs")
    return 0


def _select_columns(frame: pd.DataFrame, wanted: list[str] | None, fmt: str) -> list[str]:
    """Frame column names (plus "duration") to output, in order."""
    cols = list(frame.columns)
    if not wanted:
        if fmt != "table":
            return cols
        base = ["run_id", "run_name", "status", "start_time", "duration"]
        if frame["experiment_id"].nunique() > 1:
            base.insert(2, "experiment_id")
        return base + [c for c in cols if c.startswith(("metrics.", "params."))]
    out = []
    for spec in (s.strip() for w in wanted for s in w.split(",")):
        if not spec:
            continue
        col = _ATTRS.get(spec.lower()) or next(
            (c for c in (spec, f"metrics.{spec}", f"params.{spec}", f"tags.{spec}")
             if c in cols), None)
        if col is None:
            if spec.startswith(("metrics.", "params.", "tags.")) or frame.empty:
                col = spec  # a key none of these runs has: an empty column
            else:
                keys = [c for c in cols if c.startswith(("metrics.", "params."))][:8]
                raise CliUsageError(
                    f"unknown column {spec!r}; use id, name, experiment, status, start, end, "
                    f"duration or a key such as {', '.join(keys) or 'metrics.acc'}")
        out.append(col)
    return out


def _machine_frame(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for key in keys:
        if key == "duration":
            out[key] = (frame["end_time"] - frame["start_time"]).dt.total_seconds()
        else:
            out[key] = frame[key] if key in frame.columns else None
    return out


def _write_machine(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        return
    text = frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2)
    sys.stdout.write((text if len(frame) else "[]") + "\n")


def _print_table(columns: list[Column], more: int, what: str) -> None:
    import shutil

    from .tracking.table_text import render

    # Piped or redirected output (no terminal, no $COLUMNS) keeps every column.
    width = shutil.get_terminal_size(fallback=(0, 0)).columns
    lines, hidden = render(columns, width)
    sys.stdout.write("\n".join(lines) + "\n")
    notes = []
    if more:
        noun = what if more > 1 else what[:-1]
        notes.append(f"{more} more {noun} not shown (-n N to see more, -n 0 for all)")
    if hidden:
        shown = ", ".join(hidden[:5]) + (", …" if len(hidden) > 5 else "")
        noun = "columns" if len(hidden) > 1 else "column"
        notes.append(f"{len(hidden)} {noun} did not fit ({shown}); pick with --columns")
    for note in notes:
        print(f"… {note}")


def cmd_experiments(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    with store.connect() as con:
        frame = con.execute(
            "SELECT e.experiment_id, e.name, "
            "count(r.run_id) FILTER (WHERE r.lifecycle_stage = 'active') AS runs, "
            "count(r.run_id) FILTER (WHERE r.lifecycle_stage = 'deleted') AS deleted_runs, "
            "e.lifecycle_stage, e.creation_time FROM experiments e "
            "LEFT JOIN runs r ON r.experiment_id = e.experiment_id "
            "GROUP BY ALL ORDER BY e.creation_time DESC NULLS LAST, e.experiment_id").df()
    if args.format != "table":
        _write_machine(frame, args.format)
        return 0
    if frame.empty:
        print("No experiments yet.")
        return 0
    from .tracking.table_text import Column, human_time, is_missing

    columns = [
        Column("ID", [str(v) for v in frame["experiment_id"]]),
        Column("NAME", [str(v) for v in frame["name"]]),
        Column("RUNS", [str(v) for v in frame["runs"]], right=True),
        Column("DELETED RUNS", [str(v) for v in frame["deleted_runs"]], right=True),
        Column("LIFECYCLE", [str(v) for v in frame["lifecycle_stage"]]),
        Column("CREATED", [human_time(None if is_missing(v) else float(v))
                           for v in frame["creation_time"]]),
    ]
    _print_table(columns, 0, "experiments")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    import duckdb  # noqa: F401 - loaded first so the timing below is the rebuild alone
    import pyarrow  # noqa: F401

    store = open_store(args.store)
    t0 = time.perf_counter()
    store.catalog.rebuild()
    seconds = time.perf_counter() - t0
    with store.catalog.connect(refresh=False) as con:
        n_exp, n_runs, n_deleted, n_keys, n_series = con.execute(
            "SELECT (SELECT count(*) FROM experiments), (SELECT count(*) FROM runs), "
            "(SELECT count(*) FROM runs WHERE lifecycle_stage = 'deleted'), "
            "(SELECT count(DISTINCT key) FROM latest_metrics), "
            "(SELECT count(*) FROM latest_metrics)").fetchone() or (0, 0, 0, 0, 0)
    deleted = f" ({n_deleted} deleted)" if n_deleted else ""
    print(f"Rebuilt {store.layout.catalog_file} in {seconds:.2f}s: "
          f"{_plural(n_exp, 'experiment')}, {_plural(n_runs, 'run')}{deleted}, "
          f"{_plural(n_keys, 'metric key')} ({n_series} series)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .store import doctor
    from .store.store import Store
    from .tracking.uri import store_path

    text = args.store or os.environ.get("TRACKBOOK_STORE") or ""
    if text.startswith("s3://"):
        raise CliUsageError(f"`trackbook doctor` checks a store folder, not {text}; pass the "
                            "replica folder of the s3:// store instead")
    path = store_path(args.store)
    if not ((path / "FORMAT").exists() or (path / "log").is_dir()):
        raise StoreError(f"store {path} does not exist or is not a trackbook store (no FORMAT, "
                         "no log folder). Pass --store PATH or set $TRACKBOOK_STORE")
    store = Store(path)
    progress = _progress_printer() if sys.stderr.isatty() else None
    found = doctor.examine(store.layout, progress)
    root = store.layout.root
    for f in found:
        print(f.describe(root))
    if not found:
        print(f"{root}: no damaged files found")
        return 0
    if not args.repair:
        print(f"{_plural(len(found), 'damaged item')} in {root}; run `trackbook doctor "
              "--repair` to quarantine them")
        return 1
    done = doctor.repair(store.layout, found, store.catalog.rebuild)
    for path in done.moved:
        print(f"moved to {os.path.relpath(path, root)}")
    for path in done.rewritten:
        print(f"rewrote {os.path.relpath(path, root)} without its damaged lines")
    for f, why in done.left:
        print(f"{PROG}: warning: left {f.describe(root)}: {why}", file=sys.stderr)
    again = doctor.examine(store.layout, progress)
    for f in again:
        print(f"still damaged: {f.describe(root)}", file=sys.stderr)
    print(f"Repaired {root}: quarantine in {os.path.relpath(done.quarantine, root)}; "
          + ("clean now." if not again else f"{_plural(len(again), 'damaged item')} left."))
    return 1 if again else 0


def _progress_printer() -> Callable[[int, int, str], None]:
    last = [0.0]

    def show(done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.2:
            return
        last[0] = now
        end = "\n" if done >= total else ""
        print(f"\rchecking {done}/{total} files {what[-50:]:<50}", end=end, file=sys.stderr,
              flush=True)

    return show


def cmd_gc(args: argparse.Namespace) -> int:
    from .store.gc import collect_garbage
    from .tracking.table_text import human_bytes

    store = open_store(args.store)
    result = collect_garbage(store, older_than_days=args.older_than, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for run in result.purged:
        print(f"{verb} run {run.run_id} {run.run_name!r} ({run.status}): "
              f"{human_bytes(run.size)}")
    for run, reason in result.skipped:
        if run.status == "RUNNING":
            print(f"{PROG}: warning: not deleting run {run.run_id} {run.run_name!r}: {reason}",
                  file=sys.stderr)
        else:
            print(f"kept run {run.run_id} {run.run_name!r}: {reason}")
    for run, error in result.failed:
        print(f"{PROG}: error: could not delete run {run.run_id}: {error}", file=sys.stderr)
    n = len(result.purged)
    runs = _plural(n, "run")
    if args.dry_run:
        print(f"Dry run: {runs} ({human_bytes(result.bytes_freed)}) would be deleted; "
              "nothing was changed.")
    elif n or result.skipped or result.failed:
        print(f"Deleted {runs}, freed {human_bytes(result.bytes_freed)}.")
    else:
        print("Nothing to delete: no runs are marked deleted.")
    return 1 if result.failed else 0
