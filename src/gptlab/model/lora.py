"""LoRA adapters on a plain model, through Hugging Face ``peft`` (``train.lora``), injected in
place so that training, generation and checkpoints still see a GPT; peft is imported only when used."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

from gptlab.errors import CheckpointError, ConfigError

ADAPTER_NAME = "default"  # peft's name for a model's single adapter

LORA_MODEL_DIRS = ("merged", "adapter")


@dataclass(frozen=True)
class LoraConfig:
    """``train.lora``: LoRA adapters through Hugging Face peft (see gptlab.model.lora)."""

    r: int | None  # the adapters' rank; None: LoRA off, every weight trains
    alpha: float  # the update is scaled by alpha / r
    dropout: float  # on the adapters' input only
    # The nn.Linear modules to adapt, by the end of their names: qkv, out_proj, up_proj, down_proj.
    target_modules: tuple[str, ...]
    model_dir: str  # merged: a plain model directory | adapter: the adapter and its base's path + sha256
    init_adapter: str | None  # a peft adapter directory made on init_from's Hugging Face model: start from it

    @property
    def enabled(self) -> bool:
        return self.r is not None

    def initial_adapter(self, config: Any) -> dict:
        """``init_adapter``'s weights: files are the training layer's (TrainConfig makes it a LoraFromAdapter)."""
        raise ConfigError(f"train.lora.init_adapter={self.init_adapter} is read only when training")

    def __post_init__(self) -> None:
        if self.r is not None and self.r < 1:  # its type is OmegaConf's check
            raise ConfigError(f"train.lora.r must be null (off) or an integer >= 1, got {self.r!r}")
        if not self.alpha > 0:
            raise ConfigError(f"train.lora.alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"train.lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ConfigError(
                f"train.lora.target_modules must be a non-empty list of names, got {self.target_modules!r}"
            )
        if self.model_dir not in LORA_MODEL_DIRS:
            raise ConfigError(
                f"train.lora.model_dir must be one of {', '.join(LORA_MODEL_DIRS)}, got {self.model_dir!r}"
            )
        if self.init_adapter and self.r is None:
            raise ConfigError(f"train.lora.init_adapter={self.init_adapter} needs train.lora.r (the adapter's r)")


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise ConfigError(
            "train.lora.r is set, but Hugging Face peft is not installed: pip install -e '.[lora]'"
        ) from None
    return peft


def add_lora(model: Any, lora: LoraConfig) -> Any:
    """Inject peft's LoRA layers into ``model`` (a GPT) in place (from ``init_adapter``'s weights, if set)."""
    peft = _peft()
    config = peft.LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules), bias="none",
    )  # fmt: skip
    try:
        peft.inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    except ValueError as exc:
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if type(m).__name__ == "Linear"})
        reason = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"train.lora.target_modules={list(lora.target_modules)} cannot be adapted ({reason}); "
            f"this model's linear layers: {', '.join(linear)}"
        ) from None
    if lora.init_adapter:
        load_adapter_state(model, lora.initial_adapter(model.config), lora.init_adapter)
    return model


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
    """A plain GPT of ``model``'s weights with the adapters merged in (on a copy)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    work = copy.deepcopy(model)
    for module in work.modules():
        if isinstance(module, BaseTunerLayer):
            module.merge(safe_merge=True)
    state = {k.replace(".base_layer.", "."): v for k, v in work.state_dict().items() if ".lora_" not in k}
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
    """The ``lora`` section of a model directory's config.json: what trains (not where it started)."""
    record = asdict(lora)
    del record["init_adapter"]
    record["target_modules"] = list(lora.target_modules)
    return record
