"""Fine-tuning from ``train.init_from=PATH`` (README.md, "Hugging Face export and fine-tuning"): the checkpoint's
model config, its weights before the first step unless resuming, and their sha256 in the lineage."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gptlab.checkpoint.pretrained import load_pretrained, read_pretrained
from gptlab.errors import ConfigError
from gptlab.io import sha256_file
from gptlab.model import GPTConfig, ModelConfig, parse_model_config, require

log = logging.getLogger(__name__)

# Not part of the architecture: the fine-tune's own config decides it.
TRAINING_CHOICES = ("dropout",)


def model_config(
    model_section: Any, init_from: str | None, vocab_size: int, overridden: Iterable[str] | None = None
) -> ModelConfig:
    """The model config of a fit: the ``model`` section, or the checkpoint's with ``init_from`` (the section
    gives only ``dropout``; a command-line ``model.*`` key that contradicts the checkpoint is an error).

    ``vocab_size`` is the dataset's. ``overridden``: the ``model`` keys set on the command
    line (None: read them from Hydra's overrides, when running under Hydra).
    """
    composed = parse_model_config(model_section, "model", vocab_size=vocab_size)
    if not init_from:
        return composed
    require(composed, "init_from", f"train.init_from={init_from}")
    pretrained = read_pretrained(init_from).config
    given = set(command_line_model_keys() if overridden is None else overridden)
    mine, theirs = composed.to_dict(), pretrained.to_dict()
    architecture = [k for k in theirs if k not in TRAINING_CHOICES and k != "vocab_size"]
    for key in architecture:
        if mine[key] != theirs[key] and key in given:
            raise ConfigError(
                f"model.{key}={mine[key]!r} contradicts train.init_from={init_from}, whose {key} is {theirs[key]!r}: "
                "drop the override (the model config comes from the checkpoint)"
            )
    if pretrained.vocab_size != vocab_size:
        raise ConfigError(
            f"train.init_from={init_from} has a vocabulary of {pretrained.vocab_size:,} tokens, the dataset "
            f"{vocab_size:,}: encode the corpus with its tokenizer (tokenizer=pretrained tokenizer.path={init_from}, "
            "then the build stage)"
        )
    replaced = [f"{k} {mine[k]!r} -> {theirs[k]!r}" for k in architecture if mine[k] != theirs[k]]
    if replaced:
        log.info("model config from %s: %s", init_from, ", ".join(replaced))
    return GPTConfig(**{**theirs, **{k: mine[k] for k in TRAINING_CHOICES}})


def command_line_model_keys() -> set[str]:
    """The ``model`` keys a Hydra command line overrides (``model=tiny`` counts as all of them); not those of
    ``dvc exp run -S``, which DVC composes into params.yaml where they cannot be told from the defaults."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    keys: set[str] = set()
    for override in HydraConfig.get().overrides.task:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "model":
            keys.update(GPTConfig.__dataclass_fields__)
        elif key.startswith("model."):
            keys.add(key.removeprefix("model."))
    return keys


def start_from_pretrained(model: Any, init_from: str | None, resume: Path | None) -> None:
    """Load ``init_from``'s weights into ``model`` (a GPT) before training, unless resuming."""
    if not init_from:
        return
    if resume is not None:
        log.info("resuming from %s: its weights, not train.init_from's, are the starting point", resume)
        return
    pretrained = read_pretrained(init_from)
    load_pretrained(model, pretrained)
    log.info("starting from the weights of %s (%s)", init_from, pretrained.kind)


def pretrained_sha256(init_from: str | None) -> str | None:
    """sha256 of the weights file training starts from (None without ``init_from``)."""
    if not init_from:
        return None
    return sha256_file(read_pretrained(init_from).weights)
