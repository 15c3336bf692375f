"""Model directories: weights (safetensors), config and tokenizer, loadable anywhere."""

from gptlab.checkpoint.model_dir import LoadedModel, load_model_dir, save_model_dir

__all__ = ["LoadedModel", "load_model_dir", "save_model_dir"]
