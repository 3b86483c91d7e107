"""``trackbook registry ...``: the model registry from the command line.

``list``, ``versions NAME`` and ``history NAME`` print text tables (``--format json|csv``
for scripts); ``register``, ``set-alias``, ``delete-alias``, ``stage``, ``rollback``,
``rename`` and ``delete`` write through the same API as ``tb.Client`` and say what they did.

Kept apart from ``trackbook/cli.py`` so the CLI imports the registry only when one of these
subcommands runs (this module imports nothing heavy).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .._argtypes import key_value

if TYPE_CHECKING:
    from ..client import Client
    from ..tracking.table_text import Column
    from .entities import ModelVersion, RegisteredModel

FORMATS = ("table", "json", "csv")


def add_parser(sub: Any, store_help: str) -> argparse.ArgumentParser:
    """Add the ``registry`` command and its subcommands to ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "registry", help="registered models: list, register, promote, roll back, rename",
        description="The model registry of a store. VERSION is a number; stages are None, "
                    "Staging, Production, Archived (any case).")
    cmds = p.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func: Any, help_: str, fmt: bool = False,
                **kw: Any) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = cmds.add_parser(name, help=help_, description=kw.pop(
            "description", help_[0].upper() + help_[1:] + "."), **kw)
        c.set_defaults(func=func)
        c.add_argument("--store", metavar="PATH", help=store_help)
        if fmt:
            c.add_argument("--format", choices=FORMATS, default="table",
                           help="text table (default), or json / csv for scripts")
        return c

    c = command("list", cmd_list, "list registered models", fmt=True)
    c.add_argument("-f", "--filter", metavar="FILTER", default=None,
                   help="e.g. \"name LIKE 'churn%%'\" or \"tags.team = 'growth'\"")

    c = command("versions", cmd_versions, "list the versions of a registered model",
                fmt=True)
    c.add_argument("name", metavar="NAME")

    c = command("history", cmd_history,
                "the promotion log of a model: stage changes, alias moves, rollbacks, "
                "renames", fmt=True)
    c.add_argument("name", metavar="NAME")

    c = command("register", cmd_register,
                "register a model as a new version of NAME (created if needed)", fmt=True)
    c.add_argument("model_uri", metavar="MODEL_URI",
                   help="runs:/<run_id>/<path> (the run becomes the lineage), a folder, ...")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--tag", metavar="KEY=VALUE", action="append", default=[],
                   type=key_value, help="a tag of the new version (repeatable)")
    c.add_argument("--description", metavar="TEXT")

    c = command("set-alias", cmd_set_alias, "point ALIAS at VERSION (moving it atomically)",
                fmt=True)
    c.add_argument("name", metavar="NAME")
    c.add_argument("alias", metavar="ALIAS")
    c.add_argument("version", metavar="VERSION")
    c.add_argument("-m", "--comment", metavar="TEXT", help="recorded in the promotion log")

    c = command("delete-alias", cmd_delete_alias, "remove ALIAS from its version")
    c.add_argument("name", metavar="NAME")
    c.add_argument("alias", metavar="ALIAS")
    c.add_argument("-m", "--comment", metavar="TEXT", help="recorded in the promotion log")

    c = command("stage", cmd_stage, "move VERSION to STAGE", fmt=True)
    c.add_argument("name", metavar="NAME")
    c.add_argument("version", metavar="VERSION")
    c.add_argument("stage", metavar="STAGE", help="None, Staging, Production or Archived")
    c.add_argument("--archive-existing", action="store_true",
                   help="archive the other versions in STAGE (Staging/Production)")
    c.add_argument("-m", "--comment", metavar="TEXT", help="recorded in the promotion log")

    c = command("rollback", cmd_rollback,
                "return an alias or stage to the version that held it before", fmt=True)
    c.add_argument("name", metavar="NAME")
    c.add_argument("target", metavar="ALIAS_OR_STAGE", help="e.g. champion or Production")
    c.add_argument("-m", "--comment", metavar="TEXT", help="recorded in the promotion log")

    c = command("rename", cmd_rename,
                "rename a registered model (versions, aliases, tags and log move with it)",
                fmt=True)
    c.add_argument("name", metavar="NAME")
    c.add_argument("new_name", metavar="NEW_NAME")

    c = command("delete", cmd_delete,
                "delete a registered model, or one version of it with --version",
                description="Delete a registered model (or one version). Refused while an "
                            "alias or Staging/Production points at it, unless --force.")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--version", metavar="VERSION", help="delete only this version")
    c.add_argument("--force", action="store_true",
                   help="delete even if models:/ URIs point at it (aliases, stages)")

    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])
    return p


def _client(args: argparse.Namespace) -> Client:
    from ..cli import open_store
    from ..client import Client

    return Client(str(open_store(args.store).root))


# -- output ----------------------------------------------------------------------------------

def _print_table(columns: list[Column]) -> None:
    import shutil

    from ..tracking.table_text import render

    # Piped or redirected output (no terminal, no $COLUMNS) keeps every column.
    width = shutil.get_terminal_size(fallback=(0, 0)).columns
    lines, hidden = render(columns, width)
    sys.stdout.write("\n".join(lines) + "\n")
    if hidden:
        print(f"… {len(hidden)} column(s) did not fit ({', '.join(hidden)}); "
              "use --format csv or a wider terminal")


def _write(records: list[dict[str, Any]], fmt: str, fields: list[str]) -> None:
    """``records`` as a JSON array, or CSV with ``fields`` as header (lists and dicts are
    joined as ``a;b`` / ``k=v;...``)."""
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
        return
    import csv

    def cell(value: Any) -> Any:
        if isinstance(value, dict):
            return ";".join(f"{k}={v}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return ";".join(str(v) for v in value)
        return "" if value is None else value

    writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: cell(rec.get(k)) for k in fields})


def _version_record(mv: ModelVersion) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(mv)


VERSION_FIELDS = ["name", "version", "current_stage", "aliases", "run_id", "source",
                  "creation_timestamp", "last_updated_timestamp", "user_id", "description",
                  "tags"]


def _print_versions(versions: list[ModelVersion], fmt: str) -> None:
    if fmt != "table":
        _write([_version_record(v) for v in versions], fmt, VERSION_FIELDS)
        return
    from ..tracking.table_text import Column, human_time

    _print_table([
        Column("VERSION", [str(v.version) for v in versions], right=True),
        Column("STAGE", [v.current_stage for v in versions]),
        Column("ALIASES", [" ".join(f"@{a}" for a in v.aliases) for v in versions]),
        Column("RUN", [(v.run_id or "")[:8] for v in versions]),
        Column("SOURCE", [v.source for v in versions], max_width=48),
        Column("CREATED", [human_time(v.creation_timestamp) for v in versions]),
        Column("USER", [v.user_id or "" for v in versions], max_width=16),
        Column("DESCRIPTION", [v.description or "" for v in versions]),
    ])


def _done(text: str, record: dict[str, Any], fmt: str, fields: list[str]) -> int:
    if fmt == "table":
        print(text)
    else:
        _write([record], fmt, fields)
    return 0


# -- commands ------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    c = _client(args)
    models = c.search_registered_models(args.filter)
    counts = {m.name: len(c._registry.versions(m.name)) for m in models}
    if args.format != "table":
        from dataclasses import asdict

        records = []
        for m in models:
            rec = asdict(m)
            rec["versions"] = counts[m.name]
            rec["latest_version"] = max((v.version for v in m.latest_versions), default=None)
            rec["stages"] = {v.current_stage: v.version for v in m.latest_versions
                             if v.current_stage != "None"}
            records.append(rec)
        _write(records, args.format, ["name", "versions", "latest_version", "stages",
                                      "aliases", "creation_timestamp",
                                      "last_updated_timestamp", "description", "tags"])
        return 0
    if not models:
        print("No registered models." if not args.filter
              else f"No registered models match {args.filter!r}.")
        return 0
    from ..tracking.table_text import Column, human_time

    def stages(m: RegisteredModel) -> str:
        return ", ".join(f"{v.current_stage} v{v.version}" for v in m.latest_versions
                         if v.current_stage not in ("None", "Archived"))

    _print_table([
        Column("NAME", [m.name for m in models]),
        Column("VERSIONS", [str(counts[m.name]) for m in models], right=True),
        Column("LATEST", [str(max((v.version for v in m.latest_versions), default=""))
                          for m in models], right=True),
        Column("STAGES", [stages(m) for m in models]),
        Column("ALIASES", [" ".join(f"@{a}=v{v}" for a, v in m.aliases.items())
                           for m in models]),
        Column("UPDATED", [human_time(m.last_updated_timestamp) for m in models]),
        Column("DESCRIPTION", [m.description or "" for m in models]),
    ])
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    versions = _client(args)._registry.versions(args.name)[::-1]  # newest first
    if not versions and args.format == "table":
        print(f"{args.name!r} has no versions.")
        return 0
    _print_versions(versions, args.format)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    entries = _client(args).get_model_version_history(args.name)
    records = [e.to_dict() for e in entries]
    if args.format != "table":
        _write(records, args.format, ["seq", "timestamp", "user", "name", "action", "target",
                                      "version", "from", "to", "comment", "archived"])
        return 0
    if not entries:
        print(f"No promotions of {args.name!r} yet.")
        return 0
    from ..tracking.table_text import Column, human_time

    def show(value: Any, action: str) -> str:
        if value is None:
            return "-"
        return f"v{value}" if action in ("alias", "rollback") and isinstance(value, int) \
            else str(value)

    _print_table([
        Column("#", [str(e.seq) for e in entries], right=True),
        Column("WHEN", [human_time(e.timestamp) for e in entries]),
        Column("USER", [e.user or "" for e in entries], max_width=16),
        Column("ACTION", [e.action for e in entries]),
        Column("TARGET", [e.target for e in entries]),
        Column("VERSION", ["" if e.version is None else str(e.version) for e in entries],
               right=True),
        Column("FROM", [show(e.from_, e.action) for e in entries]),
        Column("TO", [show(e.to, e.action) for e in entries]),
        Column("ARCHIVED", [" ".join(f"v{v}" for v in e.archived) for e in entries]),
        Column("COMMENT", [e.comment or "" for e in entries]),
    ])
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from .api import register_model_in_store

    c = _client(args)
    mv = register_model_in_store(c.store, args.model_uri, args.name, dict(args.tag) or None,
                                 description=args.description)
    return _done(f"Registered {mv.source} as {mv.name!r} version {mv.version}",
                 _version_record(mv), args.format, VERSION_FIELDS)


def cmd_set_alias(args: argparse.Namespace) -> int:
    c = _client(args)
    c.set_registered_model_alias(args.name, args.alias, args.version, comment=args.comment)
    mv = c.get_model_version_by_alias(args.name, args.alias)
    return _done(f"{args.name}@{args.alias} -> version {mv.version}", _version_record(mv),
                 args.format, VERSION_FIELDS)


def cmd_delete_alias(args: argparse.Namespace) -> int:
    c = _client(args)
    held = c.get_model_version_by_alias(args.name, args.alias).version
    c.delete_registered_model_alias(args.name, args.alias, comment=args.comment)
    print(f"Removed {args.name}@{args.alias} (was version {held})")
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    c = _client(args)
    mv = c.transition_model_version_stage(args.name, args.version, args.stage,
                                          archive_existing_versions=args.archive_existing,
                                          comment=args.comment)
    ours = next((e for e in reversed(c.get_model_version_history(args.name))
                 if e.action == "stage" and e.version == mv.version), None)
    archived = ours.archived if ours is not None else ()
    note = f" (archived {', '.join(f'v{v}' for v in archived)})" if archived else ""
    return _done(f"{mv.name} version {mv.version} is now in {mv.current_stage}{note}",
                 _version_record(mv), args.format, VERSION_FIELDS)


def cmd_rollback(args: argparse.Namespace) -> int:
    c = _client(args)
    mv = c.rollback(args.name, args.target, comment=args.comment)
    entry = next((e for e in reversed(c.get_model_version_history(args.name))
                  if e.action == "rollback" and e.to == mv.version), None)
    was = f" from version {entry.from_}" if entry is not None else ""
    return _done(f"{args.name} {args.target} rolled back{was} to version {mv.version}",
                 _version_record(mv), args.format, VERSION_FIELDS)


def cmd_rename(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    rm = _client(args).rename_registered_model(args.name, args.new_name)
    return _done(f"Renamed {args.name!r} to {rm.name!r}; models:/{args.name}/... URIs now "
                 f"fail, use models:/{rm.name}/...", asdict(rm), args.format,
                 ["name", "aliases", "description", "tags"])


def cmd_delete(args: argparse.Namespace) -> int:
    c = _client(args)
    if args.version is not None:
        c.delete_model_version(args.name, args.version, force=args.force)
        print(f"Deleted {args.name} version {args.version} (its number is never reused)")
    else:
        c.delete_registered_model(args.name, force=args.force)
        print(f"Deleted registered model {args.name!r} and its versions")
    return 0
