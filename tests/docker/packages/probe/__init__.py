"""A test model package (BYOC_MODEL_PACKAGE=probe): reports what the process answering a request may do.

Mounted read-only into the image with PYTHONPATH pointing at its parent, like slowmodel.
"""
