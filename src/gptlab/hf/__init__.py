"""Models in and out of gptlab in Hugging Face format.

* export: a gptlab model directory -> a directory ``transformers`` loads with no custom
  code (GPT-2 for learned or sinusoidal positions, GPT-NeoX for rotary), with its tokenizer
  as a Hugging Face fast tokenizer (:mod:`gptlab.hf.export`);
* import: a Hugging Face GPT-2 directory -> a gptlab model directory
  (:mod:`gptlab.hf.import_hf`). Reading one, for ``train.init_from`` too, and the weight
  names of both directions are :mod:`gptlab.checkpoint`'s (``pretrained``, ``hf_gpt2``,
  ``hf_neox``), below this package.

Writing and reading need safetensors and JSON only; ``transformers`` is never imported.
"""
