"""Generate text from a trained model, streamed to the terminal: ``python -m gptlab.generate``.

    python -m gptlab.generate prompt="ROMEO:" decoding=sample temperature=0.8 top_k=40 num_samples=3 seed=1
    python -m gptlab.generate prompt_file=prompt.txt   # any text, no Hydra quoting (docs/generate.md)
    python -m gptlab.generate interactive=true model_dir=path/to/model

Config: ``conf/generate.yaml``, with a top-level shorthand for each key of ``generate:``
(``decoding=beam``); every key, the output and the prompt escapes: ``docs/generate.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gptlab.cli import hydra_entry
from gptlab.config.sections import plain

if TYPE_CHECKING:
    from gptlab.generation.console import GenerateSettings


def settings(cfg: Any) -> GenerateSettings:
    """The ``generate`` section, with the top-level shorthands (conf/generate.yaml) on top."""
    from gptlab.generation.console import SECTION_KEYS, GenerateSettings  # loads torch: not at import

    section = dict(plain(cfg.get("generate")) or {})
    section.update({k: plain(cfg[k]) for k in SECTION_KEYS if k in cfg})
    return GenerateSettings.from_section(section, "generate")


def run(cfg: Any) -> list[list[str]]:
    """Completions per prompt (one prompt unless interactive), as printed."""
    from gptlab.generation.console import run_console

    return run_console(settings(cfg))


def main() -> None:
    hydra_entry(run, config_name="generate")


if __name__ == "__main__":
    main()
