"""Pictures and reports made from training and evaluation results.

Every picture lives here: loss curves (``loss_plot``), the attention grid
(``attention_plot``, drawn for a model by ``attention_picture``), and the ``sample``
stage's report (``samples_md``, written by ``sample_report``).
"""
