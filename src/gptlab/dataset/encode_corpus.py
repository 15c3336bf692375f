"""The build stage's routine: the prepared corpus, encoded with the trained tokenizer (its ids, by the faster encoders of :mod:`gptlab.dataset.fast_encode`)."""

from __future__ import annotations

import logging

from gptlab.config import PathsConfig
from gptlab.corpus.prepared import corpus_source, read_corpus_meta
from gptlab.dataset.build import BuildConfig, build_dataset
from gptlab.dataset.fast_encode import fast_encoder
from gptlab.dataset.meta import DatasetMeta
from gptlab.dataset.split import SplitConfig
from gptlab.errors import DataError, TokenizerError
from gptlab.io import sha256_file
from gptlab.io.hashing import measure_text_file

log = logging.getLogger(__name__)


def encode_corpus(paths: PathsConfig, split: SplitConfig, build_cfg: BuildConfig) -> DatasetMeta:
    """Write ``{train,val,test}.bin`` and ``meta.json`` under ``paths.processed_dir``."""
    from gptlab.tokenizer import load_tokenizer

    corpus = read_corpus_meta(paths.corpus_txt, paths.corpus_json)
    if not paths.tokenizer_json.is_file():
        raise TokenizerError(
            f"tokenizer not found: {paths.tokenizer_json} (run the tokenize stage first: dvc repro tokenize)"
        )
    # The text's length as it is on disk now, not as corpus.json says: a corpus.txt edited
    # by hand is built as it is (and its hash, measured while building, is recorded).
    try:
        corpus_chars = measure_text_file(paths.corpus_txt).characters
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{paths.corpus_txt} is not valid UTF-8 (byte offset {exc.start}): rerun the prepare stage (dvc repro prepare)"
        ) from None
    meta = build_dataset(
        corpus_path=paths.corpus_txt,
        corpus_chars=corpus_chars,
        corpus_sha256=str(corpus.get("sha256")) if corpus.get("sha256") else None,
        tokenizer=fast_encoder(load_tokenizer(paths.tokenizer_json)),
        tokenizer_sha256=sha256_file(paths.tokenizer_json),
        split=split,
        out_dir=paths.processed_dir,
        cfg=build_cfg,
        progress=True,
        source=corpus_source(corpus),
    )
    log.info("dataset (%s): %s", meta.dtype, ", ".join(f"{k}={v:,} tokens" for k, v in meta.tokens.items()))
    return meta
