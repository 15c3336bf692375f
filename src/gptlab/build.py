"""Stage ``build``: encode the corpus into ``data/processed/{train,val,test}.bin``.

    python -m gptlab.build

Each ``.bin`` is a flat array of token ids (``uint16`` when the vocabulary fits, else
``uint32``), read back with ``np.memmap``; ``meta.json`` records sizes and lineage.
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass


def run(cfg: Any) -> dict:
    from gptlab.dataset import BuildConfig, SplitConfig
    from gptlab.dataset.encode_corpus import encode_corpus

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    split = to_dataclass(SplitConfig, cfg.data.split, "data.split")
    return encode_corpus(paths, split, to_dataclass(BuildConfig, cfg.build, "build")).to_dict()


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
