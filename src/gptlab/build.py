"""Stage ``build``: encode the corpus into ``data/processed/{train,val,test}.bin``.

    python -m gptlab.build

Each ``.bin`` is a flat array of token ids (``uint16`` when the vocabulary fits, else
``uint32``), read back with ``np.memmap``; ``meta.json`` records sizes and lineage.
"""

from __future__ import annotations

import logging
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import PathsConfig, to_dataclass
from gptlab.errors import TokenizerError
from gptlab.io import sha256_file
from gptlab.tokenize import read_corpus_meta, split_config

log = logging.getLogger("gptlab.build")


def run(cfg: Any) -> dict:
    from gptlab.dataset import BuildConfig, build_dataset
    from gptlab.tokenizer import load_tokenizer

    paths = to_dataclass(PathsConfig, cfg.paths, "paths")
    build_cfg = to_dataclass(BuildConfig, cfg.build, "build")
    corpus = read_corpus_meta(paths)
    if not paths.tokenizer_json.is_file():
        raise TokenizerError(
            f"tokenizer not found: {paths.tokenizer_json} (run the tokenize stage first: dvc repro tokenize)"
        )
    tokenizer = load_tokenizer(paths.tokenizer_json)
    meta = build_dataset(
        corpus_path=paths.corpus_txt,
        corpus_chars=int(corpus["characters"]),
        corpus_sha256=str(corpus["sha256"]),
        tokenizer=tokenizer,
        tokenizer_sha256=sha256_file(paths.tokenizer_json),
        split=split_config(cfg),
        out_dir=paths.processed_dir,
        cfg=build_cfg,
        progress=True,
    )
    log.info(
        "dataset (%s): %s", meta.dtype, ", ".join(f"{k}={v:,} tokens" for k, v in meta.tokens.items())
    )
    return meta.to_dict()


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
