"""The Hugging Face transformers flavor, stored the way MLflow's ``mlflow.transformers``
stores it.

A pipeline (or a dict of its components, from which a pipeline is built) is written by
transformers itself: the model's ``save_pretrained`` to ``model/`` (safetensors), each
component (``tokenizer``, ``feature_extractor``, ``image_processor``) to
``components/<name>/``. MLmodel's ``transformers`` flavor records MLflow's keys: ``task``,
``instance_type`` (the pipeline class), ``framework`` (transformers < 5 only, as MLflow),
``torch_dtype``, ``pipeline_model_type`` (the model class), ``source_model_name``,
``model_binary``, ``components``, ``<component>_type`` and ``transformers_version``;
``python_function`` names ``mlflow.transformers``, so MLflow loads these models and
trackbook loads MLflow's (those saved with the weights). Nothing here reaches the Hugging
Face Hub: no model card is fetched (pass ``model_card=``), ``task`` is required for a dict of
components, and models saved with ``save_pretrained=False`` (a Hub reference) are refused.
pyfunc predicts for ``feature-extraction``, ``fill-mask`` and ``text-classification``
pipelines with MLflow's input and output shapes; transformers and torch are imported on use.

>>> pipe = transformers.pipeline("feature-extraction", model="path/to/local/model")
>>> with tb.start_run():
...     info = tb.transformers.log_model(pipe, name="model")
>>> tb.pyfunc.load_model(info.model_uri).predict(["some text"])  # token embeddings
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._errors import ModelError, ModelLoadError, UnsupportedArgumentError, UnsupportedModelError
from ._transformers_pyfunc import TransformersWrapper, has_pyfunc
from .flavor import FlavorSpec, LoadContext
from .model import Model, ModelInfo
from .signature import ModelSignature

FLAVOR_NAME = "transformers"
MODEL_BINARY = "model"
COMPONENTS_DIR = "components"
CARD_TEXT_FILE = "model_card.md"
CARD_DATA_FILE = "model_card_data.yaml"
COMPONENT_KEYS = ("feature_extractor", "tokenizer", "image_processor")
_SAVE_KEYS = ("model", "tokenizer", "feature_extractor", "image_processor", "torch_dtype")
_RETURN_TYPES = ("pipeline", "components")
_AUTO = {"tokenizer": "AutoTokenizer", "feature_extractor": "AutoFeatureExtractor",
         "image_processor": "AutoImageProcessor", "processor": "AutoProcessor"}
_MODULES = ("transformers", "torch", "tokenizers")


def _tf() -> Any:
    try:
        import transformers
    except ImportError:
        raise UnsupportedModelError("the transformers flavor needs transformers and torch: "
                                    "pip install transformers torch") from None
    return transformers


def _refuse(where: str, **given: Any) -> None:
    reasons = {
        "processor": "a processor makes a components-only model MLflow cannot predict with; "
                     "save the pipeline's own components",
        "conda_env": "pass pip_requirements=[...] (conda.yaml is written from them)",
        "mlflow_model": "save first, then edit the MLmodel with tb.models.Model.load(path)",
        "model_config": "inference configs are not implemented; pass params= to predict",
        "prompt_template": "prompt templates (a GenAI feature) are not implemented",
        "prompts": "the prompt registry (GenAI) is out of trackbook's scope",
        "base_model_path": "PEFT models are not supported",
    }
    for name, value in given.items():
        if value is not None:
            raise UnsupportedArgumentError(
                f"transformers.{where}: {name}= is not supported by trackbook (got "
                f"{type(value).__name__}); {reasons[name]}")


def _build_pipeline(transformers_model: Any, task: str | None) -> Any:
    """The pipeline to save: the one given, or one built from a dict of components."""
    transformers = _tf()
    if isinstance(transformers_model, transformers.Pipeline):
        model = transformers_model.model
        pipeline = transformers_model
    elif isinstance(transformers_model, dict):
        invalid = [k for k in transformers_model if k not in _SAVE_KEYS]
        if invalid:
            raise ModelError(f"invalid dictionary submitted for 'transformers_model': the "
                             f"key(s) {invalid} are not permitted; use {list(_SAVE_KEYS)}")
        if "model" not in transformers_model:
            raise ModelError("the 'transformers_model' dictionary must have an entry for "
                             "'model'")
        model = transformers_model["model"]
        pipeline = None
    elif isinstance(transformers_model, (str, os.PathLike)):
        raise UnsupportedArgumentError(
            "transformers.save_model: a local checkpoint path as transformers_model is not "
            "supported by trackbook; load it with transformers.pipeline(task, model=path) "
            "and save the pipeline")
    else:
        raise ModelError("transformers_model must be a transformers Pipeline or a dict of "
                         f"its components, got {type(transformers_model).__name__}")
    if not hasattr(model, "name_or_path"):
        raise ModelError(f"the submitted model type {type(model).__name__} does not inherit "
                         "from a transformers pre-trained model (it has no 'name_or_path')")
    if type(model).__module__.split(".")[0] == "peft":
        raise UnsupportedArgumentError("transformers.save_model: PEFT models are not "
                                       "supported by trackbook")
    if pipeline is not None:
        return pipeline
    if not isinstance(model, transformers.PreTrainedModel):
        raise ModelError("the supplied model type is unsupported: the model must be a "
                         f"transformers PreTrainedModel, got {type(model).__name__}")
    if task is None:
        raise UnsupportedArgumentError(
            "transformers.save_model: task= is needed with a dict of components (MLflow "
            "looks the task up on the Hugging Face Hub, which trackbook never reaches)")
    if task.startswith("llm/v1/"):
        raise UnsupportedArgumentError(f"transformers.save_model: the LLM inference task "
                                       f"{task!r} (GenAI) is not supported by trackbook")
    components = dict(transformers_model)
    dtype = components.pop("torch_dtype", None)
    if dtype is not None:
        components.setdefault("dtype", dtype)
    try:
        return transformers.pipeline(task=task, **components)
    except Exception as exc:
        raise ModelError("the provided model configuration cannot be built into a "
                         "Pipeline; check that all required components are given with the "
                         f"right keys ({type(exc).__name__}: {exc})") from exc


def _flavor_conf(pipeline: Any, torch_dtype: Any) -> dict[str, Any]:
    import torch

    transformers = _tf()
    conf: dict[str, Any] = {"task": pipeline.task,
                            "instance_type": type(pipeline).__name__}
    framework = getattr(pipeline, "framework", None)
    if framework:
        conf["framework"] = framework
    dtype = torch_dtype if torch_dtype is not None else getattr(pipeline.model, "dtype", None)
    if torch_dtype is not None or isinstance(dtype, torch.dtype):
        conf["torch_dtype"] = str(dtype)
    conf["pipeline_model_type"] = type(pipeline.model).__name__
    conf["source_model_name"] = pipeline.model.name_or_path
    conf["model_binary"] = MODEL_BINARY
    components = [k for k in COMPONENT_KEYS if getattr(pipeline, k, None)]
    for key in components:
        conf[f"{key}_type"] = type(getattr(pipeline, key)).__name__
    conf["components"] = components
    conf["transformers_version"] = transformers.__version__
    return conf


def _default_signature(task: str) -> ModelSignature | None:
    """MLflow's default signature for a task, when neither a signature nor an example is
    given."""
    import numpy as np

    from .signature import ColSpec, Schema, TensorSpec

    text = ModelSignature(Schema([ColSpec("string")]), Schema([ColSpec("string")]))
    if task in ("token-classification", "text-generation", "text2text-generation",
                "conversational", "fill-mask", "summarization") or task.startswith("translation"):
        return text
    if task in ("text-classification", "image-classification"):
        return ModelSignature(Schema([ColSpec("string")]),
                              Schema([ColSpec("string", "label"), ColSpec("double", "score")]))
    if task == "feature-extraction":
        return ModelSignature(Schema([ColSpec("string")]),
                              Schema([TensorSpec(np.dtype("float64"), (-1,), "double")]))
    return None


def _is_text(example: Any) -> bool:
    return isinstance(example, str) or (isinstance(example, list) and bool(example) and
                                         all(isinstance(x, str) for x in example))


def _text_signature(pipeline: Any, conf: dict[str, Any], example: Any) -> ModelSignature:
    """A string column in, the schema of the pyfunc's output on ``example`` out (MLflow
    infers text examples as one string column)."""
    import warnings

    from ._errors import ModelWarning
    from .signature import ColSpec, Schema, infer_schema

    outputs = None
    try:
        outputs = infer_schema(TransformersWrapper(pipeline, conf).predict(example))
    except Exception as exc:
        warnings.warn(f"the signature has no output schema: predicting the input example "
                      f"failed or gave an unsupported type ({type(exc).__name__}: {exc})",
                      ModelWarning, stacklevel=4)
    return ModelSignature(Schema([ColSpec("string")]), outputs)


def _write_card(dest: Path, card: Any) -> None:
    if not card:
        return
    import yaml

    (dest / CARD_TEXT_FILE).write_text(card.text, encoding="utf-8")
    with (dest / CARD_DATA_FILE).open("w", encoding="utf-8") as fh:
        yaml.safe_dump(card.data.to_dict(), fh, default_flow_style=False)


def save_model(transformers_model: Any, path: str | os.PathLike[str], processor: Any = None,
               task: str | None = None, torch_dtype: Any = None, model_card: Any = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               mlflow_model: Any = None, signature: ModelSignature | bool | None = None,
               input_example: Any = None, pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None, conda_env: Any = None,
               metadata: dict[str, Any] | None = None,
               model_config: dict[str, Any] | None = None, prompt_template: str | None = None,
               save_pretrained: bool = True, base_model_path: str | None = None,
               **kwargs: Any) -> Model:
    """Save a transformers pipeline (or a dict of its components) to ``path``.

    Parameters
    ----------
    transformers_model
        A ``transformers.Pipeline``, or a dict with ``"model"`` (a ``PreTrainedModel``) and
        any of ``"tokenizer"``, ``"feature_extractor"``, ``"image_processor"``,
        ``"torch_dtype"``, from which a pipeline for ``task`` is built.
    path
        A new (or empty) folder.
    task
        The pipeline task (``"feature-extraction"``, ``"fill-mask"``...): required with a
        dict of components; a pipeline keeps its own task, as in MLflow.
    torch_dtype
        The ``torch.dtype`` recorded in MLmodel and used at load (default: the model's).
    model_card
        A ``huggingface_hub.ModelCard`` written to ``model_card.md`` and
        ``model_card_data.yaml`` (MLflow fetches one from the Hub when not given;
        trackbook does not).
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`. With neither a signature nor an
        example, the signature is MLflow's default for the task.
    processor, conda_env, mlflow_model, model_config, prompt_template, base_model_path
        MLflow's; not supported (an error says so). ``save_pretrained=False`` (store a Hub
        reference instead of the weights) is refused too: trackbook never reaches the Hub.

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, transformers_model, processor=processor, task=task,
                      torch_dtype=torch_dtype, model_card=model_card, mlflow_model=mlflow_model,
                      conda_env=conda_env, model_config=model_config,
                      prompt_template=prompt_template, save_pretrained=save_pretrained,
                      base_model_path=base_model_path, extra=kwargs, code_paths=code_paths,
                      signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata)[0]


def _save_impl(path: str | os.PathLike[str], transformers_model: Any, *,
               processor: Any = None, task: str | None = None, torch_dtype: Any = None,
               model_card: Any = None, mlflow_model: Any = None, conda_env: Any = None,
               model_config: dict[str, Any] | None = None,
               prompt_template: str | None = None, save_pretrained: bool = True,
               base_model_path: str | None = None, prompts: Any = None,
               extra: dict[str, Any] | None = None, signature: Any = None,
               input_example: Any = None, **kwargs: Any) -> Any:
    _refuse("save_model", processor=processor, conda_env=conda_env, mlflow_model=mlflow_model,
            model_config=model_config, prompt_template=prompt_template, prompts=prompts,
            base_model_path=base_model_path)
    if extra:
        raise UnsupportedArgumentError(f"transformers.save_model: unexpected keyword "
                                       f"arguments {sorted(extra)}")
    if not save_pretrained:
        raise UnsupportedArgumentError(
            "transformers.save_model: save_pretrained=False (log a Hugging Face Hub "
            "reference instead of the weights) is not supported by trackbook, which never "
            "reaches the Hub; save the weights (save_pretrained=True)")
    if task is not None and task.startswith("llm/v1/"):
        raise UnsupportedArgumentError(f"transformers.save_model: the LLM inference task "
                                       f"{task!r} (GenAI) is not supported by trackbook")
    pipeline = _build_pipeline(transformers_model, task)
    if getattr(pipeline.model, "hf_device_map", None) and \
            len(set(pipeline.model.hf_device_map.values())) > 1:
        raise ModelError("the model is loaded across devices (accelerate device_map); "
                         "load it without device_map before saving it")
    conf = _flavor_conf(pipeline, torch_dtype)
    pyfunc = has_pyfunc(pipeline)
    if signature is None and input_example is None and pyfunc:
        signature = _default_signature(pipeline.task)
    elif signature is None and pyfunc and _is_text(input_example):
        signature = _text_signature(pipeline, conf, input_example)

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        pipeline.model.save_pretrained(dest / MODEL_BINARY)
        for key in conf["components"]:
            getattr(pipeline, key).save_pretrained(dest / COMPONENTS_DIR / key)
        _write_card(dest, model_card)
        return ({} if pyfunc else None), conf

    def predict(example: Any) -> Any:
        return TransformersWrapper(pipeline, conf).predict(example)

    return SPEC.save(path, None, write, predict=predict if pyfunc else None,
                     signature=signature, input_example=input_example, **kwargs)


def log_model(transformers_model: Any, artifact_path: str | None = None, processor: Any = None,
              task: str | None = None, torch_dtype: Any = None, model_card: Any = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              registered_model_name: str | None = None,
              signature: ModelSignature | bool | None = None, input_example: Any = None,
              await_registration_for: int = 300, pip_requirements: list[str] | None = None,
              extra_pip_requirements: list[str] | None = None, conda_env: Any = None,
              metadata: dict[str, Any] | None = None,
              model_config: dict[str, Any] | None = None, prompt_template: str | None = None,
              save_pretrained: bool = True, prompts: Any = None, name: str | None = None,
              params: dict[str, Any] | None = None, tags: dict[str, Any] | None = None,
              model_type: str | None = None, step: int = 0, model_id: str | None = None,
              base_model_path: str | None = None, **kwargs: Any) -> ModelInfo:
    """Log a transformers pipeline (or a dict of its components) to the active run,
    starting one if needed.

    Takes :func:`save_model`'s arguments; returns a ``ModelInfo`` whose ``model_uri`` is
    ``runs:/<run_id>/<name>`` (``name`` defaults to ``"model"``). ``prompts`` (GenAI) is
    not supported; registration is synchronous, so ``await_registration_for`` has nothing
    to wait for.
    """
    return SPEC.log(_save_impl, transformers_model, name, artifact_path=artifact_path,
                    registered_model_name=registered_model_name, processor=processor,
                    task=task, torch_dtype=torch_dtype, model_card=model_card,
                    code_paths=code_paths, signature=signature, input_example=input_example,
                    pip_requirements=pip_requirements,
                    extra_pip_requirements=extra_pip_requirements, conda_env=conda_env,
                    metadata=metadata, model_config=model_config,
                    prompt_template=prompt_template, save_pretrained=save_pretrained,
                    prompts=prompts, params=params, tags=tags, model_type=model_type,
                    step=step, model_id=model_id, base_model_path=base_model_path,
                    extra=kwargs)


def _class(transformers: Any, name: str, what: str) -> Any:
    cls = getattr(transformers, name, None)
    if cls is None:
        raise UnsupportedModelError(
            f"the {what} class {name!r} is not in transformers {transformers.__version__}: "
            "models with custom code (trust_remote_code) are not loaded by trackbook")
    return cls


def _components(model_dir: Path, conf: dict[str, Any], device: Any = None,
                dtype: Any = None) -> dict[str, Any]:
    """MLflow's ``return_type="components"`` dict: ``task``, the model, its components."""
    import torch

    transformers = _tf()
    if conf.get("source_model_revision") and not conf.get("model_binary"):
        raise UnsupportedModelError(
            "this model was saved with save_pretrained=False: its weights are on the Hugging "
            f"Face Hub ({conf.get('source_model_name')}), which trackbook never reaches")
    if conf.get("peft_adaptor") or conf.get("local_base_model_path"):
        raise UnsupportedModelError("this model is a PEFT adaptor: PEFT models are not "
                                    "supported by trackbook")
    out: dict[str, Any] = {"task": conf["task"]}
    if int(transformers.__version__.split(".")[0]) < 5 and conf.get("framework"):
        out["framework"] = conf["framework"]
    dtype = dtype or conf.get("torch_dtype")
    if isinstance(dtype, str):
        value = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(value, torch.dtype):
            raise ModelLoadError(f"the value {dtype!r} is not a valid torch.dtype")
        dtype = value
    if device is not None:
        out["device"] = device
    if dtype is not None:
        out["dtype"] = dtype
    model_path = model_dir / conf.get("model_binary", "pipeline")
    if not model_path.is_dir():
        raise ModelLoadError(f"the model weights folder {model_path} is missing")
    cls = _class(transformers, conf["pipeline_model_type"], "model")
    load = {"dtype": dtype} if dtype is not None else {}
    out["model"] = cls.from_pretrained(str(model_path), **load)
    names = list(conf.get("components") or [])
    if "processor_type" in conf:
        names.append("processor")
    for name in names:
        cls = _class(transformers, conf[f"{name}_type"], name)
        out[name] = cls.from_pretrained(str(model_dir / COMPONENTS_DIR / name))
    return out


def _read(model_dir: Path, conf: dict[str, Any], meta: Model | None, *,
          return_type: str = "pipeline", device: Any = None, **kwargs: Any) -> Any:
    transformers = _tf()
    dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None)
    parts = _components(model_dir, conf, device, dtype)
    if return_type == "components":
        return parts
    return transformers.pipeline(**parts, **kwargs)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None,
               return_type: str = "pipeline", device: Any = None,
               base_model_path: str | None = None, **kwargs: Any) -> Any:
    """Load the transformers pipeline (or its components) from ``runs:/...``, a local path
    or ``models:/...``.

    Parameters
    ----------
    return_type
        ``"pipeline"`` (default): a ``transformers.Pipeline`` for the saved task;
        ``"components"``: a dict of ``task``, ``model``, ``tokenizer``... (and ``dtype``).
    device
        Passed to the pipeline (``0`` for the first GPU; default: transformers').
    base_model_path
        Only for PEFT models saved with one, which trackbook does not support.
    kwargs
        Passed to ``transformers.pipeline`` (``dtype``/``torch_dtype`` also to the model).
    """
    if return_type not in _RETURN_TYPES:
        raise UnsupportedArgumentError(f"the specified return_type mode {return_type!r} is "
                                       "unsupported; select one of 'pipeline' or "
                                       "'components'")
    if base_model_path is not None:
        raise UnsupportedArgumentError(
            "the base_model_path parameter can only be used with models that were saved "
            "with base_model_path (PEFT models), which trackbook does not support")
    from .uri import local_model_copy

    model_dir = local_model_copy(model_uri, dst_path)
    _, conf = SPEC.flavor_conf(model_dir)
    if return_type == "pipeline" and "processor_type" in conf:
        raise UnsupportedModelError("this model has been saved with a processor, which "
                                    "pipelines do not take; load it with "
                                    "return_type='components'")
    return SPEC.load_dir(model_dir, return_type=return_type, device=device, **kwargs)


def _wrap(pipeline: Any, ctx: LoadContext) -> TransformersWrapper:
    return TransformersWrapper(pipeline, ctx.flavor_conf, ctx.model_config)


SPEC = FlavorSpec(FLAVOR_NAME, loader_module="mlflow.transformers", modules=_MODULES,
                  data_key=None, read=_read, wrap=_wrap)


def get_default_pip_requirements(model: Any = None) -> list[str]:
    """The pip requirements every saved transformers model gets (transformers, torch,
    tokenizers, pinned to the installed versions). ``model`` is MLflow's argument."""
    return SPEC.get_default_pip_requirements()


def get_default_conda_env(model: Any = None) -> dict[str, Any]:
    """MLflow's default conda environment for transformers models."""
    return SPEC.get_default_conda_env()


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> TransformersWrapper:
    """The python_function loader (MLmodel names it ``mlflow.transformers``); ``path`` is
    the model folder."""
    return SPEC.load_pyfunc(path, model_config)


__all__ = ["FLAVOR_NAME", "get_default_conda_env", "get_default_pip_requirements",
           "load_model", "log_model", "save_model"]
