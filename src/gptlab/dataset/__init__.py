"""Token datasets: the contiguous split, the ``build`` stage's ``.bin`` shards, windows."""

from gptlab.dataset.build import BuildConfig, build_dataset
from gptlab.dataset.meta import DatasetMeta, load_meta, token_dtype_for
from gptlab.dataset.split import SplitConfig, iter_split_text, read_split_text, split_bounds

__all__ = [
    "BuildConfig",
    "DatasetMeta",
    "SplitConfig",
    "build_dataset",
    "load_meta",
    "iter_split_text",
    "read_split_text",
    "split_bounds",
    "token_dtype_for",
]
