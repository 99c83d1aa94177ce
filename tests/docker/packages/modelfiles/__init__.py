"""A test model package (BYOC_MODEL_PACKAGE=modelfiles): a model_fn that reads its own file from
the model folder, as users' model_fn often do (labels, a vocabulary, a config).

Mounted read-only into the image with PYTHONPATH pointing at its parent, like probe.
"""
