"""gptlab: train GPT-style transformers from raw text as a reproducible pipeline.

Importing the package is cheap: submodules (torch, tokenizers, lightning) load only
when used.
"""

__version__ = "0.1.0"
