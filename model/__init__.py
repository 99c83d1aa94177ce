"""Your model. This folder is the one place to edit to bring your own model.

- train.py: which estimator `train` builds, and the names the `estimator` hyperparameter
  can take.
- inference.py: optional serving hooks (model_fn, input_fn, predict_fn, output_fn), with
  the names and signatures of SageMaker's inference toolkit.
"""
