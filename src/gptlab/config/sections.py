"""Convert config sections (``DictConfig`` or plain dicts) into frozen dataclasses.

This is the only place where the untyped config meets the typed library. Unknown keys
are an error (a typo in ``params.yaml`` must not be silently ignored), and so are
missing required keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gptlab.errors import ConfigError

T = TypeVar("T")


def plain(node: Any) -> Any:
    """A resolved plain-Python copy of a config node (DictConfig, ListConfig or plain)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        return node
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def to_dataclass(cls: type[T], node: Any, where: str, **extra: Any) -> T:
    """Build ``cls`` from the mapping ``node`` (the config section at ``where``).

    Lists become tuples (the dataclasses are frozen and hashable). ``extra`` supplies
    fields that do not come from this section (e.g. a vocabulary size).
    """
    values = plain(node)
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"config section '{where}' must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) in '{where}': {', '.join(unknown)}; valid keys: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _freeze(v) for k, v in values.items()}
    kwargs.update(extra)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        raise ConfigError(f"missing key(s) in '{where}': {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad value in '{where}': {exc}") from None


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class PathsConfig:
    """Where the stages read and write (``paths`` in conf/config.yaml, which owns the defaults)."""

    raw_dir: str
    processed_dir: str
    tokenizer_dir: str
    train_dir: str
    model_dir: str
    reports_dir: str

    @property
    def corpus_txt(self) -> Path:
        return Path(self.raw_dir) / "corpus.txt"

    @property
    def corpus_json(self) -> Path:
        return Path(self.raw_dir) / "corpus.json"

    @property
    def tokenizer_json(self) -> Path:
        return Path(self.tokenizer_dir) / "tokenizer.json"

    @property
    def dataset_meta(self) -> Path:
        return Path(self.processed_dir) / "meta.json"

    def report(self, name: str) -> Path:
        return Path(self.reports_dir) / name
