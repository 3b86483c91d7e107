"""Harness side: MLflow's virtualenv, subprocess calls, store folders, disk usage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
MLFLOW_VENV = HERE / ".mlflow-venv"
MLFLOW_SPEC = "mlflow==3.17.2"  # as tests/mlflow_env.py: the MLflow compared with
MARKER = "BENCH_RESULT "


class BenchError(RuntimeError):
    """A benchmark subprocess failed; the message carries the end of its stderr."""


def child_env() -> dict[str, str]:
    """The environment of every measured process, the same for both tools.

    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped (they slow a current numpy on
    this kind of machine); MLflow's telemetry is off (no network here, and its retries
    would be charged to MLflow); no inherited tracking URI or store can leak in.
    """
    env = dict(os.environ)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MLFLOW_TRACKING_URI",
                "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "TRACKBOOK_STORE",
                "TRACKBOOK_EXPERIMENT_NAME", "PYTHONPATH"):
        env.pop(var, None)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               GIT_PYTHON_REFRESH="quiet", PYTHONUNBUFFERED="1")
    return env


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _has_mlflow(python: Path, spec: str = MLFLOW_SPEC) -> bool:
    """Whether ``python`` imports MLflow (at the pinned version, when ``spec`` pins one)."""
    if not python.exists():
        return False
    code = "import mlflow, sqlalchemy"
    if "==" in spec:
        code += f"; assert mlflow.__version__ == {spec.split('==', 1)[1]!r}"
    probe = subprocess.run([str(python), "-c", code],
                           capture_output=True, env=child_env(), check=False)
    return probe.returncode == 0


def ensure_mlflow(spec: str = MLFLOW_SPEC, venv: Path = MLFLOW_VENV) -> Path:
    """Python of a virtualenv holding MLflow, creating it (with progress) if missing."""
    python = _venv_python(venv)
    if _has_mlflow(python, spec):
        return python
    print(f"[setup] installing {spec} into {venv} (once; a few minutes) ...", flush=True)
    t0 = time.perf_counter()
    if not python.exists():
        print("[setup] creating the virtualenv", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    cmd = [str(python), "-m", "pip", "install", "--progress-bar", "off", spec]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    collected = 0
    for line in proc.stdout:
        line = line.rstrip()
        if line.startswith("Collecting"):
            collected += 1
            if collected % 10 == 1:
                print(f"[setup]   {line}  ({collected} packages so far)", flush=True)
        elif line.startswith(("Installing", "Successfully", "ERROR")):
            print(f"[setup]   {line}", flush=True)
    if proc.wait() != 0 or not _has_mlflow(python, spec):
        raise BenchError(f"installing {spec} into {venv} failed (see the pip output above)")
    print(f"[setup] MLflow ready in {time.perf_counter() - t0:.0f} s", flush=True)
    return python


def version_of(python: str, module: str) -> str:
    out = subprocess.run([python, "-c", f"import {module}; print({module}.__version__)"],
                         capture_output=True, text=True, env=child_env(), check=False)
    return out.stdout.strip() or "?"


def du(path: Path) -> int:
    """Bytes allocated on disk under ``path``, like ``du -s`` (blocks, not lengths)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def largest_files(path: Path, n: int = 4) -> list[tuple[str, int]]:
    sizes = []
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            sizes.append((os.path.relpath(full, path), os.lstat(full).st_blocks * 512))
    return sorted(sizes, key=lambda x: -x[1])[:n]


class Runner:
    """Runs worker tasks in fresh subprocesses and hands out fresh store folders."""

    def __init__(self, pythons: dict[str, str], workdir: Path, verbose: bool = False,
                 timeout: float = 3600.0) -> None:
        self.pythons = pythons
        self.workdir = workdir
        self.verbose = verbose
        self.timeout = timeout
        self.env = child_env()
        self._templates: dict[str, Path] = {}
        self._serial = 0

    @property
    def tools(self) -> list[str]:
        return sorted(self.pythons)

    def order(self, rep: int) -> list[str]:
        """Tools in alternating order: repetition 0 starts with MLflow, 1 with trackbook."""
        tools = self.tools
        return tools if rep % 2 == 0 else tools[::-1]

    def _spec(self, tool: str, task: str, store: Path, args: dict[str, Any]) -> list[str]:
        spec = json.dumps({"tool": tool, "task": task, "store": str(store), "args": args})
        return [self.pythons[tool], str(WORKER), spec]

    def call(self, tool: str, task: str, store: Path, **args: Any) -> dict[str, Any]:
        """Run ``task`` for ``tool`` on ``store`` in a fresh interpreter; return its result."""
        proc = subprocess.run(self._spec(tool, task, store, args), cwd=store.parent,
                              env=self.env, capture_output=True, text=True,
                              timeout=self.timeout, check=False)
        return self._result(tool, task, proc.returncode, proc.stdout, proc.stderr)

    def spawn(self, tool: str, task: str, store: Path, **args: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(self._spec(tool, task, store, args), cwd=store.parent,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def collect(self, tool: str, task: str, proc: subprocess.Popen[str]) -> dict[str, Any]:
        out, err = proc.communicate(timeout=self.timeout)
        return self._result(tool, task, proc.returncode, out, err)

    def _result(self, tool: str, task: str, code: int, out: str, err: str) -> dict[str, Any]:
        if self.verbose and err.strip():
            print(f"    [{tool} {task} stderr] {err.strip()[-2000:]}")
        lines = [ln for ln in out.splitlines() if ln.startswith(MARKER)]
        if code != 0 or not lines:
            raise BenchError(f"{tool} {task} failed (exit {code}):\n{err.strip()[-3000:]}")
        return json.loads(lines[-1][len(MARKER):])

    def python_snippet(self, tool: str, code: str) -> str:
        """Run ``python -c code`` for ``tool`` in a fresh interpreter; return its stdout."""
        proc = subprocess.run([self.pythons[tool], "-c", code], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{tool} snippet failed:\n{proc.stderr.strip()[-3000:]}")
        return proc.stdout

    # -- store folders -----------------------------------------------------------------

    def new_dir(self, tool: str, label: str) -> Path:
        self._serial += 1
        path = self.workdir / tool / f"{self._serial:04d}-{label}"
        path.mkdir(parents=True)
        return path

    def fresh_store(self, tool: str, label: str) -> Path:
        """An empty store with the benchmark experiment, copied from a template (so
        MLflow's schema migrations run once, not before every measurement)."""
        template = self._templates.get(tool)
        if template is None:
            template = self.new_dir(tool, "template") / "store"
            template.mkdir()
            self.call(tool, "init_store", template)
            self._templates[tool] = template
        return self.copy_store(tool, template, label)

    def copy_store(self, tool: str, src: Path, label: str) -> Path:
        dest = self.new_dir(tool, label) / "store"
        shutil.copytree(src, dest)
        return dest

    def discard(self, *stores: Path) -> None:
        for store in stores:
            shutil.rmtree(store.parent, ignore_errors=True)


def median(values: Sequence[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None
