"""Hyper-parameters of the decoder-only transformer.

The config is the only thing needed to rebuild a model's architecture, so it is frozen
(a model never changes shape after construction) and round-trips through plain dicts
(checkpoints and Hydra configs store it as one). Every field is required: the defaults
are the options of conf/model/ (``vocab_size`` comes from the trained tokenizer). The one
exception is :meth:`GPTConfig.from_dict`, which reads a dict without ``kind`` (a model
directory or checkpoint written before the model family had other kinds) as ``"gpt"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from gptlab.errors import ModelConfigError

POS_ENCODINGS = ("learned", "sinusoidal", "rope")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu")
NORMS = ("layernorm", "rmsnorm")

T = TypeVar("T")


@dataclass(frozen=True)
class GPTConfig:
    kind: str  # always "gpt": the model family's tag (gptlab.model.family)
    vocab_size: int
    context_size: int  # longest sequence the model attends over (block size)
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float  # 0 suits small data run for few steps; raise it when overfitting
    bias: bool  # biases in Linear and LayerNorm; False is slightly faster and as good
    pos_encoding: str  # learned | sinusoidal | rope
    activation: str  # gelu | gelu_tanh (GPT-2's tanh approximation) | relu
    norm: str  # layernorm | rmsnorm
    tie_weights: bool  # output head shares the token embedding matrix (fewer params)
    rope_base: float  # wavelength scale of the rotary frequencies (RoFormer's is 10000)
    ffn_mult: int  # feed-forward hidden width as a multiple of n_embd

    def __post_init__(self) -> None:
        check_types(self)
        if self.kind != "gpt":
            raise ModelConfigError(f"GPTConfig is the config of model.kind=gpt, got kind={self.kind!r}")
        check_positive(self, ("vocab_size", "context_size", "n_layer", "n_head", "n_embd", "ffn_mult"))
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not self.rope_base > 0:
            raise ModelConfigError(f"model.rope_base must be positive, got {self.rope_base}")
        check_choice("pos_encoding", self.pos_encoding, POS_ENCODINGS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("norm", self.norm, NORMS)
        if self.n_embd % self.n_head != 0:
            raise ModelConfigError(
                f"model.n_embd ({self.n_embd}) must be divisible by model.n_head ({self.n_head})"
            )
        if self.pos_encoding == "rope" and self.head_size % 2 != 0:
            raise ModelConfigError(
                f"pos_encoding=rope rotates pairs of channels, so the head size "
                f"n_embd/n_head must be even, got {self.n_embd}/{self.n_head} = {self.head_size}"
            )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``L4H4E128-T64``: the shape in a run name."""
        return f"L{self.n_layer}H{self.n_head}E{self.n_embd}-T{self.context_size}"

    def summary(self) -> str:
        """The shape in the training log's model line."""
        return (
            f"n_layer={self.n_layer} n_head={self.n_head} n_embd={self.n_embd} context_size={self.context_size} "
            f"pos_encoding={self.pos_encoding} vocab_size={self.vocab_size}"
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GPTConfig:
        d = {"kind": "gpt", **d}  # dicts written before `kind` existed are GPT configs
        return dataclass_from_dict(cls, d)


def check_types(config: Any) -> None:
    """Each field of the dataclass ``config`` holds its annotated type (int, float, bool or str)."""
    # Hydra/YAML happily hands over "128" or 1.5 for an int; catch that here rather
    # than as a confusing shape error deep inside torch.
    for f in fields(config):
        value = getattr(config, f.name)
        expected = f.type if isinstance(f.type, str) else f.type.__name__
        if expected == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif expected == "bool":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ModelConfigError(
                f"model.{f.name} must be {expected}, got {type(value).__name__} {value!r}"
            )


def dataclass_from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """``cls(**d)``, with unknown and missing keys named in one line."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in d if k not in known)
    if unknown:
        raise ModelConfigError(
            f"unknown model config key(s): {', '.join(unknown)}; "
            f"valid keys are: {', '.join(f.name for f in fields(cls))}"  # type: ignore[arg-type]
        )
    missing = [f.name for f in fields(cls) if f.name not in d]  # type: ignore[arg-type]
    if missing:
        raise ModelConfigError(f"model config is missing the required key(s): {', '.join(missing)}")
    return cls(**dict(d))


def check_positive(config: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ModelConfigError(f"model.{name} must be a positive integer, got {value}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ModelConfigError(
            f"model.{name} must be one of: {', '.join(choices)}; got {value!r}"
        )
