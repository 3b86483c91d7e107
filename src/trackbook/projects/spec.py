"""The MLproject file: name, entry points with typed parameters, and the environment.

The format is MLflow's::

    name: sklearn_elasticnet
    python_env: python_env.yaml          # or conda_env: conda.yaml
    entry_points:
      train:
        parameters:
          alpha: {type: float, default: 0.5}
          data: path                     # no default: required
        command: "python train.py --alpha {alpha} --data {data}"

Parameter types are ``float``, ``int``, ``string``, ``path`` and ``uri``. A folder
without an MLproject file is a project too: its ``.py`` and ``.sh`` files are entry
points, run as ``python file.py --key value ...`` (or ``bash file.sh ...``). Every error
names the file, the line and the field.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import params as p
from ._nodes import Doc, join
from .errors import EntryPointNotFoundError, ParameterError, ProjectSpecError

log = logging.getLogger(__name__)

MLPROJECT = "MLproject"
_TOP_KEYS = ("name", "entry_points", "python_env", "conda_env", "docker_env")
_DEFAULT_ENV_FILES = {"python_env": "python_env.yaml", "conda_env": "conda.yaml"}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter. ``default`` is the normalised text, None when required."""

    name: str
    type: str = "string"
    default: str | None = None
    line: int | None = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class EntryPoint:
    """A named command with typed parameters (or a .py/.sh file of the project)."""

    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    line: int | None = None

    def compute(self, values: Mapping[str, Any] | None = None,
                cwd: str | os.PathLike[str] | None = None) -> tuple[dict[str, str], str]:
        """Check ``values`` and build the command line.

        Returns the parameters as logged (declared ones with defaults filled in, then any
        extra ones) and the shell command. Extra parameters are appended to the command as
        ``--key value``, as MLflow does. Relative ``path``/``uri`` values are resolved
        against ``cwd`` (default: the current directory); paths must exist.

        Raises
        ------
        ParameterError
            Listing every missing, mistyped or badly named parameter at once.
        """
        given = dict(values or {})
        base = Path(cwd) if cwd is not None else Path.cwd()
        problems: list[str] = []
        final: dict[str, str] = {}
        for param in self.parameters.values():
            if param.name in given:
                try:
                    final[param.name] = p.normalise(param.type, given.pop(param.name),
                                                    base=base)
                except p.BadValue as exc:
                    problems.append(f"{param.name!r} {exc}")
            elif param.default is not None:
                final[param.name] = param.default
            else:
                problems.append(f"{param.name!r} ({param.type}) is required and has no "
                                "default")
        extra: dict[str, str] = {}
        for key, value in given.items():
            try:
                p.check_name(key)
                extra[key] = p.normalise("string", value)
            except (ParameterError, p.BadValue) as exc:
                problems.append(str(exc) if isinstance(exc, ParameterError)
                                else f"{key!r} {exc}")
        if problems:
            declared = ", ".join(f"{q.name} ({q.type}{'' if q.required else ', optional'})"
                                 for q in self.parameters.values()) or "none"
            raise ParameterError(
                f"entry point {self.name!r}: " + "; ".join(problems)
                + f". Declared parameters: {declared}")
        command = p.render(self.command, final)
        if extra:
            command = f"{command} {p.as_arguments(extra)}"
        return {**final, **extra}, command


@dataclass(frozen=True)
class ProjectSpec:
    """A parsed project: where it lives, its entry points and its environment file."""

    directory: Path
    name: str | None = None
    entry_points: dict[str, EntryPoint] = field(default_factory=dict)
    python_env: Path | None = None
    conda_env: Path | None = None
    has_mlproject: bool = False

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point ``name``: declared, or a .py/.sh file of the project."""
        found = self.entry_points.get(name)
        if found is not None:
            return found
        if name.endswith((".py", ".sh")):
            path = (self.directory / name).resolve()
            inside = path.is_relative_to(self.directory.resolve())
            if inside and path.is_file():
                runner = "python" if name.endswith(".py") else "bash"
                return EntryPoint(name, f"{runner} {shlex.quote(name)}")
        files = sorted(f.name for f in self.directory.iterdir()
                       if f.suffix in (".py", ".sh") and f.is_file())
        choices = [*self.entry_points, *files]
        where = f"the MLproject of {self.directory}" if self.has_mlproject else \
            f"{self.directory} (which has no MLproject file)"
        raise EntryPointNotFoundError(
            f"no entry point {name!r} in {where}; choose one of: "
            f"{', '.join(choices) or 'none (add an MLproject file or a .py script)'}")


def find_mlproject(directory: Path) -> Path | None:
    """The MLproject file of ``directory`` (the name is matched case-insensitively)."""
    exact = directory / MLPROJECT
    if exact.is_file():
        return exact
    for child in directory.iterdir() if directory.is_dir() else ():
        if child.name.lower() == MLPROJECT.lower() and child.is_file():
            return child
    return None


def load_project(directory: str | os.PathLike[str]) -> ProjectSpec:
    """Parse the project in ``directory`` (with or without an MLproject file)."""
    folder = Path(directory).absolute()
    if not folder.is_dir():
        raise ProjectSpecError(f"{folder} is not a folder", str(folder))
    mlproject = find_mlproject(folder)
    if mlproject is None:
        envs = {k: folder / f for k, f in _DEFAULT_ENV_FILES.items() if (folder / f).is_file()}
        return ProjectSpec(folder, None, {}, envs.get("python_env"), envs.get("conda_env"))
    return parse_spec(mlproject.read_text(encoding="utf-8"), folder, str(mlproject))


def parse_spec(text: str, directory: str | os.PathLike[str],
               path: str = MLPROJECT) -> ProjectSpec:
    """Parse MLproject ``text`` of the project in ``directory``; raise ProjectSpecError."""
    folder = Path(directory).absolute()
    doc = Doc(text, path)
    if doc.root is None:
        raise ProjectSpecError("is empty; it needs at least entry_points", path)
    top = dict(doc.mapping(doc.root, ""))
    for key, node in top.items():
        if key not in _TOP_KEYS:
            log.warning("%s:%d: unknown key %r ignored (known: %s)", path,
                        node.start_mark.line + 1, key, ", ".join(_TOP_KEYS))
    name = doc.string(top["name"], "name") if "name" in top else None
    if "docker_env" in top:
        raise doc.error(top["docker_env"], "docker_env", "docker environments are not "
                        "supported; use python_env (virtualenv or uv) or conda_env")
    if "python_env" in top and "conda_env" in top:
        raise doc.error(top["conda_env"], "conda_env", "a project has python_env or "
                        "conda_env, not both")
    envs: dict[str, Path | None] = {"python_env": None, "conda_env": None}
    for key in envs:
        if key in top:
            rel = doc.string(top[key], key)
            env_path = (folder / rel).resolve()
            if not env_path.is_relative_to(folder.resolve()):
                raise doc.error(top[key], key, f"{rel!r} is outside the project folder")
            if not env_path.is_file():
                raise doc.error(top[key], key, f"file {rel!r} does not exist in {folder}")
            envs[key] = env_path
    if not any(envs.values()):
        for key, fname in _DEFAULT_ENV_FILES.items():
            if (folder / fname).is_file():
                envs[key] = folder / fname
                break
    if "entry_points" not in top:
        raise doc.error(doc.root, "entry_points", "is missing; declare at least one entry "
                        "point, e.g.\nentry_points:\n  main:\n    command: python main.py")
    entries = {}
    for ep_name, ep_node in doc.mapping(top["entry_points"], "entry_points"):
        entries[ep_name] = _entry_point(doc, ep_name, ep_node)
    if not entries:
        raise doc.error(top["entry_points"], "entry_points", "declares no entry point")
    return ProjectSpec(folder, name, entries, envs["python_env"], envs["conda_env"], True)


def _entry_point(doc: Doc, name: str, node: yaml.Node) -> EntryPoint:
    where = join("entry_points", name)
    pairs = dict(doc.mapping(node, where))
    for key, value in pairs.items():
        if key not in ("parameters", "command"):
            log.warning("%s:%d: %s: unknown key %r ignored (known: parameters, command)",
                        doc.path, value.start_mark.line + 1, where, key)
    if "command" not in pairs:
        raise doc.error(node, join(where, "command"), "is missing: the shell command to run, "
                        "e.g. command: \"python train.py --alpha {alpha}\"")
    command = doc.string(pairs["command"], join(where, "command"))
    declared: dict[str, Parameter] = {}
    if "parameters" in pairs and not _is_null(pairs["parameters"]):
        for pname, pnode in doc.mapping(pairs["parameters"], join(where, "parameters")):
            declared[pname] = _parameter(doc, join(join(where, "parameters"), pname),
                                         pname, pnode)
    for used in p.placeholders(command):
        if used not in declared:
            raise doc.error(pairs["command"], join(where, "command"),
                            f"uses {{{used}}}, which is not a parameter of this entry point "
                            f"(declared: {', '.join(declared) or 'none'}); write {{{{ and }}}} "
                            "for literal braces")
    return EntryPoint(name, command, declared, node.start_mark.line + 1)


def _parameter(doc: Doc, where: str, name: str, node: yaml.Node) -> Parameter:
    line = node.start_mark.line + 1
    try:
        p.check_name(name)
    except ParameterError as exc:
        raise doc.error(node, where, str(exc)) from None
    kind, default_node = "string", None
    if isinstance(node, yaml.MappingNode):
        pairs = dict(doc.mapping(node, where))
        for key, value in pairs.items():
            if key not in ("type", "default", "description"):
                log.warning("%s:%d: %s: unknown key %r ignored (known: type, default)",
                            doc.path, value.start_mark.line + 1, where, key)
        if "type" in pairs:
            kind = _type(doc, pairs["type"], join(where, "type"))
        default_node = pairs.get("default")
    elif not _is_null(node):
        kind = _type(doc, node, where)
    default = None
    if default_node is not None and not _is_null(default_node):
        value = doc.scalar(default_node, join(where, "default"))
        try:
            default = p.normalise(kind, value, base=None)
        except p.BadValue as exc:
            raise doc.error(default_node, join(where, "default"),
                            f"the default of {kind} parameter {name!r} {exc}") from None
    return Parameter(name, kind, default, line)


def _type(doc: Doc, node: yaml.Node, where: str) -> str:
    kind = doc.string(node, where)
    aliases = {"str": "string", "integer": "int", "number": "float", "double": "float"}
    kind = aliases.get(kind, kind)
    if kind not in p.TYPES:
        raise doc.error(node, where, f"unknown parameter type {kind!r}; use one of "
                        f"{', '.join(p.TYPES)}")
    return kind


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
