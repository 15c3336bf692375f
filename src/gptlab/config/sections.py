"""Config sections -> frozen dataclasses, checked by OmegaConf as structured configs (types,
unknown and missing keys), its errors made one-line :class:`ConfigError` messages naming the
full key; ranges and cross-field rules stay in each ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gptlab.errors import ConfigError

T = TypeVar("T")


def plain(node: Any) -> Any:
    """A resolved plain-Python copy of a config node (DictConfig, ListConfig or plain)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def to_dataclass(cls: type[T], node: Any, where: str, **extra: Any) -> T:
    """Build ``cls`` from the mapping ``node`` (the config section at ``where``).

    ``extra`` supplies fields that do not come from this section (e.g. a vocabulary size).
    Lists become tuples (the dataclasses are frozen and hashable).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        values = plain(node)
    except OmegaConfBaseException as exc:  # a bad interpolation in the section
        # A node of the composed config names the key from the root already (optim.lr).
        key = str(exc.full_key) if str(exc.full_key).startswith(f"{where}.") else _key(where, exc.full_key)
        raise ConfigError(f"{key}: {_first_line(exc)}") from None
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"config section '{where}' must be a mapping, got {type(values).__name__}")
    values = {**values, **extra}
    for name in _text_lists(cls):  # one string where a list of strings goes is that one item
        if isinstance(values.get(name), str) and values[name] != "???":
            values[name] = [values[name]]
    merged = _merge(cls, values, where)
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        named = ", ".join(_key(where, k) for k in missing)
        raise ConfigError(f"missing key(s) in '{where}': {', '.join(missing)}; set {named}")
    try:
        return _build(cls, OmegaConf.to_container(merged, resolve=True))
    except TypeError as exc:
        raise ConfigError(f"bad value in '{where}': {exc}") from None
    except ConfigError as exc:  # a range rule of a class several sections share names its field only
        if where in str(exc):
            raise
        raise type(exc)(f"{exc} (in '{where}')") from None


def tool_settings(cls: type[T], cfg: Any, where: str) -> T:
    """``cls`` from those top-level keys of a tool's config (conf/<tool>.yaml) that it names."""
    return to_dataclass(cls, {f.name: plain(cfg.get(f.name)) for f in dataclasses.fields(cls)}, where)


def _merge(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """``values`` merged into ``cls``'s structured config: OmegaConf checks types and keys."""
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    try:
        merged = _schema(cls).copy()
        merged.merge_with(values)
        return merged
    except OmegaConfBaseException:
        pass  # merged again one key at a time below, so that the error knows its key
    merged = _schema(cls).copy()
    for key, value in values.items():
        try:
            merged.merge_with({key: value})
        except ConfigKeyError as exc:
            parent = str(exc.full_key).rpartition(".")[0]
            names = sorted(f.name for f in dataclasses.fields(_type_at(cls, parent)))
            given = functools.reduce(lambda node, part: node.get(part) or {}, parent.split(".") if parent else [], values)
            unknown = sorted(str(k) for k in given if k not in names)
            raise ConfigError(
                f"unknown key(s) in '{_key(where, parent)}': {', '.join(unknown)}; valid keys: {', '.join(names)}"
            ) from None
        except OmegaConfBaseException as exc:
            full_key = str(exc.full_key or key)
            expected = _describe(_type_at(cls, full_key))
            if expected is None:
                raise ConfigError(f"{_key(where, full_key)}: {_first_line(exc)}") from None
            bad = getattr(exc, "value", None) if exc.full_key else value
            raise ConfigError(f"{_key(where, full_key)}: {bad!r} is not {expected}") from None
    return merged


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.lru_cache(maxsize=None)
def _text_lists(cls: type) -> tuple[str, ...]:
    hints = _hints(cls).items()
    return tuple(name for name, hint in hints if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...))


@functools.lru_cache(maxsize=None)
def _schema(cls: type) -> Any:
    """``cls``'s structured config. OmegaConf marks a frozen dataclass's nodes read-only;
    merging values into them needs them writable (the values still build the frozen class)."""
    from omegaconf import OmegaConf

    schema = OmegaConf.structured(cls)
    _writable(schema)
    return schema


def _writable(node: Any) -> None:
    from omegaconf import DictConfig

    node._set_flag("readonly", None)
    if isinstance(node, DictConfig) and not node._is_missing():
        for key in node.keys():
            _writable(node._get_node(key))


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    """``cls(**data)``, nested dataclasses built the same way, lists as tuples."""
    hints = _hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = _strip_optional(hints[name])
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            kwargs[name] = _build(hint, value)
        else:
            kwargs[name] = _freeze(value)
    return cls(**kwargs)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _strip_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if _is_union(hint) and len(args) == 1:
        return args[0]
    return hint


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType)


def _type_at(cls: type, full_key: str) -> Any:
    """The annotated type at ``full_key`` (``lora.r``, ``betas[1]``) below ``cls``; "" is cls."""
    hint: Any = cls
    for part in full_key.replace("[", ".[").split(".") if full_key else []:
        hint = _strip_optional(hint)
        if part.startswith("["):
            args = typing.get_args(hint)
            hint = args[0] if args else Any
        elif dataclasses.is_dataclass(hint):
            hint = _hints(hint).get(part, Any)
        else:
            return Any
    return hint


def _describe(hint: Any) -> str | None:
    """``an int``, ``a number or null``...: what a value at a key of type ``hint`` must be."""
    if _is_union(hint):
        parts = [_describe(a) for a in typing.get_args(hint) if a is not type(None)]
        if None in parts:
            return None
        null = " or null" if type(None) in typing.get_args(hint) else ""
        return " or ".join(parts) + null  # type: ignore[arg-type]
    origin = typing.get_origin(hint) or hint
    names = {int: "an int", float: "a number", bool: "true or false", str: "a string"}
    if origin in names:
        return names[origin]
    if origin in (list, tuple):
        return "a list"
    if origin in (dict, Mapping) or dataclasses.is_dataclass(hint):
        return "a mapping"
    return None


def _key(where: str, full_key: Any) -> str:
    """``where.full_key``; ``where`` "" is the top level."""
    key = str(full_key or "")
    if not key or not where:
        return key or where
    return f"{where}{key}" if key.startswith("[") else f"{where}.{key}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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
