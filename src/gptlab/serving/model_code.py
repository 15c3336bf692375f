"""The code file of the logged pyfunc model ("models from code"): MLflow copies it into
the model and runs it when the model is loaded. gptlab itself imports it only to hand
its path to MLflow (:func:`gptlab.serving.log_model.log_pyfunc_model`).

Logging from code rather than from a pickled object keeps the logged model free of
pickles, like the model directory it wraps (``model.safetensors``, JSON).
"""

import mlflow

from gptlab.serving.pyfunc_model import GptlabTextGenerator

mlflow.models.set_model(GptlabTextGenerator())
