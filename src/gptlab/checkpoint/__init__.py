"""Model directories: weights (safetensors), config and tokenizer, loadable anywhere; and
the pretrained directories (gptlab's, Hugging Face's) fine-tuning starts from."""

from gptlab.checkpoint.model_dir import LoadedModel, load_model_dir, save_adapter_dir, save_model_dir

__all__ = ["LoadedModel", "load_model_dir", "save_adapter_dir", "save_model_dir"]
