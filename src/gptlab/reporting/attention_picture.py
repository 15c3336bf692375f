"""A model's attention over a text's first tokens, as the picture ``python -m gptlab.attention``
and the ``sample`` stage draw."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gptlab.errors import ConfigError

if TYPE_CHECKING:  # the checkpoint code loads torch: only when a picture is drawn
    from gptlab.checkpoint import LoadedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttentionPlotConfig:
    """Where the picture goes and how many tokens it shows (``sample.attention``; defaults in conf/sample/)."""

    out: str
    max_tokens: int  # beyond ~60 tokens the tick labels stop being readable

    def __post_init__(self) -> None:
        if self.max_tokens < 1:  # its type is OmegaConf's to check
            raise ConfigError(f"attention max_tokens must be an integer >= 1, got {self.max_tokens!r}")


def describe_model(loaded: LoadedModel) -> str:
    """``char GPT L4 H4 E128 T64, 2000 steps``: enough to tell pictures apart."""
    m = loaded.model.config
    kind = getattr(loaded.tokenizer, "kind", "?")
    steps = (loaded.info.get("training") or {}).get("steps")
    trained = f", {steps} steps" if steps is not None else ""
    if m.kind != "gpt":
        return f"{kind} {m.kind.upper()} {m.describe()}{trained}"
    return f"{kind} GPT L{m.n_layer} H{m.n_head} E{m.n_embd} T{m.context_size}{trained}"


def attention_picture(loaded: LoadedModel, text: str, cfg: AttentionPlotConfig, device: str | None = None) -> Path:
    """Encode ``text``, run ``model.attention_maps`` on its first tokens, write the PNG."""
    import torch

    from gptlab.model import require
    from gptlab.reporting.attention_plot import plot_attention

    model, tokenizer = loaded.model, loaded.tokenizer
    require(model.config, "attention_maps", "cannot draw the attention picture")
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


def sample_stage_picture(loaded: LoadedModel, text: str, cfg: AttentionPlotConfig, device: str | None = None) -> Path:
    """The ``sample`` stage's picture: the attention over ``text``, or for a model with none
    a picture saying so (DVC declares the file)."""
    from gptlab.model import supports

    if supports(loaded.model.config, "attention_maps"):
        return attention_picture(loaded, text, cfg, device)
    from gptlab.reporting.figure import pyplot, save_png

    plt = pyplot()
    fig = plt.figure(figsize=(6, 1.6))
    fig.text(0.5, 0.5, f"{describe_model(loaded)}\nhas no attention to draw: its memory is a hidden state",
             ha="center", va="center", fontsize=10)  # fmt: skip
    return save_png(fig, cfg.out)


def draw_model_attention(model_dir: str, text: str, cfg: AttentionPlotConfig, device: str = "auto") -> Path:
    """Load the model directory on ``device`` (``auto``: CUDA when available) and draw ``text``."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.runtime import resolve_device

    device = resolve_device(device)
    return attention_picture(load_model_dir(model_dir, device=device), text, cfg, device)
