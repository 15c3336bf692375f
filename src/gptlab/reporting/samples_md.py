"""``reports/samples.md``: each prompt's completions per strategy, deterministic text only
(no dates, no timings) so ``git diff`` shows what changed between models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StrategySamples:
    """The completions one decoding strategy gave for every prompt."""

    name: str  # the strategy's name in the config (greedy, top_k_40, ...)
    settings: dict[str, Any]  # shown under its heading
    completions: Sequence[Sequence[str]]  # [prompt_index] -> that prompt's completion texts


def describe_generation(cfg: Any) -> dict[str, Any]:
    """The settings of a ``GenerationConfig`` that its strategy actually uses."""
    shown: dict[str, Any] = {"strategy": cfg.strategy}
    if cfg.strategy == "sample":
        shown["temperature"] = cfg.temperature
        if cfg.top_k is not None:
            shown["top_k"] = cfg.top_k
        if cfg.top_p is not None:
            shown["top_p"] = cfg.top_p
    if cfg.strategy == "beam":
        shown["num_beams"] = cfg.num_beams
        shown["length_penalty"] = cfg.length_penalty
    if cfg.repetition_penalty != 1.0:
        shown["repetition_penalty"] = cfg.repetition_penalty
    if cfg.stop_strings:
        shown["stop_strings"] = list(cfg.stop_strings)
    if cfg.num_samples > 1:
        shown["num_samples"] = cfg.num_samples
    shown["max_new_tokens"] = cfg.max_new_tokens
    if cfg.strategy == "sample":
        shown["seed"] = cfg.seed  # greedy and beam search draw no random numbers
    return shown


def _inline_code(text: str) -> str:
    """``text`` as Markdown inline code, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str) -> str:
    """A fenced block that no run of backticks in ``text`` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}text\n{body}{fence}\n"


def _settings_line(settings: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return " · ".join(_inline_code(f"{k}={value(v)}") for k, v in settings.items())


def render_samples(
    prompts: Sequence[str],
    strategies: Sequence[StrategySamples],
    about: Sequence[str] = (),
    title: str = "Samples",
) -> str:
    """The Markdown text: a section per prompt, a block per strategy (prompt + completion)."""
    lines = [f"# {title}", ""]
    if about:
        lines += [f"- {item}" for item in about] + [""]
    for p, prompt in enumerate(prompts):
        # JSON quoting shows a prompt's newlines and spaces unambiguously in the heading.
        lines += [f"## Prompt {p + 1}: {_inline_code(json.dumps(prompt, ensure_ascii=False))}", ""]
        for strategy in strategies:
            lines += [f"### {strategy.name}", "", _settings_line(strategy.settings), ""]
            completions = strategy.completions[p]
            for i, completion in enumerate(completions):
                if len(completions) > 1:
                    lines += [f"sample {i + 1}:", ""]
                lines += [_fenced(prompt + completion)]
    return "\n".join(lines).rstrip("\n") + "\n"
