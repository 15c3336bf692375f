"""The seed course's recurrent language models (a simple RNN, an LSTM, a GRU): tokens ->
embedding -> ``torch.nn.RNN``/``LSTM``/``GRU`` -> linear head, the hidden state being
the whole memory of the past (and the decoding cache).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.model.baseline_config import RecurrentConfig

# torch's own modules (cuDNN kernels on a GPU), never hand-written cells.
_MODULES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# (h,) for RNN and GRU, (h, c) for the LSTM; each (n_layer, B, n_embd).
State = Tensor | tuple[Tensor, Tensor]


def _autocast_cannot_run_it(x: Tensor) -> bool:
    """Whether CPU autocast would pick a 16-bit type oneDNN has no kernels for on this CPU
    (an LSTM in bf16 without AVX-512: "could not create a primitive descriptor")."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return False
    bf16 = torch.get_autocast_dtype("cpu") == torch.bfloat16
    return not (torch.ops.mkldnn._is_mkldnn_bf16_supported() if bf16 else torch.ops.mkldnn._is_mkldnn_fp16_supported())


class RecurrentLM(nn.Module):
    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__()
        self.config = config
        C = config.n_embd
        self.tok_emb = nn.Embedding(config.vocab_size, C)
        self.drop = nn.Dropout(config.dropout)
        # torch applies `dropout` between stacked layers only (and warns when there is one).
        between = config.dropout if config.n_layer > 1 else 0.0
        self.rnn = _MODULES[config.kind](C, C, num_layers=config.n_layer, dropout=between, batch_first=True)
        self.lm_head: nn.Linear | None = None
        if not config.tie_weights:
            self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # Small embeddings and head keep the first logits near zero (loss ~ ln V), as for
        # the GPT; the recurrent weights keep torch's uniform(+-1/sqrt(n_embd)).
        nn.init.normal_(self.tok_emb.weight, mean=0.0, std=0.02)
        if self.lm_head is not None:
            nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.02)
        if self.config.kind == "lstm":
            # Forget-gate biases of 1 (Jozefowicz et al., 2015): the cell keeps its memory
            # by default early in training, which eases the vanishing gradient.
            C = self.config.n_embd
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        p[C : 2 * C].fill_(1.0)  # gate order i, f, g, o

    @property
    def lm_head_weight(self) -> Tensor:
        """(V, C) output projection: the token embedding itself when tied."""
        return self.tok_emb.weight if self.lm_head is None else self.lm_head.weight

    def hidden_states(self, idx: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """idx (B, T) -> (top layer's outputs (B, T, C) after dropout, the state after the last
        token); ``state`` None starts from zeros, as every training window does."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time), got shape {tuple(idx.shape)}")
        x = self.drop(self.tok_emb(idx))  # (B, T, C)
        if _autocast_cannot_run_it(x):
            with torch.autocast(x.device.type, enabled=False):
                out, new_state = self.rnn(x.float(), state)  # (B, T, C)
        else:
            out, new_state = self.rnn(x, state)  # (B, T, C)
        return self.drop(out), new_state

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """idx (B, T) -> (logits (B, T, V), mean cross-entropy or None); targets -1 are ignored."""
        h, _ = self.hidden_states(idx)
        logits = F.linear(h, self.lm_head_weight)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    # ------------------------------------------------------------------ decoding

    @staticmethod
    def empty_state(batch_size: int, old: State | None = None) -> None:
        """None: the recurrence starts from zeros."""
        return None

    def next_logits(self, idx: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Continue ``state`` over ``idx`` (B, T): (logits (B, V) for the next token, the new
        state); only the last position goes through the head."""
        h, new_state = self.hidden_states(idx, state)
        return F.linear(h[:, -1], self.lm_head_weight), new_state

    @staticmethod
    def select_state(state: State, index: Tensor) -> State:
        """Keep/reorder/duplicate batch rows of ``state`` (dim 1 of each tensor)."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)  # type: ignore[return-value]
        return state.index_select(1, index)

    # ------------------------------------------------------------------ accounting

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; a tied head counts once. (No position embedding to leave out.)"""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Estimated training FLOPs per token: 6 * the matmul weights (every recurrent weight
        and the head once per token; biases and the gates' elementwise work left out)."""
        n = sum(p.numel() for name, p in self.rnn.named_parameters() if name.startswith("weight"))
        n += self.lm_head_weight.numel()
        return float(6 * n)
