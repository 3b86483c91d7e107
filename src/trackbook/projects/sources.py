"""Where a project's files come from: a local folder, or a git repository at a version.

A local folder runs in place (its git commit, if any, is recorded). A git repository
(a URL, or a local repository with ``version=``) is mirrored once into the cache and
checked out per commit into a folder that is reused by every later run of that commit.
``uri#sub/dir`` runs the project in a subfolder of the repository.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..store import durable
from ..tracking.context import git_info, user_name
from .cache import cache_root, locked
from .errors import ProjectSourceError

_GIT_URL = re.compile(r"^(git\+)?(https?|ssh|git|file)://|^[\w.\-]+@[\w.\-]+:")
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass(frozen=True)
class Source:
    """A project's files, ready to run.

    Attributes
    ----------
    uri
        What the user passed (local paths made absolute).
    directory
        The project folder to run in.
    kind
        ``"local"`` or ``"git"``.
    git_commit, git_repo, git_branch, git_dirty
        What git says about the files, when they are in a git repository.
    """

    uri: str
    directory: Path
    kind: str
    git_commit: str | None = None
    git_repo: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None

    def tags(self) -> dict[str, str]:
        """The ``mlflow.source.*`` tags of a run of this project."""
        tags = {"mlflow.user": user_name(), "mlflow.source.name": self.uri,
                "mlflow.source.type": "PROJECT"}
        if self.git_commit:
            tags["mlflow.source.git.commit"] = self.git_commit
        if self.git_repo:
            tags["mlflow.source.git.repoURL"] = self.git_repo
        if self.git_branch:
            tags["mlflow.source.git.branch"] = self.git_branch
        if self.git_dirty is not None:
            tags["trackbook.git.dirty"] = "true" if self.git_dirty else "false"
        return tags


def resolve(uri: str | os.PathLike[str], version: str | None = None) -> Source:
    """Find (and for git, fetch and check out) the project at ``uri``.

    Parameters
    ----------
    uri
        A project folder, a git URL (``https://...``, ``git@host:repo``, ``file://...``),
        optionally followed by ``#subfolder``.
    version
        A branch, tag or commit; needs a git repository (remote or local).
    """
    text = os.fspath(uri)
    subdir = ""
    if "#" in text and not os.path.exists(text):
        text, subdir = text.split("#", 1)
    if _GIT_URL.match(text) and not text.startswith("file://"):
        return _from_git(text.removeprefix("git+"), version, subdir, os.fspath(uri))
    if text.startswith("file://"):
        text = text[len("file://"):]
    folder = Path(text).expanduser().absolute()
    if not folder.is_dir():
        raise ProjectSourceError(f"project {os.fspath(uri)!r}: {folder} is not a folder (and "
                                 "not a git URL)")
    if version is not None:
        top = _git(["rev-parse", "--show-toplevel"], cwd=folder, what="find the git "
                   f"repository of {folder} (version= needs one)").strip()
        inner = folder.resolve().relative_to(Path(top).resolve())
        return _from_git(top, version, str(Path(inner, subdir)), str(folder))
    directory = _subfolder(folder, subdir)
    info = git_info(str(directory))
    dirty = info.get("trackbook.git.dirty")
    return Source(str(directory), directory, "local", info.get("mlflow.source.git.commit"),
                  info.get("mlflow.source.git.repoURL"), info.get("mlflow.source.git.branch"),
                  None if dirty is None else dirty == "true")


def _subfolder(root: Path, subdir: str) -> Path:
    folder = (root / subdir.lstrip("/")).resolve() if subdir else root
    if not folder.is_relative_to(root.resolve()) or not folder.is_dir():
        raise ProjectSourceError(f"subfolder {subdir!r} does not exist in {root}")
    return folder


def _from_git(repo: str, version: str | None, subdir: str, shown: str) -> Source:
    checkout, commit = checkout_commit(repo, version)
    directory = _subfolder(checkout, subdir)
    branch = version if version and not commit.startswith(version.lower()) else None
    return Source(shown, directory, "git", commit, repo, branch, False)


def checkout_commit(repo: str, version: str | None) -> tuple[Path, str]:
    """A folder with ``repo`` checked out at ``version`` (default: its HEAD) and the
    commit. Mirrors and checkouts are cached; branches are fetched again each time."""
    root = cache_root()
    key = hashlib.sha1(repo.encode()).hexdigest()[:16]
    mirror = root / "git" / f"{key}.git"
    with locked(root / "git" / f"{key}.lock"):
        fresh = not mirror.is_dir()
        if fresh:
            with durable.atomic_path(mirror, what=f"the clone of {repo}",
                                     level=durable.FLUSH) as tmp:
                _git(["clone", "--quiet", "--mirror", repo, str(tmp)], what=f"clone {repo}")
        wanted = version or "HEAD"
        commit = None
        if version and _SHA.match(version):
            commit = _rev(mirror, version)  # a known commit needs no fetch
        if commit is None and not fresh:
            _git(["--git-dir", str(mirror), "fetch", "--quiet", "--prune", "origin"],
                 what=f"fetch {repo}")
        commit = commit or _rev(mirror, wanted)
        if commit is None:
            raise ProjectSourceError(f"version {wanted!r} is not a branch, tag or commit of "
                                     f"{repo}")
        checkout = root / "checkouts" / f"{key}-{commit[:12]}"
        if not checkout.is_dir():
            checkout.parent.mkdir(parents=True, exist_ok=True)
            with durable.atomic_path(checkout, what=f"the checkout of {repo}",
                                     level=durable.FLUSH) as tmp:
                _git(["clone", "--quiet", "--shared", "--no-checkout", str(mirror), str(tmp)],
                     what=f"check out {repo}")
                _git(["checkout", "--quiet", "--detach", commit], cwd=tmp,
                     what=f"check out {commit} of {repo}")
    return checkout, commit


def _rev(git_dir: Path, version: str) -> str | None:
    out = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "--verify",
                          "--quiet", f"{version}^{{commit}}"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or None if out.returncode == 0 else None


def _git(args: list[str], *, what: str, cwd: Path | None = None) -> str:
    if shutil.which("git") is None:
        raise ProjectSourceError(f"cannot {what}: git is not installed")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")  # fail instead of asking for a password
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise ProjectSourceError(f"cannot {what}: " + " / ".join(detail))
    return out.stdout
