"""Images logged per key and step (``log_image(image, key=..., step=...)``), as MLflow 3.

Each call writes two artifacts under ``images/``:
``<key>+step+<step>+timestamp+<ms>+<uuid>.png`` (the image) and the same name with
``+compressed.webp`` (a copy fitting 256x256, for thumbnails and sliders); ``/`` in the
key becomes ``~`` so a key never makes sub-folders. The run gets the tag
``mlflow.loggedImages = "True"``. :func:`list_images` reads the files back by key and step.
"""

from __future__ import annotations

import io
import re
import uuid
from typing import Any, NamedTuple

from .._errors import InvalidValueError, TrackbookError
from ..store import artifacts as _artifacts

IMAGES_DIR = "images"
LOGGED_IMAGES_TAG = "mlflow.loggedImages"
COMPRESSED_SIZE = 256  # MLflow's thumbnail box
_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")
# MLflow 3 separates with "+"; older MLflow versions used "%" (and "#" for "/").
_NAME = re.compile(r"^(?P<key>.+?)[+%]step[+%](?P<step>-?\d+)[+%]timestamp[+%](?P<ts>\d+)"
                   r"[+%](?P<uuid>[0-9a-fA-F-]+)\.png$")


class ImageArgumentsError(TrackbookError, TypeError):
    """``log_image`` got ``artifact_file`` together with ``key``/``step``/``timestamp``, or
    neither (MLflow raises ``TypeError`` here too)."""


class LoggedImage(NamedTuple):
    """One image logged with a key: where its files are, relative to the run's artifacts."""

    key: str
    step: int
    timestamp: int
    path: str
    compressed_path: str | None


def check_arguments(artifact_file: str | None, key: str | None, step: int | None,
                    timestamp: int | None) -> None:
    if (artifact_file is None) == (key is None):
        raise ImageArgumentsError(
            "log_image needs exactly one of artifact_file (a static image) or key (images "
            f"per step); got artifact_file={artifact_file!r}, key={key!r}")
    if artifact_file is not None and (step is not None or timestamp is not None):
        raise ImageArgumentsError(
            "artifact_file cannot be combined with step or timestamp (those go with key); "
            f"got artifact_file={artifact_file!r}, step={step!r}, timestamp={timestamp!r}")


def keyed_paths(key: str, step: int, timestamp: int) -> tuple[str, str]:
    """The (image, thumbnail) artifact paths of one keyed image."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidValueError(
            "the image key may only contain letters, digits, underscores (_), dashes (-), "
            f"periods (.), spaces ( ) and slashes (/); got {key!r}")
    base = f"{IMAGES_DIR}/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    return f"{base}.png", f"{base}+compressed.webp"


def thumbnail_bytes(png: bytes) -> bytes | None:
    """A WEBP copy of ``png`` scaled to fit 256x256 (None without Pillow's WEBP support)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    image = Image.open(io.BytesIO(png))
    width, height = image.size
    if width > height:
        size = (COMPRESSED_SIZE, max(1, int(height * COMPRESSED_SIZE / width)))
    else:
        size = (max(1, int(width * COMPRESSED_SIZE / height)), COMPRESSED_SIZE)
    buf = io.BytesIO()
    try:
        image.resize(size).save(buf, format="WEBP")
    except (KeyError, OSError):  # Pillow built without WEBP
        return None
    return buf.getvalue()


def list_images(run_id: str, key: str | None = None,
                tracking_uri: str | None = None) -> list[LoggedImage]:
    """The images a run logged with ``log_image(image, key=..., step=...)``.

    Parameters
    ----------
    run_id
        The run.
    key
        Only this key (as given to ``log_image``, ``/`` included); default: every key.
    tracking_uri
        The store; default: the current tracking URI.

    Returns
    -------
    list of LoggedImage
        ``(key, step, timestamp, path, compressed_path)`` sorted by key, step and
        timestamp; ``path`` is relative to the run's artifacts (``tb.artifacts.load_image(
        f"runs:/{run_id}/{entry.path}")`` opens it). Runs imported from MLflow, whose
        older file names used ``%`` and ``#``, are read too.

    Examples
    --------
    >>> from trackbook.tracking.images import list_images
    >>> [(i.key, i.step) for i in list_images(run_id)]                     # doctest: +SKIP
    [('samples/val', 0), ('samples/val', 1)]
    """
    from .client import Client

    root = Client(tracking_uri)._artifact_root(run_id)
    folder = _artifacts.resolve(root, IMAGES_DIR)
    if not folder.is_dir():
        return []
    names = {p.name for p in folder.iterdir() if p.is_file()}
    out = []
    for name in names:
        m = _NAME.match(name)
        if m is None:
            continue
        k = m["key"].replace("~", "/").replace("#", "/")
        if key is not None and k != key:
            continue
        thumb = name[:-len(".png")] + ("+compressed.webp" if "+step+" in name
                                       else "%compressed.webp")
        out.append(LoggedImage(k, int(m["step"]), int(m["ts"]), f"{IMAGES_DIR}/{name}",
                               f"{IMAGES_DIR}/{thumb}" if thumb in names else None))
    return sorted(out, key=lambda i: (i.key, i.step, i.timestamp, i.path))


def image_png(image: Any) -> bytes:
    """PNG bytes of a numpy array, PIL image or anything with ``to_pil()``."""
    from .artifact_formats import image_bytes

    if hasattr(image, "to_pil") and callable(image.to_pil):
        image = image.to_pil()
    return image_bytes(image, "image.png")


__all__ = ["LOGGED_IMAGES_TAG", "ImageArgumentsError", "LoggedImage", "list_images"]
