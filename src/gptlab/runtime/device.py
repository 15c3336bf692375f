"""Pick the torch device for inference-side work (evaluate, sample, generate, attention).

Training leaves this to Lightning's ``trainer.accelerator``; the other stages take a
plain device string from their config. A device that is named but not there (``cuda``
on a machine without a GPU or without a CUDA build of torch, ``cuda:3`` with two GPUs,
``mps`` off Apple silicon) is a one-line :class:`DeviceUnavailable` here, before any
model is loaded, instead of torch's assertion deep inside the first ``.to(device)``.
"""

from __future__ import annotations

from gptlab.errors import DeviceUnavailable


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else as given, once
    checked to be available."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise DeviceUnavailable(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
    check_available(dev, device)
    return device


def check_available(dev, name: str) -> None:
    import torch

    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise DeviceUnavailable(f"device {name!r} is not available: {why}; use device=cpu (or auto)")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceUnavailable(
                f"device {name!r} is not available: this machine has {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceUnavailable(f"device {name!r} is not available (no Apple MPS backend here); use device=cpu")
