"""gptlab: train GPT-style transformers from raw text as a reproducible pipeline (importing
it is cheap: torch, tokenizers and lightning load only when used)."""

__version__ = "0.1.0"
