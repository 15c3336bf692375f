"""Every picture and report made from training and evaluation results."""
