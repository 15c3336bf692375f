"""Draw a model's attention over a text: ``python -m gptlab.attention``.

    python -m gptlab.attention prompt="ROMEO:\\nBut soft"
    python -m gptlab.attention prompt="To be, or not" out=attn.png max_tokens=24 model_dir=PATH

Config: ``conf/attention.yaml`` (the main config plus the top-level keys ``model_dir``
(default ``generate.model_dir``), ``prompt`` (default the sample stage's first
prompt), ``out`` and ``max_tokens`` (default ``sample.attention.*``) and ``device``).
In ``prompt``, ``\\n`` and ``\\t`` stand for a newline and a tab, as in the generation CLI.

The picture (see :mod:`gptlab.reporting.attention_plot`) is a layers x heads grid over
the first ``max_tokens`` tokens of the text (never more than the model's context).
The ``sample`` stage draws the same picture for its first prompt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass
from gptlab.config.sections import plain
from gptlab.errors import ConfigError

log = logging.getLogger("gptlab.attention")


@dataclass(frozen=True)
class AttentionPlotConfig:
    """Where the picture goes and how many tokens it shows (``sample.attention``)."""

    out: str = "reports/plots/attention.png"
    max_tokens: int = 48  # beyond ~60 tokens the tick labels stop being readable

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"attention max_tokens must be an integer >= 1, got {self.max_tokens!r}")


@dataclass(frozen=True)
class AttentionCliConfig:
    model_dir: str
    prompt: str
    out: str = "reports/plots/attention.png"
    max_tokens: int = 48
    device: str = "auto"

    def plot_config(self) -> AttentionPlotConfig:
        return AttentionPlotConfig(out=self.out, max_tokens=self.max_tokens)


def describe_model(loaded: Any) -> str:
    """``char GPT L4 H4 E128 T64, 2000 steps``: enough to tell pictures apart."""
    m = loaded.model.config
    kind = getattr(loaded.tokenizer, "kind", "?")
    steps = (loaded.info.get("training") or {}).get("steps")
    trained = f", {steps} steps" if steps is not None else ""
    return f"{kind} GPT L{m.n_layer} H{m.n_head} E{m.n_embd} T{m.context_size}{trained}"


def attention_picture(loaded: Any, text: str, cfg: AttentionPlotConfig, device: str | None = None) -> Path:
    """Encode ``text``, run ``model.attention_maps`` on its first tokens, write the PNG."""
    import torch

    from gptlab.reporting.attention_plot import plot_attention

    model, tokenizer = loaded.model, loaded.tokenizer
    ids = list(tokenizer.encode(text))  # unencodable text: the tokenizer's own TokenizerError
    if not ids:
        raise ConfigError("the prompt is empty: give some text to draw the attention over")
    limit = min(cfg.max_tokens, int(model.config.context_size))
    if len(ids) > limit:
        log.warning(
            "the text is %d tokens: drawing its first %d (max_tokens=%d, model context %d)",
            len(ids), limit, cfg.max_tokens, model.config.context_size,
        )  # fmt: skip
        ids = ids[:limit]
    if device is None:
        device = str(next(model.parameters()).device)
    maps = model.attention_maps(torch.tensor([ids], dtype=torch.long, device=device))  # (L, 1, H, T, T)
    maps = maps[:, 0].float().cpu().numpy()
    labels = [tokenizer.decode([i]) for i in ids]
    return plot_attention(maps, labels, cfg.out, title=f"attention · {describe_model(loaded)}")


def run(cfg: Any) -> Path:
    from gptlab.checkpoint import load_model_dir
    from gptlab.evaluation import resolve_device
    from gptlab.generate import unescape

    keys = ("model_dir", "prompt", "out", "max_tokens", "device")
    cli = to_dataclass(AttentionCliConfig, {k: plain(cfg[k]) for k in keys if k in cfg}, "attention")
    device = resolve_device(cli.device)
    loaded = load_model_dir(cli.model_dir, device=device)
    out = attention_picture(loaded, unescape(cli.prompt), cli.plot_config(), device)
    log.info("wrote %s", out)
    return out


def main() -> None:
    hydra_entry(run, config_name="attention")


if __name__ == "__main__":
    main()
