"""Project sources: local folders run in place; git repositories are cloned at a version."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from trackbook.projects import ProjectSourceError
from trackbook.projects.sources import resolve


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                          "user.email=t@example.com", *args],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with a project in project/ and two commits on main."""
    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "repo"
    (root / "project").mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(root)], check=True)
    (root / "project" / "MLproject").write_text("entry_points:\n  main:\n    command: x\n")
    (root / "project" / "version.txt").write_text("one\n")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "one")
    (root / "project" / "version.txt").write_text("two\n")
    git(root, "commit", "--quiet", "-am", "two")
    return root


def test_local_folder_runs_in_place(tmp_path: Path) -> None:
    source = resolve(tmp_path)
    assert source.kind == "local"
    assert source.directory == tmp_path
    assert source.tags()["mlflow.source.name"] == str(tmp_path)
    assert source.tags()["mlflow.source.type"] == "PROJECT"


def test_local_folder_in_a_repository_records_its_commit(repo: Path) -> None:
    source = resolve(repo / "project")
    assert source.directory == repo / "project"
    assert source.git_commit == git(repo, "rev-parse", "HEAD")
    assert source.tags()["mlflow.source.git.commit"] == source.git_commit
    assert source.git_dirty is False


def test_git_version_checks_out_that_commit_into_the_cache(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD~1")
    old = resolve(f"{repo}#project", version=first[:10])
    assert old.kind == "git"
    assert old.git_commit == first
    assert (old.directory / "version.txt").read_text() == "one\n"
    assert old.directory.is_relative_to(tmp_path / "cache")
    assert old.tags()["mlflow.source.git.commit"] == first
    assert "mlflow.source.git.branch" not in old.tags()

    branch = resolve(repo / "project", version="main")
    assert branch.git_commit == git(repo, "rev-parse", "HEAD")
    assert (branch.directory / "version.txt").read_text() == "two\n"
    assert branch.git_branch == "main"
    assert branch.directory.name == "project"


def test_checkouts_are_reused_and_branches_fetched_again(repo: Path) -> None:
    a = resolve(repo, version="main")
    marker = a.directory / "untracked-marker"
    marker.write_text("x")
    assert resolve(repo, version="main").directory == a.directory
    assert marker.exists()  # the same folder, not a new clone
    (repo / "project" / "version.txt").write_text("three\n")
    git(repo, "commit", "--quiet", "-am", "three")
    b = resolve(repo, version="main")
    assert b.git_commit == git(repo, "rev-parse", "HEAD") != a.git_commit
    assert (b.directory / "project" / "version.txt").read_text() == "three\n"


def test_unknown_version_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(ProjectSourceError, match="'nope' is not a branch, tag or commit"):
        resolve(repo, version="nope")


def test_missing_folder_and_version_without_git(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(ProjectSourceError, match="is not a folder"):
        resolve(tmp_path / "missing")
    with pytest.raises(ProjectSourceError, match="version= needs one"):
        resolve(tmp_path, version="main")
    with pytest.raises(ProjectSourceError, match="subfolder 'nope' does not exist"):
        resolve(f"{tmp_path}#nope")
