"""Shared plumbing for the stage CLIs (``python -m gptlab.<stage>``)."""

from gptlab.cli.app import hydra_entry, user_errors

__all__ = ["hydra_entry", "user_errors"]
