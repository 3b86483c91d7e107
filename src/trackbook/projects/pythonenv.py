"""What a project's environment must contain: ``python_env.yaml`` (or ``conda.yaml``).

``python_env.yaml`` is MLflow's format::

    python: "3.11"            # optional here: default is the launching interpreter's
    build_dependencies:       # installed first (e.g. pip, setuptools)
      - pip
    dependencies:             # pip requirements; "-r requirements.txt" works
      - scikit-learn>=1.3
      - pandas

For virtualenv and uv, a ``conda.yaml`` is read for its Python version and its ``pip:``
list (other conda packages cannot be installed by pip and are reported).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ._nodes import Doc
from .errors import ProjectSpecError

log = logging.getLogger(__name__)
_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")


@dataclass(frozen=True)
class PythonEnv:
    """A Python version (None: the launcher's) and pip requirements."""

    python: str | None = None
    build_dependencies: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    # Content hashes of files named by "-r"/"-c" lines: part of the environment's identity.
    files: dict[str, str] = field(default_factory=dict)


def load_python_env(path: Path) -> PythonEnv:
    """Parse a python_env.yaml; errors name the line and field."""
    doc = Doc(path.read_text(encoding="utf-8"), str(path))
    if doc.root is None:
        return PythonEnv()
    top = dict(doc.mapping(doc.root, ""))
    for key, node in top.items():
        if key not in ("python", "build_dependencies", "dependencies"):
            raise doc.error(node, key, "unknown key; use python, build_dependencies and "
                                       "dependencies")
    python = None
    if "python" in top:
        python = str(doc.scalar(top["python"], "python")).strip()
        if not _VERSION.match(python):
            raise doc.error(top["python"], "python", f"must be a version like \"3.11\", got "
                                                     f"{python!r}")
    build = doc.strings(top["build_dependencies"], "build_dependencies") \
        if "build_dependencies" in top else []
    deps = doc.strings(top["dependencies"], "dependencies") if "dependencies" in top else []
    return PythonEnv(python, build, deps, _referenced_files(path.parent, [*build, *deps]))


def from_conda_yaml(path: Path) -> PythonEnv:
    """The Python version and pip requirements of a conda environment file."""
    doc = Doc(path.read_text(encoding="utf-8"), str(path))
    top = dict(doc.mapping(doc.root, "")) if doc.root is not None else {}
    python, pip_deps, skipped = None, [], []
    if "dependencies" in top:
        node = top["dependencies"]
        if not isinstance(node, yaml.SequenceNode):
            raise doc.error(node, "dependencies", "must be a list")
        for i, item in enumerate(node.value):
            where = f"dependencies[{i}]"
            if isinstance(item, yaml.MappingNode):
                for key, value in doc.mapping(item, where):
                    if key == "pip":
                        pip_deps += doc.strings(value, f"{where}.pip")
                continue
            dep = doc.string(item, where)
            name = re.split(r"[=<>! ]", dep, maxsplit=1)[0]
            if name == "python":
                python = dep[len(name):].lstrip("=<>! ").split("=")[0] or None
            elif name != "pip":
                skipped.append(dep)
    if skipped:
        log.warning("%s: conda packages %s are not installed by pip-based environments; "
                    "list them under pip:, or use env_manager='conda'", path,
                    ", ".join(skipped))
    if python and not _VERSION.match(python):
        python = ".".join(python.split(".")[:2]) if _VERSION.match(
            ".".join(python.split(".")[:2])) else None
    return PythonEnv(python, [], pip_deps, _referenced_files(path.parent, pip_deps))


def _referenced_files(base: Path, requirements: list[str]) -> dict[str, str]:
    files = {}
    for req in requirements:
        parts = req.split(maxsplit=1)
        if len(parts) == 2 and parts[0] in ("-r", "-c", "--requirement", "--constraint"):
            target = base / parts[1]
            if not target.is_file():
                raise ProjectSpecError(f"requirement {req!r}: {target} does not exist",
                                       str(base))
            files[parts[1]] = hashlib.sha1(target.read_bytes()).hexdigest()
    return files
