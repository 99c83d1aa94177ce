"""The inference pipeline: model_fn, input_fn, predict_fn, output_fn, and their defaults.

Hooks come from `<model package>.inference` and keep the names and signatures of SageMaker's
inference toolkit; transform_fn, when defined, replaces the last three. Any hook may take one
more positional argument, the RequestContext. Errors are sorted here into the caller's
fault (RequestError, a 4xx) and the model's (PredictionError, a 500).
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import artifacts, codecs, hooks
from .errors import ByocError, ConfigError, ModelLoadError, PredictionError, RequestError
from .schema import Schema
from .settings import ServingSettings

log = logging.getLogger(__name__)

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
OUTPUTS = ("predictions", "probabilities")


@dataclass
class RequestContext:
    """What a hook may want to know about the request being answered."""

    request_id: str
    content_type: str | None
    accept: str
    headers: Mapping[str, str] = field(default_factory=dict)
    custom_attributes: dict[str, str] = field(default_factory=dict)
    output: str = "predictions"
    #: Set by the default predict_fn with probabilities: the column order.
    classes: list[Any] | None = None
    #: The model's features as training saw them (metadata.json); set by the pipeline.
    schema: Schema | None = None
    #: Set by the default input_fn: the CSV request started with a header line.
    csv_header: bool = False


def parse_custom_attributes(header: str | None) -> dict[str, str]:
    """`output=probabilities, trace=1` (commas or semicolons) as a dict."""
    found: dict[str, str] = {}
    for item in re.split(r"[;,]", header or ""):
        key, sep, value = item.partition("=")
        if key.strip():
            found[key.strip().lower()] = value.strip() if sep else ""
    return found


def choose_output(attributes: Mapping[str, str], default: str) -> str:
    value = attributes.get("output", default).strip().lower()
    if value in ("proba", "predict_proba", "probability"):
        value = "probabilities"
    if value not in OUTPUTS:
        raise RequestError(
            f"Custom attribute output={value!r} is not one of {list(OUTPUTS)}."
        )
    return value


# -- defaults ---------------------------------------------------------------------------


def default_model_fn(model_dir: str) -> Any:
    return artifacts.load_estimator(Path(model_dir))


def default_input_fn(request_body: bytes, request_content_type: str | None,
                     context: RequestContext | None = None) -> Any:
    """The body as the model's input: a float64 array, or rows of objects (floats and
    strings) when the model has categorical features (codecs.decode; metadata.json's schema)."""
    data, header = codecs.decode_request(request_body, request_content_type, context.schema if context else None)
    if context is not None:
        context.csv_header = header is not None
    return data


def default_predict_fn(input_data: Any, model: Any, context: RequestContext | None = None) -> Any:
    expected = getattr(model, "n_features_in_", None)
    shape = getattr(input_data, "shape", None)
    if expected is not None and shape is not None and len(shape) == 2 and shape[1] != expected:
        raise RequestError(
            f"Each record has {shape[1]} values, but the model takes {expected} features.",
            hint="Send the features only, in training's column order, without the label.",
        )
    wants_probabilities = context is not None and context.output == "probabilities"
    method = model.predict
    if wants_probabilities:
        if not hasattr(model, "predict_proba"):
            raise RequestError(
                f"output=probabilities was asked for, but {type(model).__name__} has no predict_proba()."
            )
        method = model.predict_proba
        classes = getattr(model, "classes_", None)
        context.classes = None if classes is None else np.asarray(classes).tolist()
    try:
        return method(input_data)
    except ValueError as exc:  # scikit-learn's word for "this input is not acceptable"
        raise RequestError(f"The model rejected the input: {exc}") from None


def default_output_fn(prediction: Any, accept: str, context: RequestContext | None = None) -> bytes:
    """The predictions in `accept`; a CSV request's header gets a header back (the label's
    name, or the classes for probabilities), so every line sent has its line answered."""
    if context is None:
        return codecs.encode(prediction, accept)
    header = None
    if context.csv_header and context.schema is not None:
        header = context.classes if context.classes is not None else [context.schema.label]
    return codecs.encode(prediction, accept, context.classes, header=header)


# -- the pipeline -------------------------------------------------------------------------


class Hook:
    """A user or default function, called with the context only when it takes one."""

    def __init__(self, fn: Callable[..., Any], arity: int) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", "hook")
        self.takes_context = _accepts(fn, arity + 1)

    def __call__(self, *args: Any, context: RequestContext) -> Any:
        return self.fn(*args, context) if self.takes_context else self.fn(*args)


class InferencePipeline:
    """The loaded model and the hooks that answer /invocations."""

    def __init__(self, model_dir: Path, settings: ServingSettings) -> None:
        module = hooks.import_optional("inference")
        get = lambda name: getattr(module, name, None) if module else None  # noqa: E731
        self.custom = sorted(
            n for n in ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn") if get(n)
        )
        self.settings = settings
        self.model_dir = model_dir
        self.input_fn = Hook(get("input_fn") or default_input_fn, 2)
        self.predict_fn = Hook(get("predict_fn") or default_predict_fn, 2)
        self.output_fn = Hook(get("output_fn") or default_output_fn, 2)
        transform = get("transform_fn")
        self.transform_fn = Hook(transform, 4) if transform else None
        #: The user's code encodes responses, so any Accept type may be theirs to answer.
        self.custom_output = bool(transform or get("output_fn"))
        default_accept = codecs.media_type(settings.default_accept)
        if default_accept and default_accept not in codecs.ENCODABLE and not self.custom_output:
            raise ConfigError(
                f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={settings.default_accept!r} is not a type "
                f"this server encodes ({', '.join(codecs.ENCODABLE)}), and the model package "
                "has no output_fn to encode it."
            )
        self.metadata = artifacts.load_metadata(model_dir)
        # Before the model is loaded: its files are the ones training wrote, for these libraries.
        artifacts.verify_files(model_dir, self.metadata)
        artifacts.check_versions(self.metadata)
        self.schema = Schema.from_metadata(self.metadata)
        model_fn = get("model_fn") or default_model_fn
        try:
            self.model = model_fn(str(model_dir))
        except ByocError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"{getattr(model_fn, '__name__', 'model_fn')}({model_dir}) failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if self.model is None and not get("model_fn"):
            raise ModelLoadError(f"No model was loaded from {model_dir}.")

    def invoke(self, body: bytes, context: RequestContext) -> tuple[bytes, str]:
        """Answer one request: (response body, response content type)."""
        if context.schema is None:
            context.schema = self.schema
        if self.transform_fn is not None:
            result = self._call(self.transform_fn, self.model, body, context.content_type,
                                context.accept, context=context, stage="transform_fn")
            return _as_response(result, context.accept)
        data = self._call(self.input_fn, body, context.content_type, context=context, stage="input_fn")
        prediction = self._call(self.predict_fn, data, self.model, context=context, stage="predict_fn")
        result = self._call(self.output_fn, prediction, context.accept, context=context, stage="output_fn")
        return _as_response(result, context.accept)

    def _call(self, hook: Hook, *args: Any, context: RequestContext, stage: str) -> Any:
        try:
            return hook(*args, context=context)
        except ByocError:
            raise
        except Exception as exc:
            if stage == "input_fn":  # the user's decoder refused the payload: a 400, whose log line
                # (container.app) has no traceback, so this is where the user's own one is kept
                log.warning("[%s] input_fn raised:", context.request_id, exc_info=True)
                raise RequestError(f"input_fn could not decode the request: {type(exc).__name__}: {exc}") from exc
            raise PredictionError(f"{stage} failed: {type(exc).__name__}: {exc}") from exc


def _as_response(result: Any, accept: str) -> tuple[bytes, str]:
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    if isinstance(result, str):
        result = result.encode()
    if not isinstance(result, (bytes, bytearray, memoryview)):
        raise PredictionError(
            f"output_fn returned {type(result).__name__}; it must return bytes or str "
            "(or a (body, content_type) pair)."
        )
    return bytes(result), content_type


def _accepts(fn: Callable[..., Any], count: int) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return True
    return len(positional) >= count
