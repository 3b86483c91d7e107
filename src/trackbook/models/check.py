"""``tb.models.check(uri)``: prove a model is portable by loading it in a fresh virtualenv.

The environment is built from the model's own ``requirements.txt`` (plus what trackbook's
loader needs: PyYAML, pandas, numpy, pinned to this process's versions) with the machine's
pip configuration, and cached by a hash of those requirements and the Python version
(``$TRACKBOOK_CACHE_DIR/envs``, default ``~/.cache/trackbook/envs``), so a second check of a
model with the same requirements takes seconds. trackbook itself is copied in from this
process (it need not be on a package index). The model is loaded there and predicts on its
input example; the predictions are compared with the ones made here.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as md
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import EnvironmentBuildError
from .env import read_requirements
from .model import Model
from .uri import local_model_path

_LOADER_DEPS = ("PyYAML", "pandas", "numpy")
_READY = ".trackbook-ready"
_RUNNER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
from trackbook.models.example import load_example
from trackbook.models.loading import load_model
from trackbook.models.payload import jsonable
model = load_model(sys.argv[2], suppress_warnings=True)
out = {"load_seconds": time.perf_counter() - t0, "python": sys.version.split()[0]}
example = load_example(model.model_dir, model.metadata.saved_input_example_info)
if example is not None:
    out["predictions"] = jsonable(model.predict(example))
print("@@trackbook-check@@" + json.dumps(out))
"""


@dataclass
class CheckResult:
    """What :func:`check` found: where the environment is and what the model predicted."""

    model_uri: str
    env_dir: Path
    reused_env: bool
    python: str
    requirements: list[str]
    seconds: float
    load_seconds: float
    predictions: Any = None
    matches_local: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.matches_local is not False

    def __repr__(self) -> str:
        how = "reused" if self.reused_env else "built"
        same = {True: "same predictions as here", False: "DIFFERENT predictions than here",
                None: "no input example to predict on"}[self.matches_local]
        return (f"<CheckResult ok={self.ok}: {self.model_uri} loads in a fresh Python "
                f"{self.python} env ({how}, {len(self.requirements)} requirements, "
                f"{self.seconds:.1f}s); {same}>")


def default_cache_dir() -> Path:
    root = os.environ.get("TRACKBOOK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "trackbook")
    return Path(root) / "envs"


def _progress_fn(progress: bool | Callable[[str], Any]) -> Callable[[str], Any]:
    if callable(progress):
        return progress
    if progress:
        return lambda msg: (sys.stderr.write(f"check: {msg}\n"), sys.stderr.flush())
    return lambda msg: None


def _loader_requirements(requirements: list[str], model: Model) -> list[str]:
    have = {r.split("==")[0].split(">")[0].split("<")[0].strip().lower() for r in requirements}
    wanted = list(_LOADER_DEPS)
    if model.flavors.get("python_function", {}).get("python_model"):
        wanted.append("cloudpickle")
    out = []
    for name in wanted:
        if name.lower() in have:
            continue
        try:
            out.append(f"{name}=={md.version(name)}")
        except md.PackageNotFoundError:
            out.append(name)
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    from ..store import durable

    with durable.file_lock(path, poll=0.05):
        yield


def _pip_command(env_python: Path) -> list[str]:
    """This interpreter's pip driving the new env (no pip install in it: much faster)."""
    try:
        major = int(md.version("pip").split(".")[0])
    except (md.PackageNotFoundError, ValueError):
        major = 0
    if major >= 23:
        return [sys.executable, "-m", "pip", "--python", str(env_python)]
    return [str(env_python), "-m", "pip"]


def _build(env_dir: Path, requirements: list[str], say: Callable[[str], Any],
           timeout: float) -> None:
    import venv

    shutil.rmtree(env_dir, ignore_errors=True)
    say(f"creating a virtualenv (Python {platform.python_version()}) in {env_dir}")
    pip = _pip_command(env_dir / "bin" / "python")
    venv.EnvBuilder(with_pip=pip[0] != sys.executable, symlinks=os.name != "nt").create(env_dir)
    req_file = env_dir / "requirements.txt"
    req_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    say(f"installing {len(requirements)} requirements with pip: {', '.join(requirements)}")
    cmd = [*pip, "install", "--disable-pip-version-check", "--no-input", "-r", str(req_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith(("Collecting", "Successfully installed", "ERROR")):
            say("  pip: " + line.strip().split(" (from ")[0][:160])
        if time.monotonic() > deadline:
            proc.kill()
            break
    if proc.wait() != 0:
        shutil.rmtree(env_dir, ignore_errors=True)
        tail = "\n".join(lines[-25:])
        raise EnvironmentBuildError(
            f"pip could not install the model's requirements (exit {proc.returncode}):\n{tail}"
            "\nFix requirements.txt when saving (pip_requirements=[...] or "
            "extra_pip_requirements=[...]), or check that pip can reach your package index")
    (env_dir / _READY).write_text(json.dumps(requirements), encoding="utf-8")


def _copy_trackbook(dest: Path) -> Path:
    import trackbook

    src = Path(trackbook.__file__).parent
    shutil.copytree(src, dest / "trackbook",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "static"))
    return dest


def check(model_uri: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
          progress: bool | Callable[[str], Any] = True, timeout: float = 900) -> CheckResult:
    """Build (or reuse) a fresh virtualenv from the model's requirements, load the model
    there and predict on its input example.

    Parameters
    ----------
    model_uri
        ``runs:/<run_id>/<path>``, a model path, or ``models:/...``.
    cache_dir
        Where environments are kept (default ``$TRACKBOOK_CACHE_DIR/envs`` or
        ``~/.cache/trackbook/envs``).
    progress
        Print progress lines to stderr (True), stay quiet (False), or call this function
        with each line.
    timeout
        Seconds allowed for pip.

    Returns
    -------
    CheckResult
        ``ok`` is False when the fresh environment predicts differently than this process.

    Raises
    ------
    EnvironmentBuildError
        pip failed, or the model did not load or predict in the fresh environment (the
        message has the error from there and how to fix it).
    """
    say = _progress_fn(progress)
    t0 = time.perf_counter()
    local = local_model_path(model_uri)
    meta = Model.load(local)
    if not (local / "requirements.txt").is_file():
        raise EnvironmentBuildError(f"{local} has no requirements.txt; save the model with "
                                    "trackbook (or MLflow) so its dependencies are recorded")
    model_reqs = read_requirements(local)
    requirements = model_reqs + _loader_requirements(model_reqs, meta)
    key = hashlib.sha256(json.dumps([platform.python_version(), sys.platform,
                                     sorted(requirements)]).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    env_dir = root / key
    with _locked(root / f"{key}.lock"):
        reused = (env_dir / _READY).is_file()
        if reused:
            say(f"reusing the cached environment {env_dir}")
        else:
            _build(env_dir, requirements, say, timeout)
    say("loading the model in the fresh environment")
    with tempfile.TemporaryDirectory(prefix="trackbook-check-") as tmp:
        path_dir = _copy_trackbook(Path(tmp))
        proc = subprocess.run([str(env_dir / "bin" / "python"), "-I", "-c", _RUNNER,
                               str(path_dir), str(local)], capture_output=True, text=True,
                              cwd=tmp, timeout=timeout)
    marker = "@@trackbook-check@@"
    result_line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(marker)), None)
    if proc.returncode != 0 or result_line is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise EnvironmentBuildError(
            f"the model did not load/predict in the fresh environment {env_dir}:\n{tail}\n"
            "Its requirements.txt is missing something: save it again with "
            "extra_pip_requirements=[...] (or code_paths=[...] for local code)")
    out = json.loads(result_line[len(marker):])
    result = CheckResult(str(model_uri), env_dir, reused, out["python"], requirements,
                         time.perf_counter() - t0, out["load_seconds"], out.get("predictions"))
    if "predictions" in out:
        say("predicting on the input example here, to compare")
        result.matches_local = _same(out["predictions"], _predict_here(local, meta))
    else:
        result.notes.append("the model has no input example: loaded, but nothing predicted")
    say(f"done in {result.seconds:.1f}s: {'OK' if result.ok else 'predictions differ'}")
    return result


def _predict_here(local: Path, meta: Model) -> Any:
    from .example import load_example
    from .loading import load_model
    from .payload import jsonable

    model = load_model(local, suppress_warnings=True)
    return jsonable(model.predict(load_example(local, meta.saved_input_example_info)))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)
