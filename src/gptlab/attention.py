"""Draw a model's attention over a text: ``python -m gptlab.attention``.

    python -m gptlab.attention prompt="ROMEO:\\nBut soft"
    python -m gptlab.attention prompt="To be, or not" out=attn.png max_tokens=24 model_dir=PATH

Config: ``conf/attention.yaml``; in ``prompt``, ``\\n`` and ``\\t`` are a newline and a tab.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass
from gptlab.config.sections import plain
from gptlab.reporting.attention_picture import AttentionPlotConfig, draw_model_attention

log = logging.getLogger("gptlab.attention")  # not __name__: that is __main__ under -m

PLOT_KEYS = ("out", "max_tokens")  # the rest: AttentionCliConfig


@dataclass(frozen=True)
class AttentionCliConfig:
    """The CLI's own top-level keys (conf/attention.yaml owns their defaults)."""

    model_dir: str
    prompt: str
    device: str


def run(cfg: Any) -> Path:
    from gptlab.generation.console import unescape

    keys = ("model_dir", "prompt", "device", *PLOT_KEYS)
    values = {k: plain(cfg[k]) for k in keys if k in cfg}
    plot = to_dataclass(AttentionPlotConfig, {k: values.pop(k) for k in PLOT_KEYS if k in values}, "attention")
    cli = to_dataclass(AttentionCliConfig, values, "attention")
    out = draw_model_attention(cli.model_dir, unescape(cli.prompt), plot, cli.device)
    log.info("wrote %s", out)
    return out


def main() -> None:
    hydra_entry(run, config_name="attention")


if __name__ == "__main__":
    main()
