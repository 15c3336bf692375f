"""From run to service: the trained model as an MLflow pyfunc model, and its HTTP server.

- :mod:`gptlab.serving.pyfunc_model`: the ``PythonModel`` (prompts in, texts out, params).
- :mod:`gptlab.serving.log_model`: log it to the training run, register a version.
- :mod:`gptlab.serving.server`: MLflow's scoring server (``mlflow models serve``) on it.

Importing this package loads neither MLflow nor torch.
"""
