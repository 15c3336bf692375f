"""The code file of the logged pyfunc model ("models from code"), which MLflow copies into
the model and runs on load: so the logged model holds no pickle, like the model directory.
"""

import mlflow

from gptlab.serving.pyfunc_model import GptlabTextGenerator

mlflow.models.set_model(GptlabTextGenerator())
