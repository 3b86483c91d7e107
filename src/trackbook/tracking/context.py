"""What reproduces a run: source file or notebook, git state, Python and packages.

Everything here is captured once per process (packages, git commit) or cheaply per
run, so starting a run stays fast.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import subprocess
import sys
import time
from typing import Any

_GIT_TTL_SECONDS = 10.0
_git_cache: dict[str, tuple[float, dict[str, str]]] = {}


def ipython_shell() -> Any | None:
    """The running IPython shell, if any (without importing IPython otherwise)."""
    mod = sys.modules.get("IPython")
    if mod is None:
        return None
    try:
        return mod.get_ipython()
    except Exception:
        return None


def in_notebook() -> bool:
    shell = ipython_shell()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def notebook_path() -> str | None:
    """The notebook file of this kernel, when the front end tells us."""
    shell = ipython_shell()
    if shell is not None:
        vsc = shell.user_ns.get("__vsc_ipynb_file__")
        if vsc:
            return str(vsc)
    name = os.environ.get("JPY_SESSION_NAME")
    if name:
        return os.path.abspath(name) if not name.startswith("/") else name
    return None


def executed_cells() -> str | None:
    """Source of every cell run in this kernel so far, as one Python file."""
    shell = ipython_shell()
    if shell is None:
        return None
    cells = shell.user_ns.get("In") or []
    parts = [f"# In[{i}]:\n{src}\n" for i, src in enumerate(cells) if i and src]
    return "\n".join(parts) if parts else None


def source_info() -> dict[str, str]:
    """mlflow.source.* tags: the notebook or entry script that started the run."""
    nb = notebook_path()
    if nb:
        return {"mlflow.source.name": nb, "mlflow.source.type": "NOTEBOOK"}
    if in_notebook():
        return {"mlflow.source.name": "<notebook>", "mlflow.source.type": "NOTEBOOK"}
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if main and main != "-c" and os.path.exists(main):
        return {"mlflow.source.name": os.path.abspath(main), "mlflow.source.type": "LOCAL"}
    return {"mlflow.source.name": main or "<interactive>", "mlflow.source.type": "LOCAL"}


def git_info(path: str | None = None) -> dict[str, str]:
    """Commit, dirty flag and branch of the git repo holding ``path`` (default: cwd)."""
    where = os.path.abspath(path or os.getcwd())
    hit = _git_cache.get(where)
    if hit is not None and time.monotonic() - hit[0] < _GIT_TTL_SECONDS:
        return hit[1]
    info: dict[str, str] = {}
    try:
        out = subprocess.run(
            ["git", "-C", where, "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False)
        if out.returncode == 0:
            commit, branch = out.stdout.split("\n")[:2]
            status = subprocess.run(
                ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=10, check=False)
            info = {"mlflow.source.git.commit": commit,
                    "mlflow.source.git.branch": branch,
                    "trackbook.git.dirty": "true" if status.stdout.strip() else "false"}
            url = _remote_url(where)
            if url:  # as MLflow: the repo's remote (origin first), none for a local-only repo
                info["mlflow.source.git.repoURL"] = url
    except (OSError, subprocess.SubprocessError, ValueError):
        info = {}
    _git_cache[where] = (time.monotonic(), info)
    return info


def _remote_url(where: str) -> str | None:
    out = subprocess.run(["git", "-C", where, "config", "--get-regexp", r"^remote\..*\.url$"],
                         capture_output=True, text=True, timeout=5, check=False)
    urls = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    return urls.get("remote.origin.url") or next(iter(urls.values()), None)


@functools.lru_cache(maxsize=1)
def installed_packages() -> str:
    """``name==version`` of every installed distribution, sorted (one line each).

    Read from the ``<name>-<version>.dist-info`` folder names on ``sys.path``: parsing
    every package's metadata (importlib.metadata) costs 0.2-0.5 s, this ~1 ms.
    """
    seen: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
            elif name.endswith(".egg-info"):
                stem = name[: -len(".egg-info")].split("-py")[0]
            else:
                continue
            dist, sep, version = stem.partition("-")
            key = dist.lower().replace("_", "-").replace(".", "-")
            if sep and key not in seen:  # the first on sys.path is the one imported
                seen[key] = f"{key}=={version}"
    header = f"# python {platform.python_version()} ({sys.executable})\n"
    return header + "\n".join(seen[k] for k in sorted(seen)) + "\n"


def user_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def system_tags() -> dict[str, str]:
    """All tags describing where a run came from (not packages: see installed_packages)."""
    tags = {"mlflow.user": user_name(), "trackbook.python": platform.python_version()}
    tags.update(source_info())
    source = tags.get("mlflow.source.name", "")
    git_dir = os.path.dirname(source) if os.path.isabs(source) else None
    tags.update(git_info(git_dir))
    return tags
