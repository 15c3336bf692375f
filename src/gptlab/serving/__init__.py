"""From run to service: the trained model as an MLflow pyfunc model, and its HTTP server.

- :mod:`gptlab.serving.pyfunc_model`: the ``PythonModel`` (prompts in, texts out, params).
- :mod:`gptlab.serving.log_model`: log it to the training run.
- :mod:`gptlab.serving.publish`: the publish stage's routine (log, register, move the champion).
- :mod:`gptlab.serving.server`: MLflow's scoring server (``mlflow models serve``) on it.

Importing this package loads neither MLflow nor torch.
"""
