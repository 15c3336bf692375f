"""Where the work runs: device choice shared by evaluation, sampling and generation."""

from gptlab.runtime.device import resolve_device

__all__ = ["resolve_device"]
