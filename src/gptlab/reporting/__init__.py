"""Pictures and reports made from training and evaluation results."""
