"""Hyper-parameters of the decoder-only transformer: all a checkpoint needs to rebuild the
architecture, so frozen, saved as a plain dict, and without defaults (conf/model/ owns them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from gptlab.errors import ConfigError, ModelConfigError

POS_ENCODINGS = ("learned", "sinusoidal", "rope")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu")
NORMS = ("layernorm", "rmsnorm")

T = TypeVar("T")


class SavedConfig:
    """A model config that round-trips through a plain dict (model directory, checkpoint)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
        """The config from a saved dict, checked as a ``model`` section."""
        from gptlab.config import to_dataclass

        try:
            return to_dataclass(cls, d, "model")
        except ModelConfigError:
            raise
        except ConfigError as exc:  # a bad type, unknown or missing key: still the model config's fault
            raise ModelConfigError(str(exc)) from None


@dataclass(frozen=True)
class GPTConfig(SavedConfig):
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
        return super().from_dict({"kind": "gpt", **d})  # dicts written before `kind` existed are GPT configs


def check_positive(config: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ModelConfigError(f"model.{name} must be a positive integer, got {value}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ModelConfigError(f"model.{name} must be one of: {', '.join(choices)}; got {value!r}")
