"""Serving hooks. Define any of these to replace the default; leave them out to keep it.

The names and signatures are those of SageMaker's inference toolkit, so an existing
inference.py ports unchanged. Each hook may also take a last `context` argument
(container.inference.RequestContext: headers, custom attributes, request id).

    def model_fn(model_dir): ...                      # load; runs once, before workers fork
    def input_fn(request_body, request_content_type): ...
    def predict_fn(input_data, model): ...
    def output_fn(prediction, accept): ...            # returns bytes, or (bytes, content_type)

The defaults load model.joblib, decode CSV, JSON, JSON Lines and NPY into what the model
takes (a 2-D float array; with categorical features, a 2-D object array of floats and
strings in training's column order: see metadata.json), call predict() (or predict_proba() when the request asks for
probabilities) and encode the result, in the user's own class labels, in the type the
Accept header asks for.
"""
