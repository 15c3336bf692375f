"""LoRA fine-tuning (``train.lora.r``) through Hugging Face ``peft``.

peft injects its LoRA layers into gptlab's own :class:`gptlab.model.GPT` in place
(``inject_adapter_in_model``): each targeted ``nn.Linear`` becomes peft's ``lora.Linear``,
holding the frozen layer as ``base_layer`` and the trainable ``lora_A`` / ``lora_B``
matrices beside it; everything else is frozen. The model keeps its class, so the Lightning
module, the generation code and the checkpoints see a GPT (Hugging Face GPT-2 and
GPT-NeoX models are imported as a GPT, so they are adapted the same way). peft starts
``lora_B`` at zero, so before the first step the adapted model is the base model.

A LoRA run's Lightning checkpoint holds the whole adapted state (frozen base included) and
the optimizer state of the adapters alone, so resuming is as exact as without LoRA. Its
model directory (``train.lora.model_dir``) holds either the merged weights, a plain model
directory, or the adapter alone (``adapter.safetensors``), whose ``config.json`` names the
base model (``lineage.init_from``, ``lineage.init_sha256``): loading it loads that base,
refuses it if its weights changed, and merges.

peft is imported only here and only when ``train.lora.r`` is set.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gptlab.errors import CheckpointError, ConfigError
from gptlab.training.config import LoraConfig

ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_NAME = "default"  # peft's name for a model's single adapter


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise ConfigError(
            "train.lora.r is set, but Hugging Face peft is not installed: pip install -e '.[lora]'"
        ) from None
    return peft


def check_lora_settings(lora: LoraConfig, init_from: str | None) -> None:
    """LoRA adapts a pretrained model; the adapter directory needs one to point at."""
    if lora.enabled and not init_from:
        raise ConfigError(
            f"train.lora.r={lora.r} needs train.init_from=PATH (LoRA adapts a pretrained model); "
            "from scratch, train every weight (train.lora.r=null)"
        )


def add_lora(model: Any, lora: LoraConfig) -> Any:
    """Inject peft's LoRA layers into ``model`` (a GPT) in place; only they train after."""
    peft = _peft()
    config = peft.LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules), bias="none",
    )  # fmt: skip
    try:
        return peft.inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    except ValueError as exc:
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if type(m).__name__ == "Linear"})
        reason = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"train.lora.target_modules={list(lora.target_modules)} cannot be adapted ({reason}); "
            f"this model's linear layers: {', '.join(linear)}"
        ) from None


def has_lora(model: Any) -> bool:
    """Whether peft injected adapters into ``model`` (it leaves a ``peft_config`` on it)."""
    return hasattr(model, "peft_config")


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters; a tied tensor counts once."""
    params = list(model.parameters())  # each tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def lora_summary(model: Any, lora: LoraConfig) -> str:
    """The log line of a LoRA run: what is adapted and how much of the model trains."""
    trainable, total = parameter_counts(model)
    return (
        f"LoRA r={lora.r} alpha={lora.alpha:g} on {', '.join(lora.target_modules)}: {trainable:,} of {total:,} "
        f"parameters train ({100 * trainable / total:.2f}%)"
    )


def merged_model(model: Any) -> Any:
    """A plain GPT whose weights are ``model``'s base weights with the adapters merged in
    (peft's own merge, on a copy: ``model`` keeps training unmerged)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    work = copy.deepcopy(model)
    for module in work.modules():
        if isinstance(module, BaseTunerLayer):
            module.merge(safe_merge=True)
    state = {}
    for key, value in work.state_dict().items():
        if ".lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value
    plain = type(model)(model.config)
    plain.load_state_dict(state)
    return plain.train(model.training)


def adapter_state(model: Any) -> dict:
    """The adapters' weights under peft's names (no adapter name in them), on the CPU."""
    peft = _peft()
    state = peft.get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME)
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def load_adapter_state(model: Any, state: dict, where: str) -> None:
    """Put saved adapter weights into an adapted model; every adapter weight must be there."""
    peft = _peft()
    expected = set(peft.get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME))
    if set(state) != expected:
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        raise CheckpointError(f"{where} does not fit its config: missing {missing[:3]}, unexpected {unexpected[:3]}")
    peft.set_peft_model_state_dict(model, state, adapter_name=ADAPTER_NAME)


def lora_record(lora: LoraConfig) -> dict:
    """The ``lora`` section of a model directory's config.json."""
    record = asdict(lora)
    record["target_modules"] = list(lora.target_modules)
    return record


def check_resume(ckpt: dict, lora: LoraConfig, path: Path) -> None:
    """A checkpoint resumes only with the LoRA settings it was trained with."""
    saved = (ckpt.get("hyper_parameters") or {}).get("lora")
    now = lora_record(lora) if lora.enabled else None
    if saved is not None:
        saved = {k: v for k, v in saved.items() if k != "model_dir"}  # where it is written, not what trains
    if now is not None:
        now = {k: v for k, v in now.items() if k != "model_dir"}
    if saved != now:
        raise CheckpointError(
            f"checkpoint {path} was trained with LoRA {saved or 'off'}, the config says {now or 'off'}: "
            "resume with the same train.lora settings"
        )


def save_adapter_dir(model: Any, tokenizer_path: str | Path, out_dir: str | Path, extra: dict) -> Path:
    """Write the adapter alone: ``adapter.safetensors``, ``config.json`` (model config,
    ``lora``, lineage with the base's path and sha256) and the tokenizer."""
    import shutil

    from safetensors.torch import save_file

    from gptlab.checkpoint.model_dir import CONFIG, FORMAT_VERSION, TOKENIZER
    from gptlab.io import atomic_path, sha256_file

    out_dir = Path(out_dir)
    info = {"format_version": FORMAT_VERSION, "model": model.config.to_dict(), **extra}
    info.setdefault("lineage", {})["tokenizer_sha256"] = sha256_file(tokenizer_path)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        save_file(adapter_state(model), str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt", "gptlab": "lora"})
        (tmp / CONFIG).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        shutil.copyfile(tokenizer_path, tmp / TOKENIZER)
    return out_dir


def load_adapter_model(path: Path, info: dict) -> Any:
    """The merged plain GPT of an adapter directory: its base, checked by sha256, plus the adapter."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gptlab.config import to_dataclass
    from gptlab.hf.import_hf import load_pretrained_state, load_weights, read_pretrained
    from gptlab.io import sha256_file
    from gptlab.model import GPT, GPTConfig

    lineage = info.get("lineage") or {}
    base, digest = lineage.get("init_from"), lineage.get("init_sha256")
    if not base or not digest:
        raise CheckpointError(
            f"{path} holds a LoRA adapter but its config.json names no base model (lineage.init_from)"
        )
    pretrained = read_pretrained(base)
    if sha256_file(pretrained.weights) != digest:
        raise CheckpointError(
            f"{path} is a LoRA adapter for {base} (sha256 {digest[:12]}…), but {pretrained.weights} is not those "
            "weights (its sha256 differs): load it with the base it was trained on"
        )
    config = GPTConfig.from_dict(info["model"])
    theirs = {**pretrained.config.to_dict(), "dropout": config.dropout}
    if theirs != config.to_dict():
        raise CheckpointError(f"{path} is a LoRA adapter for another model config than {base}'s")
    model = GPT(config)
    load_weights(model, load_pretrained_state(pretrained), pretrained.weights)
    add_lora(model, to_dataclass(LoraConfig, info["lora"], f"{path / 'config.json'}: lora"))
    weights = path / ADAPTER_WEIGHTS
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is missing or not a valid safetensors file ({exc})") from None
    load_adapter_state(model, state, str(weights))
    return merged_model(model)
