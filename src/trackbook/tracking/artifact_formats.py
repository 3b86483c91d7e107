"""Turning Python objects (dicts, figures, images) into artifact file bytes."""

from __future__ import annotations

import io
import json
from typing import Any

from .._errors import InvalidValueError


def _ext(artifact_file: str) -> str:
    return artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file else ""


def dict_bytes(dictionary: dict[str, Any], artifact_file: str) -> bytes:
    if not isinstance(dictionary, dict):
        raise InvalidValueError(f"log_dict needs a dict, got {type(dictionary).__name__}")
    if _ext(artifact_file) in ("yaml", "yml"):
        import yaml

        return yaml.safe_dump(dictionary, sort_keys=False).encode()
    return json.dumps(dictionary, indent=2, default=str).encode()


def figure_bytes(figure: Any, artifact_file: str, save_kwargs: dict[str, Any]) -> bytes:
    """Matplotlib (png/svg/pdf/jpg) or plotly (html, or png/svg when kaleido is present)."""
    ext = _ext(artifact_file)
    module = type(figure).__module__
    if module.startswith("plotly"):
        if ext in ("html", "htm"):
            # Self-contained: the plot must open offline, so plotly.js is embedded.
            opts = {"include_plotlyjs": True, "full_html": True, **save_kwargs}
            return figure.to_html(**opts).encode()
        if ext == "json":
            return figure.to_json().encode()
        try:
            return figure.to_image(format=ext, **save_kwargs)  # needs kaleido
        except Exception as exc:
            raise InvalidValueError(
                f"saving a plotly figure as .{ext} needs the kaleido package ({exc}); "
                "use a .html or .json artifact_file instead") from exc
    if hasattr(figure, "savefig"):
        buf = io.BytesIO()
        figure.savefig(buf, **{"format": ext or "png", "bbox_inches": "tight", **save_kwargs})
        return buf.getvalue()
    raise InvalidValueError(
        f"log_figure takes a matplotlib or plotly figure, got {type(figure).__name__}")


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """A numpy array (HxW, HxWx3, HxWx4; uint8 or floats in [0, 1]) or a PIL image."""
    ext = _ext(artifact_file) or "png"
    if hasattr(image, "save") and hasattr(image, "mode"):
        buf = io.BytesIO()
        image.save(buf, format="JPEG" if ext in ("jpg", "jpeg") else ext.upper())
        return buf.getvalue()
    try:
        import numpy as np
    except ImportError as exc:  # pragma: no cover - numpy comes with pandas
        raise InvalidValueError("log_image needs numpy or a PIL image") from exc
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InvalidValueError(
            f"log_image needs an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if arr.min() < 0 or arr.max() > 1:
            raise InvalidValueError("float images must have values in [0, 1]")
        arr = (arr * 255).round().astype("uint8")
    if ext != "png":
        raise InvalidValueError(f"arrays are saved as .png; got .{ext} (pass a PIL image)")
    try:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(arr.squeeze() if arr.ndim == 3 and arr.shape[2] == 1 else arr).save(
            buf, format="PNG")
        return buf.getvalue()
    except ImportError:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        plt.imsave(buf, arr, format="png")
        return buf.getvalue()
