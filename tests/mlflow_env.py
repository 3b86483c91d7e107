"""The real MLflow, in a virtualenv of its own, for tests that compare trackbook with it.

MLflow is never installed in the project's venv. :func:`mlflow_python` gives the
benchmark's ``benchmarks/.mlflow-venv`` when it has everything a test asks for, else a
venv cached under ``~/.cache/trackbook-tests/mlflow-venv`` that pip fills on first use with
MLflow plus the asked-for frameworks at the versions this venv has (a model saved on one
side must load on the other). A test skips, saying why, only when pip cannot install them.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import venv
from collections.abc import Sequence
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
# The MLflow whose behaviour trackbook is checked against (issue 14 names 3.17); a newer
# release on the registry changes what the comparisons see. benchmarks/_harness.py pins
# the same one.
MLFLOW_VERSION = "3.17.2"
# import name -> distribution to pin; torch's CPU wheel lies on this machine's disk
_DISTRIBUTIONS = {
    "sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "lightgbm": "lightgbm",
    "torch": "torch", "pytorch_lightning": "pytorch-lightning", "keras": "keras",
    "onnx": "onnx", "onnxruntime": "onnxruntime", "skl2onnx": "skl2onnx", "polars": "polars",
    "skops": "skops", "transformers": "transformers",
}


def _has(python: Path, modules: Sequence[str]) -> bool:
    code = ("import " + ", ".join(["mlflow", *modules])
            + f"; assert mlflow.__version__ == {MLFLOW_VERSION!r}, mlflow.__version__")
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "torch")}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(python), "-c", code], capture_output=True, env=env).returncode == 0


def _pin(module: str) -> str:
    dist = _DISTRIBUTIONS.get(module, module)
    names = [dist, "xgboost"] if dist == "xgboost-cpu" else [dist]
    for name in names:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return f"{dist}=={version.split('+')[0]}"
    return dist


def mlflow_python(extra: Sequence[str] = ("sklearn",)) -> Path:
    """The python of a venv with MLflow and the modules ``extra`` (import names)."""
    modules = list(dict.fromkeys(["sklearn", *extra]))
    bench = ROOT / "benchmarks" / ".mlflow-venv" / "bin" / "python"
    if bench.exists() and _has(bench, modules):
        return bench
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    env_dir = home / "trackbook-tests" / "mlflow-venv"
    python = env_dir / "bin" / "python"
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(env_dir) + ".lock"):  # parallel test workers build it once
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        if _has(python, modules):
            return python
        wanted = [f"mlflow=={MLFLOW_VERSION}"] + [_pin(m) for m in modules]
        proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0 or not _has(python, modules):
            pytest.skip(f"pip could not install {wanted} into {env_dir}: "
                        f"{proc.stderr.strip().splitlines()[-1:]}")
    return python


def run_mlflow(code: str, *args: str, extra: Sequence[str] = ("sklearn",),
               cwd: Path | None = None, timeout: float = 600) -> dict:
    """Run ``code`` with MLflow's python; it prints one line ``@@<json>``, returned parsed."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "TRACKBOOK_")) and k != "PYTHONPATH"}
    proc = subprocess.run([str(mlflow_python(extra)), "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@"))
    return json.loads(line[2:])
