"""Configs of the seed course's models before the transformer: bigram, RNN, LSTM, GRU.

Frozen and without defaults, like :class:`~gptlab.model.config.GPTConfig`. ``context_size``
is the training window, not a limit of these models: evaluation and generation use the
GPT's windows, so that the kinds compare on one footing.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptlab.errors import ModelConfigError
from gptlab.model.config import SavedConfig, check_positive

RECURRENT_KINDS = ("rnn", "lstm", "gru")


@dataclass(frozen=True)
class BigramConfig(SavedConfig):
    """The floor: next-token logits looked up from the current token alone."""

    kind: str  # always "bigram"
    vocab_size: int
    context_size: int  # training/evaluation window; the model itself sees one token

    def __post_init__(self) -> None:
        if self.kind != "bigram":
            raise ModelConfigError(f"BigramConfig is the config of model.kind=bigram, got kind={self.kind!r}")
        check_positive(self, ("vocab_size", "context_size"))

    def describe(self) -> str:
        return f"bigram-T{self.context_size}"

    def summary(self) -> str:
        return f"kind=bigram context_size={self.context_size} vocab_size={self.vocab_size}"


@dataclass(frozen=True)
class RecurrentConfig(SavedConfig):
    """Embedding -> ``torch.nn.RNN``/``LSTM``/``GRU`` -> linear head."""

    kind: str  # rnn (tanh) | lstm | gru
    vocab_size: int
    context_size: int  # training/evaluation window (truncated backpropagation length)
    n_layer: int  # stacked recurrent layers
    n_embd: int  # embedding width = hidden state width (so the head can be tied)
    dropout: float  # on the embeddings, between layers and before the head
    tie_weights: bool  # output head shares the token embedding matrix

    def __post_init__(self) -> None:
        if self.kind not in RECURRENT_KINDS:
            raise ModelConfigError(
                f"RecurrentConfig is the config of model.kind={'|'.join(RECURRENT_KINDS)}, got kind={self.kind!r}"
            )
        check_positive(self, ("vocab_size", "context_size", "n_layer", "n_embd"))
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    def describe(self) -> str:
        return f"{self.kind}-L{self.n_layer}E{self.n_embd}-T{self.context_size}"

    def summary(self) -> str:
        return (
            f"kind={self.kind} n_layer={self.n_layer} n_embd={self.n_embd} context_size={self.context_size} "
            f"vocab_size={self.vocab_size}"
        )
