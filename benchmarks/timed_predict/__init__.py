"""A model package (BYOC_MODEL_PACKAGE=benchmarks.timed_predict) that times predict() inside the
worker, so the benchmark can say how much of a request's CPU is scikit-learn's own."""
