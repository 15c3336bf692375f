"""Plain ``nn.Module`` language models (built through :mod:`gptlab.model.family`) and
incremental decoding; nothing here knows Lightning, Hydra, MLflow or files."""

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
