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
from gptlab.config.sections import tool_settings
from gptlab.reporting.attention_picture import AttentionPlotConfig, draw_model_attention

log = logging.getLogger("gptlab.attention")  # not __name__: that is __main__ under -m


@dataclass(frozen=True)
class AttentionCliConfig:
    """The CLI's own top-level keys, beside AttentionPlotConfig's (conf/attention.yaml owns their defaults)."""

    model_dir: str
    prompt: str
    device: str


def run(cfg: Any) -> Path:
    from gptlab.generation.console import unescape

    plot = tool_settings(AttentionPlotConfig, cfg, "attention")
    cli = tool_settings(AttentionCliConfig, cfg, "attention")
    out = draw_model_attention(cli.model_dir, unescape(cli.prompt), plot, cli.device)
    log.info("wrote %s", out)
    return out


def main() -> None:
    hydra_entry(run, config_name="attention")


if __name__ == "__main__":
    main()
