"""Locate the built JavaScript bundles shipped in ``trackbook/static/``."""

from __future__ import annotations

from pathlib import Path

from .._errors import TrackbookError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


class WidgetBundleMissingError(TrackbookError, FileNotFoundError):
    """The JavaScript bundle of a widget was not built (node/npm missing at install)."""


def read_bundle(name: str) -> str:
    """Return the ESM source of the widget bundle ``name`` (``static/<name>.js``).

    Raises
    ------
    WidgetBundleMissingError
        If the bundle was not built, with the commands that build it.
    """
    path = STATIC_DIR / f"{name}.js"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WidgetBundleMissingError(
            f"the JavaScript bundle of the {name!r} widget is missing: {path}. It is built at "
            "install time by hatch_build.py, which needs node (>= 18) and npm: install them and "
            "reinstall trackbook (`pip install -e .`), or build it by hand with "
            "`cd js && npm ci && npm run build`."
        ) from None
