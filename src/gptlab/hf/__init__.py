"""Models in and out of gptlab in Hugging Face format.

* export: a gptlab model directory -> a directory ``transformers`` loads with no custom
  code (GPT-2 for learned or sinusoidal positions, GPT-NeoX for rotary), with its tokenizer
  as a Hugging Face fast tokenizer (:mod:`gptlab.hf.export`);
* import: a Hugging Face GPT-2 directory -> gptlab's config and weights, for fine-tuning
  with ``train.init_from`` (:mod:`gptlab.hf.import_hf`).

Writing and reading need safetensors and JSON only; ``transformers`` is never imported.
Nothing is imported here, so a stage that only imports (training) does not depend on the
export's modules.
"""
