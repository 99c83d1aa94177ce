"""model_fn reads labels.json from the model folder; transform_fn answers with what it read, who
read it, and who answers. With {"reopen": true} the worker opens labels.json again itself, as a
hook that reads model files while serving would."""

import json
import os

LABELS = "labels.json"


def model_fn(model_dir):
    with open(os.path.join(model_dir, LABELS)) as stream:
        return {"labels": json.load(stream), "loaded_by": os.geteuid(), "model_dir": model_dir}


def transform_fn(model, body, content_type, accept):
    report = {"labels": model["labels"], "loaded_by": model["loaded_by"], "answered_by": os.geteuid()}
    if json.loads(body).get("reopen"):
        with open(os.path.join(model["model_dir"], LABELS)) as stream:
            report["reopened"] = json.load(stream)
    return json.dumps(report), "application/json"
