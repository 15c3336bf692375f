"""Which checkpoint a run resumes from, and whether it belongs to this run."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from gptlab.config import PathsConfig
from gptlab.errors import CheckpointError
from gptlab.model import ModelConfig
from gptlab.model.family import DEFAULT_KIND
from gptlab.training.lineage import Lineage

log = logging.getLogger(__name__)


def checkpoint_dir(paths: PathsConfig) -> Path:
    return Path(paths.train_dir) / "checkpoints"


def resolve_resume(resume: str | None, paths: PathsConfig) -> Path | None:
    """``None`` | ``"last"`` | a path -> the checkpoint to resume from, or None."""
    if not resume:
        return None
    if resume == "last":
        last = checkpoint_dir(paths) / "last.ckpt"
        if last.is_file():
            log.info("resuming from %s", last)
            return last
        log.warning("train.resume=last: no checkpoint in %s, starting from scratch", checkpoint_dir(paths))
        return None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {resume}")
    return path


def read_checkpoint(path: Path, model: ModelConfig, lineage: Lineage | None = None) -> dict:
    """Open a Lightning checkpoint of *this run's own directory* (a pickle: only your own
    files; model directories for sharing are safetensors) and check it fits."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means a bad file
        # Not torch's message: it advises weights_only=False, just what not to do here.
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and was not loaded ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a gptlab training checkpoint")
    saved = (ckpt.get("hyper_parameters") or {}).get("model")
    if saved is not None:  # a checkpoint written before model.kind existed is a GPT's
        saved = {"kind": DEFAULT_KIND, **saved}
    if saved is not None and saved != model.to_dict():
        diff = sorted(k for k in set(saved) | set(model.to_dict()) if saved.get(k) != model.to_dict().get(k))
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs config {model.to_dict().get(k)!r}" for k in diff)
        raise CheckpointError(f"checkpoint {path} is from a different model config ({detail})")
    saved_lineage = (ckpt.get("hyper_parameters") or {}).get("lineage") or {}
    now = lineage.to_dict() if lineage is not None else {}
    for key in ("tokenizer_sha256", "corpus_sha256"):
        if now and saved_lineage.get(key) and saved_lineage[key] != now.get(key):
            what = key.split("_")[0]
            raise CheckpointError(
                f"checkpoint {path} was trained on a different {what} ({key} {saved_lineage[key][:12]}… vs "
                f"{now.get(key, '')[:12]}… now): resuming would continue on other data"
            )
    return ckpt
