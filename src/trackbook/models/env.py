"""Dependency capture from the live process: what the model's code really imports.

Starting from the model object, :func:`capture` walks everything it holds (attributes,
containers, pipeline steps, functions) and collects the classes and functions it reaches.
The modules that define them, and the modules *those* import, are mapped to installed
distributions (``importlib.metadata.packages_distributions``) and pinned to the installed
versions. Classes from ``__main__`` (a notebook) are packaged as source (see ``_code``);
classes from local modules that no distribution provides are packaged as code files.

Nothing falls back silently: a requirement that may not install elsewhere, a module that
cannot be mapped or packaged, or ``__main__`` code that must be pickled by value raises a
:class:`DependencyWarning` (or :class:`DependencyCaptureError`) that says how to fix it.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import json
import os
import platform
import sys
import sysconfig
import types
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from . import _code
from ._errors import DependencyCaptureError, DependencyWarning

_MAX_OBJECTS = 200_000
_MAX_LOCAL_CODE_BYTES = 20 * 1024 * 1024
PROJECT_FILES = ("pyproject.toml", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile",
                 "Pipfile.lock", "requirements.txt", "requirements.lock", "environment.yml",
                 "environment.yaml", "conda-lock.yml", "setup.cfg")


@dataclass
class Capture:
    """What :func:`capture` found."""

    requirements: list[str] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)  # requirement -> why
    main_code: _code.MainCode | None = None
    by_value: list[str] = field(default_factory=list)  # __main__ objects pickled by value
    local_code: list[Path] = field(default_factory=list)
    uses_trackbook: bool = False
    explicit: bool = False
    python_version: str = field(default_factory=platform.python_version)


@functools.lru_cache(maxsize=1)
def _top_level_map() -> dict[str, list[str]]:
    """``importlib.metadata.packages_distributions()``, 5-10x faster (~0.1 s instead of
    ~0.8 s with 200 distributions: it builds a Path per RECORD line and parses every
    METADATA file with the email parser; the first model a process logs paid for it)."""
    out: dict[str, list[str]] = {}
    for dist in md.distributions():
        name = _dist_name(dist)
        for pkg in (dist.read_text("top_level.txt") or "").split() or _top_level_inferred(dist):
            out.setdefault(pkg, []).append(name)
    return out


def _dist_name(dist: md.Distribution) -> str:
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    for line in (text or "").splitlines():
        if not line.strip():
            break  # the end of the headers
        if line[:5].lower() == "name:":
            return line[5:].strip()
    return dist.metadata["Name"]


def _top_level_inferred(dist: md.Distribution) -> set[str]:
    import csv

    record = dist.read_text("RECORD")
    if record is None:  # not a wheel install: the standard library's way
        return {f.parts[0] if len(f.parts) > 1 else f.with_suffix("").name
                for f in dist.files or [] if f.suffix == ".py"}
    found = set()
    for row in csv.reader(record.splitlines()):
        if not row or not row[0].endswith(".py"):
            continue
        parts = row[0].split("/")
        found.add(parts[0] if len(parts) > 1 else parts[0][:-3])
    return found


@functools.lru_cache(maxsize=1)
def _site_dirs() -> tuple[str, ...]:
    import site

    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            *site.getsitepackages()}
    return tuple(os.path.realpath(d) for d in dirs)


@functools.lru_cache(maxsize=1)
def _direct_urls() -> dict[str, dict[str, Any]]:
    """Distribution name -> its PEP 610 direct_url.json (installed from a path/VCS)."""
    out = {}
    for dist in md.distributions():
        text = dist.read_text("direct_url.json")
        if text:
            try:
                out[dist.metadata["Name"]] = json.loads(text)
            except ValueError:
                continue
    return out


# -- walking the model -------------------------------------------------------------------------

def reachable(obj: Any) -> tuple[set[type], set[types.FunctionType], set[str]]:
    """Classes, functions and module names reachable from ``obj``."""
    import numpy as np

    classes: set[type] = set()
    funcs: set[types.FunctionType] = set()
    modules: set[str] = set()
    stack = [obj]
    seen: set[int] = set()
    while stack and len(seen) < _MAX_OBJECTS:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, types.ModuleType):
            modules.add(o.__name__)
            continue
        if isinstance(o, type):
            classes.add(o)
            continue
        if isinstance(o, types.MethodType):
            stack += [o.__func__, o.__self__]
            continue
        if isinstance(o, types.FunctionType):
            funcs.add(o)
            stack += [c.cell_contents for c in (o.__closure__ or ()) if _has_contents(c)]
            stack += list(o.__defaults__ or ())
            continue
        classes.add(type(o))
        if isinstance(o, (str, bytes, int, float, bool, complex, type(None))):
            continue
        if isinstance(o, dict):
            stack += list(o.keys()) + list(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack += list(o)
        elif isinstance(o, np.ndarray):
            if o.dtype.kind == "O":
                stack += list(o.ravel()[:10_000])
            continue
        elif isinstance(o, functools.partial):
            stack += [o.func, *o.args, *o.keywords.values()]
        if type(o).__module__.split(".")[0] in ("pandas", "torch") and not hasattr(
                o, "_modules"):
            continue  # data containers: their type says enough (torch nn.Modules are walked)
        state = getattr(o, "__dict__", None)
        if isinstance(state, dict):
            stack += list(state.values())
        for slot in getattr(type(o), "__slots__", ()) or ():
            if isinstance(slot, str) and hasattr(o, slot):
                stack.append(getattr(o, slot))
    return classes, funcs, modules


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _imports_of(module_name: str) -> set[str]:
    """Top-level packages a module imports (its globals that are modules, classes, funcs)."""
    module = sys.modules.get(module_name)
    out: set[str] = set()
    if module is None:
        return out
    for value in list(vars(module).values()):
        if isinstance(value, types.ModuleType):
            out.add(value.__name__.split(".")[0])
        elif isinstance(value, (type, types.FunctionType)):
            mod = getattr(value, "__module__", None)
            if isinstance(mod, str):
                out.add(mod.split(".")[0])
    return out


def _is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top in ("builtins", "__main__", "__mp_main__")


# -- capture -----------------------------------------------------------------------------------

def capture(model: Any, *, serialization_format: str | None = None,
            extra_modules: Iterable[str] = (), pip_requirements: list[str] | None = None,
            extra_pip_requirements: list[str] | None = None,
            code_paths: Iterable[str | os.PathLike[str]] = ()) -> Capture:
    """Find the requirements and code ``model`` needs in a fresh environment.

    Parameters
    ----------
    model
        The object that will be pickled (an estimator, a PythonModel, an nn.Module).
    serialization_format
        ``"cloudpickle"`` adds cloudpickle, and allows by-value pickling of ``__main__``
        objects that cannot be packaged as source (with a warning); ``"skops"`` adds skops.
    extra_modules
        Modules the loader itself needs (e.g. ``"sklearn"`` for the sklearn flavor).
    pip_requirements, extra_pip_requirements
        Replace, or add to, the inferred requirements (MLflow's arguments).
    code_paths
        Files/folders packaged as code by the user; their modules count as provided.
    """
    cap = Capture()
    classes, funcs, modules = reachable(model)
    reasons: dict[str, set[str]] = {}

    def need(top: str, why: str) -> None:
        reasons.setdefault(top, set()).add(why)

    main_objs = [c for c in classes if c.__module__ == _code.MAIN]
    main_objs += [f for f in funcs if f.__module__ == _code.MAIN]
    scan: set[str] = set(modules)
    for c in classes:
        scan.update(b.__module__ for b in c.__mro__ if b.__module__ != _code.MAIN)
    scan.update(f.__module__ for f in funcs if f.__module__ != _code.MAIN)
    for name in sorted(scan):  # a loaded model's packaged code: packaged again, by dump
        source = getattr(sys.modules.get(name), _code.SOURCE_ATTR, None)
        if isinstance(source, str):
            scan.discard(name)
            scan |= _code.imports_of_source(source)
    if main_objs:
        main = _code.package_main(sorted(main_objs, key=lambda o: o.__qualname__))
        if main.problems:
            by_value = [_code.describe(o) for o in main_objs]
            if serialization_format != "cloudpickle":
                raise DependencyCaptureError(
                    "cannot package notebook/script code for a plain-pickle model: "
                    + "; ".join(main.problems) + ". Save with serialization_format="
                    "'cloudpickle', or move the code into a module and pass code_paths")
            warnings.warn(
                "could not package the notebook/script code of " + ", ".join(by_value)
                + " as source (" + "; ".join(main.problems) + "); it is pickled by value "
                "with cloudpickle instead, so it loads only with the same Python minor "
                "version and no readable copy of the code is kept. To fix: define it at "
                "the top level of a cell or in a .py module (pass code_paths=[...]).",
                DependencyWarning, stacklevel=3)
            cap.by_value = by_value
            for o in main_objs:
                scan |= _code.modules_used(o)
        else:
            cap.main_code = main
            scan |= main.imported_modules
            for name in main.imported_modules:
                need(name.split(".")[0], f"{main.module} imports {name}")
    for name in extra_modules:
        need(name.split(".")[0], "the flavor's loader")
    if serialization_format in ("cloudpickle", "skops"):
        need(serialization_format, "serialization")
    provided = {Path(p).stem for p in code_paths}
    local: dict[str, Path] = {}
    for name in sorted(scan):
        top = name.split(".")[0]
        if _is_stdlib(top) or top in provided:
            continue
        need(top, f"{name}")
        for imported in _imports_of(name):
            if not _is_stdlib(imported) and imported != top:
                need(imported, f"{name} imports {imported}")
    dist_reqs: dict[str, set[str]] = {}
    for top, why in sorted(reasons.items()):
        if _is_stdlib(top) or top in provided:
            continue
        if top == "trackbook":
            cap.uses_trackbook = True
            continue
        dists = _top_level_map().get(top)
        if dists:
            for dist in dict.fromkeys(dists):
                dist_reqs.setdefault(dist, set()).update(why)
            continue
        path = _local_path(top)
        if path is not None:
            local[top] = path
            for imported in _imports_of_tree(top):
                if not _is_stdlib(imported) and imported not in local and imported != top:
                    for dist in _top_level_map().get(imported, []):
                        dist_reqs.setdefault(dist, set()).add(f"{top} imports {imported}")
    cap.local_code = sorted(local.values())
    for dist, why in sorted(dist_reqs.items(), key=lambda kv: kv[0].lower()):
        if dist.lower() == "trackbook":
            cap.uses_trackbook = True
            continue
        req = f"{dist}=={md.version(dist)}"
        cap.requirements.append(req)
        cap.sources[req] = sorted(why, key=len)[:2]
        _warn_if_not_from_index(dist)
    if pip_requirements is not None:
        cap.requirements, cap.explicit = list(pip_requirements), True
    for extra in extra_pip_requirements or []:
        if extra not in cap.requirements:
            cap.requirements.append(extra)
    return cap


def _local_path(top: str) -> Path | None:
    """The file or package folder of a module no distribution provides, or None (warned)."""
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if module is None or not file:
        warnings.warn(
            f"the model uses module {top!r}, which no installed distribution provides and "
            "which has no source file; it will be missing where the model is loaded. To fix: "
            f"install it as a package, or pass pip_requirements/code_paths", DependencyWarning,
            stacklevel=4)
        return None
    real = os.path.realpath(file)
    if any(real.startswith(d + os.sep) for d in _site_dirs()):
        warnings.warn(
            f"module {top!r} ({file}) is installed without package metadata, so its "
            "distribution and version are unknown; add it with extra_pip_requirements="
            f"['<name>==<version>']", DependencyWarning, stacklevel=4)
        return None
    path = Path(real)
    path = path.parent if path.name == "__init__.py" else path
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size
    if size > _MAX_LOCAL_CODE_BYTES:
        raise DependencyCaptureError(
            f"the model uses local module {top!r} at {path} ({size // 2**20} MiB), too big to "
            "package as code; install it as a distribution (pip install -e) or pass "
            "code_paths with just the files the model needs")
    return path


def _imports_of_tree(top: str) -> set[str]:
    out: set[str] = set()
    for name in [m for m in list(sys.modules) if m == top or m.startswith(top + ".")]:
        out |= _imports_of(name)
    return out


def _warn_if_not_from_index(dist: str) -> None:
    info = _direct_urls().get(dist)
    if not info:
        return
    url = info.get("url", "?")
    how = "editable from" if info.get("dir_info", {}).get("editable") else "from"
    warnings.warn(
        f"{dist}=={md.version(dist)} was installed {how} {url}, so that pin may not be "
        "installable from a package index where the model is loaded. To fix: publish the "
        "package, pass pip_requirements=[...] with a reference pip can install, or package "
        "its source with code_paths=[...]", DependencyWarning, stacklevel=4)


# -- project files and environment files -------------------------------------------------------

def find_project_files(start: Path | None = None) -> list[Path]:
    """Lockfiles/pyproject of the project the process runs in (nearest folder with any)."""
    here = (start or Path.cwd()).resolve()
    home = Path.home().resolve()
    for folder in [here, *here.parents][:12]:
        found = [folder / n for n in PROJECT_FILES if (folder / n).is_file()
                 and (folder / n).stat().st_size < 5 * 2**20]
        if found or (folder / ".git").exists() or folder == home:
            return found
    return []


def _tool_versions() -> dict[str, str]:
    out = {}
    for name in ("pip", "setuptools", "wheel"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def requirements_text(cap: Capture) -> str:
    lines = [f"# Captured by trackbook {__version__} from the live process: the distributions "
             "the model's code imports,", "# pinned to the installed versions."]
    if cap.explicit:
        lines = [f"# Given explicitly when the model was saved (trackbook {__version__})."]
    if cap.uses_trackbook:
        lines.append(f"# The model's code also imports trackbook (saved with {__version__}); "
                     "install trackbook to load it.")
    for req in cap.requirements:
        why = cap.sources.get(req)
        lines.append(f"{req}  # {', '.join(why)}" if why else req)
    return "\n".join(lines) + "\n"


def write_env_files(model_dir: Path, cap: Capture) -> dict[str, str]:
    """Write requirements.txt, python_env.yaml and conda.yaml; return the pyfunc ``env``."""
    import yaml

    (model_dir / "requirements.txt").write_text(requirements_text(cap), encoding="utf-8")
    tools = _tool_versions()
    python_env = {"python": cap.python_version,
                  "build_dependencies": [f"{k}=={v}" for k, v in tools.items()],
                  "dependencies": ["-r requirements.txt"]}
    (model_dir / "python_env.yaml").write_text(yaml.safe_dump(python_env, sort_keys=False),
                                               encoding="utf-8")
    pip_pin = f"pip<={tools['pip']}" if "pip" in tools else "pip"
    conda = {"channels": ["conda-forge"],
             "dependencies": [f"python={cap.python_version}", pip_pin,
                              {"pip": list(cap.requirements)}],
             "name": "trackbook-env"}
    (model_dir / "conda.yaml").write_text(yaml.safe_dump(conda, sort_keys=False),
                                          encoding="utf-8")
    return {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}


def read_requirements(model_dir: Path) -> list[str]:
    """The requirement lines of a model's requirements.txt (comments stripped)."""
    path = model_dir / "requirements.txt"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out
