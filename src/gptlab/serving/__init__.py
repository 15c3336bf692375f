"""From run to service: the trained model as an MLflow pyfunc model, published and served
(README, "Registry and serving"). Importing this package loads neither MLflow nor torch."""
