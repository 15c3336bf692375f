"""The model directory a fit leaves behind: best weights, config, tokenizer, lineage."""

from __future__ import annotations

from pathlib import Path

import torch

from gptlab.checkpoint import save_model_dir
from gptlab.config import PathsConfig
from gptlab.dataset import DatasetMeta
from gptlab.model import GPT, GPTConfig, build_model
from gptlab.model.family import clean_state_dict
from gptlab.model.lora import LoraConfig
from gptlab.training.lineage import Lineage


def best_weights(
    config: GPTConfig, best_ckpt: str | None, final: torch.nn.Module, lora: LoraConfig | None = None
) -> GPT:
    """A GPT with the best checkpoint's weights (else the final ones); with ``lora``, with
    the adapters as trained (unmerged: :func:`export_model_dir` writes them as asked)."""
    model = build_model(config)  # any kind (gptlab.model.family)
    if lora is not None:
        from gptlab.model.lora import add_lora

        add_lora(model, lora)
    if best_ckpt and Path(best_ckpt).is_file():
        state = torch.load(best_ckpt, map_location="cpu", weights_only=True)["state_dict"]
        state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
        model.load_state_dict(clean_state_dict(state))
    else:
        model.load_state_dict(final.state_dict())
    return model


def export_model_dir(
    model: GPT, paths: PathsConfig, lineage: Lineage, meta: DatasetMeta, report: dict, run_id: str | None,
    lora: LoraConfig | None = None, init_from: str | None = None,
) -> Path:
    """Write ``paths.model_dir``; its config.json names the data, the training and the MLflow run.

    A LoRA run (``lora``) writes the merged weights and ``peft/``, or with ``lora.model_dir=adapter`` the
    adapter alone, whose lineage names the base (``init_from``) beside its sha256.
    """
    extra = {
        "lineage": {
            **lineage.to_dict(),
            "dataset_vocab_size": meta.vocab_size,
            "tokenizer_kind": meta.tokenizer_kind,
            "data": meta.source,  # data.source, path, url: what the registered name follows
        },
        "training": {"steps": report["steps"], "val_loss": report["val_loss"], "best_val_loss": report["best_val_loss"]},
        "mlflow": {"run_id": run_id},
    }
    if lora is not None:
        from gptlab.checkpoint import save_adapter_dir
        from gptlab.model.lora import lora_record, merged_model

        extra["lora"] = lora_record(lora)
        if lora.model_dir == "adapter":
            extra["lineage"]["init_from"] = init_from
            return save_adapter_dir(model, paths.tokenizer_json, paths.model_dir, extra)
        # The merged weights, and the adapter as trained in peft's format (peft/, logged as adapter/).
        return save_model_dir(merged_model(model), paths.tokenizer_json, paths.model_dir, extra, model, init_from)
    return save_model_dir(model, paths.tokenizer_json, paths.model_dir, extra)
