"""A test model package (BYOC_MODEL_PACKAGE=slowmodel): the defaults, but slow predictions.

Mounted read-only into the image with PYTHONPATH pointing at its parent, as a user would
mount their own package while iterating.
"""
