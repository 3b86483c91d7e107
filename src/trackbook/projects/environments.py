"""Environments a project runs in: ``local``, ``virtualenv``, ``uv`` and ``conda``.

``local`` is the interpreter running trackbook. The others are built once per spec
(manager, Python, requirements, the trackbook to install) under
``<cache>/envs/<manager>-<hash>`` and reused by every later run with the same spec.
Each built environment also gets this trackbook (the same source checkout when it is an
editable install, else the same version), so project code can ``import trackbook``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from ..store import durable
from .cache import cache_root, locked
from .errors import EnvironmentCreationError
from .progress import ProgressCallback, Tracker
from .pythonenv import PythonEnv, from_conda_yaml, load_python_env
from .spec import ProjectSpec

log = logging.getLogger(__name__)

MANAGERS = ("local", "virtualenv", "uv", "conda")
_MARKER = ".trackbook-env.json"
_PACKAGES = ".trackbook-packages.txt"
_SNAPSHOT = ("import sys; from trackbook.tracking.context import installed_packages; "
             "sys.stdout.write(installed_packages())")


@dataclass(frozen=True)
class Environment:
    """A ready environment.

    Attributes
    ----------
    manager
        ``local``, ``virtualenv``, ``uv`` or ``conda``.
    python
        The interpreter that ``python`` means inside the environment.
    prefix
        The environment folder (None for ``local``).
    key
        Hash of the spec it was built from (None for ``local``).
    created
        Whether this call built it (False: reused from the cache, or ``local``).
    packages
        ``name==version`` lines of what is installed (None for ``local``).
    """

    manager: str
    python: str
    prefix: Path | None = None
    key: str | None = None
    created: bool = False
    packages: str | None = None

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """Environment variables for a process running in this environment."""
        env = dict(base)
        bin_dir = Path(self.python).parent
        env["PATH"] = os.pathsep.join([str(_python_shim(self.python) or bin_dir),
                                       env.get("PATH", "")])
        env.pop("PYTHONHOME", None)
        if self.manager in ("virtualenv", "uv") and self.prefix is not None:
            env["VIRTUAL_ENV"] = str(self.prefix)
        elif self.manager == "conda" and self.prefix is not None:
            env["CONDA_PREFIX"] = str(self.prefix)
        return env


def _python_shim(python: str) -> Path | None:
    """A folder whose ``python`` is ``python``, when its own folder has none (e.g. only
    python3 in /usr/bin): commands say ``python train.py``."""
    if (Path(python).parent / "python").exists():
        return None
    shim = cache_root() / "shims" / hashlib.sha1(python.encode()).hexdigest()[:12]
    link = shim / "python"
    if not link.exists():
        shim.mkdir(parents=True, exist_ok=True)
        with durable.atomic_path(link, what=f"the python shim for {python}",
                                 level=durable.FLUSH) as tmp:
            tmp.symlink_to(python)
    return shim


def prepare(manager: str, spec: ProjectSpec, progress: ProgressCallback | None = None
            ) -> Environment:
    """The environment ``manager`` makes for ``spec``: reused when cached, else built
    (reporting to ``progress``). Raises EnvironmentCreationError with the tool's output."""
    if manager not in MANAGERS:
        raise ValueError(f"env_manager must be one of {', '.join(MANAGERS)}, got {manager!r}")
    if manager == "local":
        return Environment("local", sys.executable)
    tool = find_tool(manager)
    wants = _wanted(manager, spec)
    key = _hash(wants)
    prefix = cache_root() / "envs" / f"{manager}-{key[:16]}"
    found = _ready(manager, prefix, key)
    if found is not None:
        return found
    with locked(prefix.with_name(prefix.name + ".lock")):
        found = _ready(manager, prefix, key)  # another process may have built it meanwhile
        if found is not None:
            return found
        tracker = Tracker(progress or (lambda _: None), "environment",
                          f"{manager} env {key[:8]}", total=3)
        _build(manager, tool, prefix, spec, wants, tracker)
        packages = _snapshot(prefix)
        (prefix / _PACKAGES).write_text(packages, encoding="utf-8")
        (prefix / _MARKER).write_text(json.dumps({"key": key, "spec": wants,
                                                  "created": time.time()}, indent=1))
        tracker.update("ready", 3, finished=True)
        return Environment(manager, str(_python_in(prefix)), prefix, key, True, packages)


def spec_key(manager: str, spec: ProjectSpec) -> str:
    """The hash that names the environment ``manager`` builds for ``spec``."""
    return _hash(_wanted(manager, spec))


def _hash(wants: dict[str, object]) -> str:
    return hashlib.sha1(json.dumps(wants, sort_keys=True).encode()).hexdigest()


def find_tool(manager: str) -> str | None:
    """The uv or conda executable (None for the others); raise when it is not installed."""
    if manager == "uv":
        here = Path(sys.executable).parent / "uv"
        found = shutil.which("uv") or (str(here) if here.exists() else None)
        if found is None:
            raise EnvironmentCreationError("env_manager='uv' needs uv, which is not installed "
                                           "(pip install uv)")
        return found
    if manager == "conda":
        found = shutil.which("conda") or os.environ.get("CONDA_EXE")
        if not found:
            raise EnvironmentCreationError("env_manager='conda' needs conda, which is not "
                                           "installed (or not on PATH)")
        return found
    return None


def _ready(manager: str, prefix: Path, key: str) -> Environment | None:
    marker = prefix / _MARKER
    python = _python_in(prefix)
    if not marker.is_file() or not python.exists():
        return None
    packages = prefix / _PACKAGES
    text = packages.read_text(encoding="utf-8") if packages.is_file() else None
    return Environment(manager, str(python), prefix, key, False, text)


def _python_in(prefix: Path) -> Path:
    return prefix / "bin" / "python"


def _snapshot(prefix: Path) -> str:
    """What the new environment has installed; also proves trackbook imports there."""
    out = subprocess.run([str(_python_in(prefix)), "-c", _SNAPSHOT], capture_output=True,
                         text=True, check=False, env=dict(os.environ, PYTHONNOUSERSITE="1"))
    if out.returncode != 0:
        shutil.rmtree(prefix, ignore_errors=True)
        raise EnvironmentCreationError(
            f"the new environment cannot import trackbook: {out.stderr.strip()[-500:]}")
    return out.stdout


def python_env_of(spec: ProjectSpec) -> PythonEnv:
    """The pip view of the project's environment file (empty without one)."""
    if spec.python_env is not None:
        return load_python_env(spec.python_env)
    if spec.conda_env is not None:
        return from_conda_yaml(spec.conda_env)
    return PythonEnv()


def _wanted(manager: str, spec: ProjectSpec) -> dict[str, object]:
    """Everything that makes one environment differ from another (hashed into its key)."""
    if manager == "conda" and spec.conda_env is not None:
        return {"manager": manager, "conda_yaml": spec.conda_env.read_text(encoding="utf-8"),
                "trackbook": trackbook_requirement()}
    env = python_env_of(spec)
    python = interpreter(env.python) if manager == "virtualenv" else None
    return {"manager": manager, "python": env.python, "interpreter": python,
            "build": env.build_dependencies, "deps": env.dependencies, "files": env.files,
            "trackbook": trackbook_requirement(env.dependencies),
            "project": str(spec.directory) if env.files else None}


def trackbook_requirement(deps: list[str] | None = None) -> list[str]:
    """pip arguments that install the running trackbook: ``-e <checkout>`` for an
    editable install, the source folder for a local one, else ``trackbook==<version>``.
    Empty when the project's own requirements already name trackbook."""
    from importlib import metadata

    if any(re.match(r"trackbook\b", d.strip(), re.IGNORECASE) for d in deps or []):
        return []
    from .._version import __version__

    try:
        dist = metadata.distribution("trackbook")
        raw = dist.read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        dist, raw = None, None
    if raw:
        info = json.loads(raw)
        url = info.get("url", "")
        if url.startswith("file://"):
            path = url[len("file://"):]
            return ["-e", path] if info.get("dir_info", {}).get("editable") else [path]
    if dist is None:  # running from a source tree on sys.path
        root = Path(__file__).resolve().parents[3]
        if (root / "pyproject.toml").is_file():
            return ["-e", str(root)]
    return [f"trackbook=={__version__}"]


def interpreter(requested: str | None) -> str:
    """An interpreter matching ``requested`` (``"3.11"`` or ``"3.11.7"``): this one when it
    matches, else ``python3.X`` on PATH."""
    current = platform.python_version()
    if requested is None or _matches(current, requested):
        return str(Path(sys.executable).absolute())
    minor = ".".join(requested.split(".")[:2])
    candidate = shutil.which(f"python{minor}")
    if candidate:
        out = subprocess.run([candidate, "-c", "import platform; "
                              "print(platform.python_version())"],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0 and _matches(out.stdout.strip(), requested):
            return candidate
    raise EnvironmentCreationError(
        f"the project asks for Python {requested}, but this is Python {current} and no "
        f"python{minor} is on PATH. Install Python {minor}, change the project's python "
        "version, or use env_manager='uv' (which finds installed Pythons) or 'local'")


def _matches(version: str, requested: str) -> bool:
    have, want = version.split("."), requested.split(".")
    if have[:2] != want[:2]:
        return False
    if len(want) > 2 and have[:3] != want[:3]:
        log.warning("the project asks for Python %s; using %s (same minor version)",
                    requested, version)
    return True


def _pip_args(requirements: list[str]) -> list[str]:
    args: list[str] = []
    for req in requirements:
        parts = req.split(maxsplit=1)
        args += parts if len(parts) == 2 and parts[0].startswith("-") else [req]
    return args


def _build(manager: str, tool: str | None, prefix: Path, spec: ProjectSpec,
           wants: dict[str, object], tracker: Tracker) -> None:
    shutil.rmtree(prefix, ignore_errors=True)  # a half-built leftover of a crash
    prefix.parent.mkdir(parents=True, exist_ok=True)
    log_file = prefix.with_name(prefix.name + ".log")
    log_file.unlink(missing_ok=True)
    env = python_env_of(spec) if not (manager == "conda" and spec.conda_env) else PythonEnv()
    ours = list(wants["trackbook"])  # type: ignore[call-overload]
    python = str(_python_in(prefix))
    steps: list[tuple[str, list[str]]] = []
    if manager == "virtualenv":
        steps.append(("create venv", [str(wants["interpreter"]), "-m", "venv", str(prefix)]))
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    elif manager == "uv":
        assert tool is not None
        steps.append(("create venv", [tool, "venv", "--quiet", "--python",
                                      env.python or sys.executable, str(prefix)]))
        pip = [tool, "pip", "install", "--python", python]
    else:
        assert tool is not None
        if spec.conda_env is not None:
            steps.append(("conda env create", [tool, "env", "create", "--quiet", "--prefix",
                                               str(prefix), "--file", str(spec.conda_env)]))
        else:
            version = env.python or ".".join(platform.python_version().split(".")[:2])
            steps.append(("conda create", [tool, "create", "--yes", "--quiet", "--prefix",
                                           str(prefix), f"python={version}", "pip"]))
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    if env.build_dependencies:
        steps.append(("install build dependencies", [*pip, *_pip_args(env.build_dependencies)]))
    reqs = [*_pip_args(env.dependencies), *ours]
    if reqs:
        names = ", ".join([*env.dependencies, *(["trackbook"] if ours else [])])
        steps.append((f"install {names}", [*pip, *reqs]))
    tracker.total = len(steps) + 1
    try:
        for i, (what, cmd) in enumerate(steps):
            tracker.update(what, i)
            _run(cmd, spec.directory, what, log_file,
                 lambda line, what=what, i=i: tracker.update(f"{what}: {line[:80]}", i))
    except EnvironmentCreationError:
        shutil.rmtree(prefix, ignore_errors=True)
        tracker.update("failed", finished=True, failed=True)
        raise
    tracker.update("record installed packages", len(steps))


_SHOWN = re.compile(r"^(Collecting|Downloading|Installing|Building|Successfully|Resolved|"
                    r"Prepared|Installed|Obtaining|Preparing)\b")


def _run(cmd: list[str], cwd: Path, what: str, log_file: Path | None = None,
         on_line: Callable[[str], None] | None = None) -> str:
    """Run a build step; stream its output to ``log_file`` and interesting lines to
    ``on_line``. Return its stdout; raise EnvironmentCreationError with the tail."""
    env = dict(os.environ, TRACKBOOK_SKIP_JS_BUILD="1", PIP_PROGRESS_BAR="off",
               UV_NO_PROGRESS="1", PYTHONUNBUFFERED="1")
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONHOME", None)
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                errors="replace")
    except OSError as exc:
        raise EnvironmentCreationError(f"cannot {what}: {exc}") from None
    lines: list[str] = []
    assert proc.stdout is not None
    with open(log_file, "a", encoding="utf-8") if log_file else nullcontext() as sink:
        if sink is not None:
            sink.write(f"$ {' '.join(cmd)}\n")
        for line in proc.stdout:
            lines.append(line)
            if sink is not None:
                sink.write(line)
            if on_line is not None and _SHOWN.match(line.strip()):
                on_line(line.strip())
    code = proc.wait()
    if code != 0:
        tail = "".join(lines[-15:]).rstrip()
        where = f" (full log: {log_file})" if log_file else ""
        raise EnvironmentCreationError(f"cannot {what}: `{' '.join(cmd[:4])} ...` exited "
                                       f"with status {code}{where}:\n{tail}")
    return "".join(lines)
