"""Pick the torch device for inference-side work (evaluate, sample, generate, attention).

Training leaves this to Lightning's ``trainer.accelerator``; the other stages take a
plain device string from their config.
"""

from __future__ import annotations


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
