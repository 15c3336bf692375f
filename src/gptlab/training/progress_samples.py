"""Short samples during training, the seed course's way to watch a model learn."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger(__name__)


@dataclass
class ProgressSamples:
    """Generates from ``prompt`` with fixed settings; keeps, logs and tracks each text."""

    tokenizer: Any  # a gptlab tokenizer
    prompt: str
    max_new_tokens: int
    seed: int
    logger: Any = None  # Lightning's MLFlowLogger, or None
    kept: list[tuple[int, str]] = field(default_factory=list)

    def make(self, model: torch.nn.Module) -> str:
        from gptlab.generation import GenerationConfig, generate

        cfg = GenerationConfig(strategy="sample", max_new_tokens=self.max_new_tokens, temperature=0.8, seed=self.seed)
        was_training = model.training
        try:
            return generate(model, self.tokenizer, [self.prompt], cfg)[0][0]
        finally:
            model.train(was_training)

    def keep(self, step: int, text: str) -> None:
        self.kept.append((step, text))
        log.info("sample at step %d:\n%s%s", step, self.prompt, text)
        if self.logger is not None:
            self.logger.experiment.log_text(self.logger.run_id, self.prompt + text, f"samples/step_{step:06d}.txt")
