"""Every prediction takes SLOW_SECONDS (default 3), so a test can stop the server mid-request."""

import os
import time


def predict_fn(input_data, model):
    print("slowmodel: prediction started", flush=True)
    time.sleep(float(os.environ.get("SLOW_SECONDS", "3")))
    return model.predict(input_data)
