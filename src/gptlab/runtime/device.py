"""The torch device of inference-side work (training's is Lightning's): a device named but
not there is one :class:`DeviceUnavailable` line before any model loads, not torch's assertion."""

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
