"""What a trained model was made from: the dataset checks before training and the hashes recorded.

The hashes (corpus, tokenizer, config, and the pretrained weights of a fine-tune) go into
checkpoints, the model directory and the MLflow run, so a resume on other data is refused
and a model names its inputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from gptlab.config import PathsConfig
from gptlab.dataset import DatasetMeta, check_splits
from gptlab.errors import ConfigError, DataError
from gptlab.io import sha256_file
from gptlab.model import GPTConfig


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


def config_sha256(resolved: dict) -> str:
    """A hash of what determines the trained model: the config minus where things are
    written and how they are tracked (paths, logger, resume, the path of train.init_from,
    whose weights ``init_sha256`` covers), so moving a run does not change it."""
    keep = {k: v for k, v in resolved.items() if k not in ("paths", "logger", "hydra")}
    if isinstance(keep.get("train"), dict):
        keep["train"] = {k: v for k, v in keep["train"].items() if k not in ("resume", "init_from")}
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
