"""The ``MLmodel`` manifest: a YAML file at the top of a model directory, in MLflow's format.

::

    artifact_path: model                     # where the model was logged in its run
    flavors:
      python_function: {loader_module: mlflow.sklearn, model_path: model.pkl, env: {...}, ...}
      sklearn: {pickled_model: model.pkl, serialization_format: cloudpickle, ...}
    mlflow_version: 3.17.2                   # the MLflow format version this file follows
    model_size_bytes: 1234
    model_uuid: 4f0c...                      # 32 hex digits
    run_id: 9a1b...                          # absent for models saved to a path
    saved_input_example_info: {artifact_path: input_example.json, type: dataframe, ...}
    signature: {inputs: '<json>', outputs: '<json>', params: null}
    trackbook: {version: 0.1.0, code: [...], project_files: [...], notes: [...]}
    utc_time_created: '2026-01-02 03:04:05.678901'

MLflow ignores keys it does not know (``trackbook``), and trackbook keeps the keys MLflow
writes that it does not use, so a manifest survives a round trip through either tool.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ._errors import ModelLoadError
from .signature import ModelSignature

MLMODEL_FILE = "MLmodel"
#: The MLflow release whose MLmodel format (and loaders) trackbook's files are tested
#: against; written as ``mlflow_version`` because tools that read MLmodel files expect it.
#: Who really wrote the file is in ``trackbook.version``.
MLFLOW_FORMAT_VERSION = "3.17.2"
PYFUNC = "python_function"
#: The python_function key holding ``model_config`` (MLflow's ``config``)
MODEL_CONFIG = "config"


class Model:
    """An MLmodel manifest (MLflow's ``mlflow.models.Model``)."""

    def __init__(self, artifact_path: str | None = None, run_id: str | None = None,
                 utc_time_created: str | None = None,
                 flavors: dict[str, dict[str, Any]] | None = None,
                 signature: ModelSignature | None = None,
                 saved_input_example_info: dict[str, Any] | None = None,
                 model_uuid: str | None = None,
                 mlflow_version: str | None = MLFLOW_FORMAT_VERSION,
                 metadata: dict[str, Any] | None = None,
                 model_size_bytes: int | None = None, **extra: Any) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or str(
            _dt.datetime.now(_dt.UTC).replace(tzinfo=None))
        self.flavors: dict[str, dict[str, Any]] = dict(flavors or {})
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.mlflow_version = mlflow_version
        self.metadata = metadata
        self.model_size_bytes = model_size_bytes
        self.extra: dict[str, Any] = dict(extra)

    def add_flavor(self, name: str, **conf: Any) -> Model:
        """Add (or replace) a flavor's configuration."""
        self.flavors[name] = conf
        return self

    def get_input_schema(self) -> Any:
        return self.signature.inputs if self.signature else None

    def get_output_schema(self) -> Any:
        return self.signature.outputs if self.signature else None

    def get_params_schema(self) -> Any:
        return self.signature.params if self.signature else None

    @property
    def model_id(self) -> str | None:
        """MLflow 3's logged-model id (``m-<32 hex>``), None for a model saved to a path."""
        return self.extra.get("model_id")

    @model_id.setter
    def model_id(self, value: str | None) -> None:
        if value is None:
            self.extra.pop("model_id", None)
        else:
            self.extra["model_id"] = value

    @property
    def trackbook(self) -> dict[str, Any]:
        """trackbook's own section (version, packaged code, project files, capture notes)."""
        return self.extra.setdefault("trackbook", {})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        out["flavors"] = self.flavors
        if self.metadata is not None:
            out["metadata"] = self.metadata
        out["mlflow_version"] = self.mlflow_version
        if self.model_size_bytes is not None:
            out["model_size_bytes"] = self.model_size_bytes
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
            # MLflow 3 records whether the signature came from type hints (never, here)
            out["is_signature_from_type_hint"] = False
            out["type_hint_from_example"] = False
        out["prompts"] = None  # MLflow 3's GenAI prompt links: none from trackbook
        out.update(self.extra)
        out["utc_time_created"] = self.utc_time_created
        return out

    def history_entry(self) -> dict[str, Any]:
        """This model's entry in its run's ``mlflow.log-model.history`` tag, as MLflow's
        ``Model.get_tags_dict`` makes it: ids, path, time and the flavors (without their
        ``config``)."""
        out = {k: v for k, v in self.to_dict().items()
               if k in ("run_id", "artifact_path", "utc_time_created", "model_uuid")}
        out["flavors"] = {name: {k: v for k, v in conf.items() if k != "config"}
                          if isinstance(conf, dict) else conf
                          for name, conf in self.flavors.items()}
        return out

    def to_yaml(self) -> str:
        import yaml

        class _Dumper(yaml.SafeDumper):
            pass

        def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
            # multi-line text (the packaged notebook source) as a readable block
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        _Dumper.add_representer(str, _str)
        return yaml.dump(self.to_dict(), Dumper=_Dumper, default_flow_style=False,
                         sort_keys=True)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the manifest to ``path`` (a model directory or the MLmodel file itself)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE
        from ..store import durable

        durable.write_atomic(target, self.to_yaml().encode("utf-8"),
                             what="the model's MLmodel file")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        d = dict(d)
        sig = d.pop("signature", None)
        signature = ModelSignature.from_dict(sig) if isinstance(sig, dict) else None
        known = ("artifact_path", "run_id", "utc_time_created", "flavors",
                 "saved_input_example_info", "model_uuid", "mlflow_version", "metadata",
                 "model_size_bytes")
        kwargs = {k: d.pop(k) for k in known if k in d}
        kwargs.setdefault("mlflow_version", None)
        if kwargs.get("utc_time_created") is not None:
            kwargs["utc_time_created"] = str(kwargs["utc_time_created"])
        return cls(signature=signature, **kwargs, **d)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read the manifest of a model directory (or an MLmodel file)."""
        import yaml

        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE
        if not target.is_file():
            raise ModelLoadError(
                f"no {MLMODEL_FILE} file at {target}: {Path(path)} is not a model directory "
                "(save one with tb.sklearn.save_model / tb.models.save_model)")
        try:
            data = yaml.safe_load(target.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ModelLoadError(f"{target} is not valid YAML: {exc}") from None
        if not isinstance(data, dict) or "flavors" not in data:
            raise ModelLoadError(f"{target} has no 'flavors' section; it is not an MLmodel "
                                 "manifest")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return self.to_yaml()


@dataclass
class ModelInfo:
    """What ``log_model`` / ``save_model`` return (MLflow's ``ModelInfo`` fields)."""

    model_uri: str
    artifact_path: str | None
    run_id: str | None
    flavors: dict[str, dict[str, Any]]
    model_uuid: str
    utc_time_created: str
    signature: ModelSignature | None
    saved_input_example_info: dict[str, Any] | None
    mlflow_version: str | None
    model_size_bytes: int | None
    metadata: dict[str, Any] | None = None
    requirements: list[str] = field(default_factory=list)
    # MLflow 3's logged model: models:/<model_id> (None for a model saved to a path)
    model_id: str | None = None
    name: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[Any] = field(default_factory=list)
    creation_timestamp: int | None = None
    registered_model_version: int | None = None
    env_vars: list[str] | None = None
    prompts: list[str] | None = None

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return self.signature.to_dict() if self.signature else None

    @classmethod
    def from_model(cls, model: Model, model_uri: str,
                   requirements: list[str] | None = None) -> ModelInfo:
        return cls(model_uri, model.artifact_path, model.run_id, model.flavors,
                   model.model_uuid, model.utc_time_created, model.signature,
                   model.saved_input_example_info, model.mlflow_version,
                   model.model_size_bytes, model.metadata, list(requirements or []))


def directory_size(path: Path) -> int:
    """Total size in bytes of the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += (Path(root) / name).stat().st_size
    return total


def trackbook_section() -> dict[str, Any]:
    return {"version": __version__}
