"""Plain ``nn.Module`` language models and incremental decoding helpers.

The decoder-only transformer (:class:`GPT`, :class:`GPTConfig`) and the seed course's
models before it (bigram, RNN, LSTM, GRU: :mod:`gptlab.model.bigram`,
:mod:`gptlab.model.recurrent`), all built from a config through :mod:`gptlab.model.family`.
Nothing here knows about Lightning, Hydra, MLflow or files: it takes tensors and a
config, and returns tensors.
"""

from gptlab.model.baseline_config import BigramConfig, RecurrentConfig
from gptlab.model.config import GPTConfig
from gptlab.model.family import (
    KINDS,
    ModelConfig,
    build_model,
    config_from_dict,
    incremental_lm,
    parse_model_config,
    require,
    supports,
)
from gptlab.model.gpt import GPT
from gptlab.model.incremental import IncrementalLM
from gptlab.model.kv_cache import KVCache

__all__ = [
    "GPT",
    "KINDS",
    "BigramConfig",
    "GPTConfig",
    "IncrementalLM",
    "KVCache",
    "ModelConfig",
    "RecurrentConfig",
    "build_model",
    "config_from_dict",
    "incremental_lm",
    "parse_model_config",
    "require",
    "supports",
]
