"""Datasets and lineage, as MLflow's ``mlflow.data``.

>>> ds = tb.data.from_pandas(df, source="data/train.csv", targets="label", name="train")
>>> ds.digest, ds.profile        # ('daa55b8f', {'num_rows': 3, 'num_elements': 9})
>>> tb.log_input(ds, context="training")

Digests, source/schema/profile JSON and the ``mlflow.data.context`` input tag are MLflow's,
value for value, so the same DataFrame has the same digest in both. pandas, numpy and polars
load only when a dataset is built.
"""

from __future__ import annotations

from typing import Any

from .._lazy import lazy_exports
from ._errors import DatasetError, UnsupportedDatasetSourceError

_LAZY = {
    "Dataset": (".dataset", "Dataset"),
    "DatasetSource": (".dataset_source", "DatasetSource"),
    "PandasDataset": (".pandas_dataset", "PandasDataset"),
    "from_pandas": (".pandas_dataset", "from_pandas"),
    "NumpyDataset": (".numpy_dataset", "NumpyDataset"),
    "from_numpy": (".numpy_dataset", "from_numpy"),
    "PolarsDataset": (".polars_dataset", "PolarsDataset"),
    "from_polars": (".polars_dataset", "from_polars"),
    "sources": (".dataset_source", ""),
}
__all__ = ["DatasetError", "UnsupportedDatasetSourceError", "from_huggingface", "get_source",
           *sorted(_LAZY)]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def get_source(dataset: Any) -> Any:
    """The :class:`DatasetSource` of a dataset, a stored ``Dataset`` entity or a
    ``DatasetInput`` (``run.inputs.dataset_inputs[0]``)."""
    from ..tracking.entities import Dataset as DatasetEntity
    from ..tracking.entities import DatasetInput
    from .dataset import Dataset
    from .dataset_source import get_dataset_source_from_json

    if isinstance(dataset, DatasetInput):
        dataset = dataset.dataset
    if isinstance(dataset, DatasetEntity):
        return get_dataset_source_from_json(dataset.source, dataset.source_type)
    if isinstance(dataset, Dataset):
        return dataset.source
    raise DatasetError(f"get_source takes a trackbook.data Dataset, a trackbook.entities "
                       f"Dataset or a DatasetInput; got {type(dataset).__name__}")


def from_huggingface(ds: Any, path: str | None = None, targets: str | None = None,
                     data_dir: str | None = None, data_files: Any = None,
                     revision: Any = None, name: str | None = None, digest: str | None = None,
                     trust_remote_code: bool | None = None,
                     source: Any = None) -> Any:
    """Not supported: raises :class:`UnsupportedDatasetSourceError` (convert the Hugging
    Face dataset with ``ds.to_pandas()`` and use :func:`from_pandas`)."""
    raise UnsupportedDatasetSourceError(
        f"trackbook.data.from_huggingface is not supported (given a {type(ds).__name__}"
        f"{f' from {path!r}' if path else ''}): build the dataset with "
        "from_pandas(ds.to_pandas(), source=...) instead")
