"""A plain ``nn.Module`` decoder-only transformer and incremental decoding helpers.

Nothing here knows about Lightning, Hydra, MLflow or files: it takes tensors and a
:class:`GPTConfig`, and returns tensors.
"""

from gptlab.model.config import GPTConfig
from gptlab.model.gpt import GPT
from gptlab.model.incremental import IncrementalLM
from gptlab.model.kv_cache import KVCache

__all__ = ["GPT", "GPTConfig", "IncrementalLM", "KVCache"]
