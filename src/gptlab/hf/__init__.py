"""Models in and out of gptlab in Hugging Face format (:mod:`gptlab.hf.export`, :mod:`gptlab.hf.import_hf`);
reading and the weight names are :mod:`gptlab.checkpoint`'s. ``transformers`` is never imported."""
