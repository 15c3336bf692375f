"""Token datasets: the contiguous split, the ``build`` stage's ``.bin`` shards, windows."""

from gptlab.dataset.build import BuildConfig, build_dataset
from gptlab.dataset.integrity import check_split, check_splits, open_split
from gptlab.dataset.meta import DatasetMeta, load_meta, token_dtype_for
from gptlab.dataset.split import SplitConfig, iter_split_text, read_split_text, split_bounds

__all__ = [
    "BuildConfig",
    "DatasetMeta",
    "SplitConfig",
    "build_dataset",
    "check_split",
    "check_splits",
    "load_meta",
    "open_split",
    "iter_split_text",
    "read_split_text",
    "split_bounds",
    "token_dtype_for",
]
