"""Stage ``export``: the trained model as a Hugging Face directory.

    python -m gptlab.export                                        # artifacts/model -> artifacts/hf
    python -m gptlab.export export.model_dir=PATH export.out_dir=OUT

Learned or sinusoidal positions export as GPT-2 (``GPT2LMHeadModel``), rotary ones as
GPT-NeoX; the tokenizer as a fast tokenizer. ``transformers`` loads the result with no
custom code (``AutoModelForCausalLM``, ``AutoTokenizer``, ``pipeline("text-generation")``)
and is not needed to write it. The directory is logged to the model's MLflow training
run as ``hf/``. See :mod:`gptlab.hf`.
"""

from __future__ import annotations

from typing import Any

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass


def run(cfg: Any) -> dict:
    from gptlab.hf.config import ExportConfig
    from gptlab.hf.stage import export_model
    from gptlab.tracking import LoggerConfig

    export_cfg = to_dataclass(ExportConfig, cfg.export, "export")
    logger_cfg = to_dataclass(LoggerConfig, cfg.logger, "logger")
    return export_model(export_cfg, logger_cfg)


def main() -> None:
    hydra_entry(run)


if __name__ == "__main__":
    main()
