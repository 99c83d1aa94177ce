"""The inference pipeline: model_fn, input_fn, predict_fn, output_fn, and their defaults.

Hooks come from `<model package>.inference` and keep the names and signatures of SageMaker's
inference toolkit; transform_fn, when defined, replaces the last three. Any hook may take one
more positional argument, the RequestContext. Errors are sorted here into the caller's
fault (RequestError, a 4xx) and the model's (PredictionError, a 500).
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping

import numpy as np

from . import artifacts, codecs, hooks
from .batching import BATCHABLE_ATTRIBUTE, batch_key
from .errors import ByocError, ConfigError, ModelLoadError, PredictionError, RequestError
from .schema import Schema
from .settings import ServingSettings

log = logging.getLogger(__name__)

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
OUTPUTS = ("predictions", "probabilities")
#: Inputs up to this many values get the fast path's finiteness check (benchmarks/fast_path.py):
#: beyond it scikit-learn's check costs about what ours does, and batch transform's large requests
#: gain nothing from skipping it.
FINITE_CHECK_MAX_VALUES = 1 << 16


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
        if _known_finite(input_data):
            with _AssumeFinite():
                return method(input_data)
        return method(input_data)
    except ValueError as exc:  # scikit-learn's word for "this input is not acceptable"
        raise RequestError(f"The model rejected the input: {exc}") from None


def _known_finite(data: Any) -> bool:
    """A float array without NaN or infinity: scikit-learn's own finiteness check would find nothing.

    The decoders refuse infinities but keep NaN for a missing value (CSV's empty field, JSON's
    null, an NPY's NaN; models trained with missing values take it), so it is looked for here.
    A sum is finite only if every value is (NaN and infinity propagate; a sum that overflows
    says no, which only keeps scikit-learn's check), and costs less than np.isfinite(...).all().
    Anything that is not a float ndarray (a custom input_fn's, rows of objects) keeps the check.
    """
    return (type(data) is np.ndarray and data.dtype.kind == "f" and data.size < FINITE_CHECK_MAX_VALUES
            and math.isfinite(data.sum()))


class _AssumeFinite:
    """scikit-learn's assume_finite for one call (benchmarks/fast_path.py measures what it saves).

    set_config and get_config, not config_context: the same public switch, thread-local in the same
    way, in 2 us rather than 10-16 us (config_context copies and resets every setting).
    """

    def __enter__(self) -> None:
        from sklearn import get_config, set_config  # here: importing container.inference need not load sklearn

        self.before = get_config()["assume_finite"]
        set_config(assume_finite=True)

    def __exit__(self, *exc: object) -> None:
        from sklearn import set_config

        set_config(assume_finite=self.before)


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

    @property
    def batchable(self) -> bool:
        """Whether requests may share a predict_fn call: the default predict_fn, or one that says
        it can (``predict_fn.batchable = True``, docs/hooks.md); never with transform_fn."""
        if self.transform_fn is not None:
            return False
        return self.predict_fn.fn is default_predict_fn or getattr(self.predict_fn.fn, BATCHABLE_ATTRIBUTE, False) is True

    def batch_key(self, data: Any, context: RequestContext) -> Hashable | None:
        """What a request's decoded input must share with others to be predicted in one call
        (container.batching.batch_key); None: predicted alone."""
        if not self.batchable:
            return None
        custom = self.predict_fn.fn is not default_predict_fn
        return batch_key(data, context.output, context.custom_attributes if custom else None)

    def sample_input(self) -> np.ndarray | None:
        """One row the model takes (zeros, and each categorical feature's first category), to time
        predict_fn at start-up; None when the model's width is unknown."""
        schema = self.schema
        width = schema.n_features if schema is not None else getattr(self.model, "n_features_in_", None)
        if not isinstance(width, (int, np.integer)) or width < 1:
            return None
        if schema is None or not schema.categorical:
            return np.zeros((1, int(width)))
        row = np.zeros((1, int(width)), dtype=object)
        row[:] = 0.0
        for position in schema.categorical:
            categories = schema.features[position].categories
            row[0, position] = categories[0] if categories else ""
        return row

    def timed_predict(self) -> Callable[[], Any] | None:
        """A one-row prediction, for container.batching.choose_max_rows; None if not batchable."""
        data = self.sample_input()
        if not self.batchable or data is None:
            return None
        context = RequestContext(request_id="start-up", content_type=None, accept=codecs.JSON, schema=self.schema)
        return lambda: self.predict(data, context)

    def invoke(self, body: bytes, context: RequestContext) -> tuple[bytes, str]:
        """Answer one request alone: (response body, response content type)."""
        if self.transform_fn is not None:
            return self.transform(body, context)
        return self.encode(self.predict(self.decode(body, context), context), context)

    # The steps of invoke(), which container.app calls one by one so that predict() can be batched.

    def transform(self, body: bytes, context: RequestContext) -> tuple[bytes, str]:
        """transform_fn, which does all three steps."""
        assert self.transform_fn is not None
        if context.schema is None:
            context.schema = self.schema
        result = self._call(self.transform_fn, self.model, body, context.content_type,
                            context.accept, context=context, stage="transform_fn")
        return _as_response(result, context.accept)

    def decode(self, body: bytes, context: RequestContext) -> Any:
        if context.schema is None:
            context.schema = self.schema
        return self._call(self.input_fn, body, context.content_type, context=context, stage="input_fn")

    def predict(self, data: Any, context: RequestContext) -> Any:
        """predict_fn on one request's input, or on several requests' rows (container.batching)."""
        return self._call(self.predict_fn, data, self.model, context=context, stage="predict_fn")

    def encode(self, prediction: Any, context: RequestContext) -> tuple[bytes, str]:
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
