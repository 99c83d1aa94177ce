"""The inference pipeline's pure parts: custom attributes, hook signatures, default hooks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from container import inference
from container.errors import PredictionError, RequestError


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("output=probabilities", {"output": "probabilities"}),
        ("Output = Probabilities ; trace=1", {"output": "Probabilities", "trace": "1"}),
        ("a=1,b=2;c", {"a": "1", "b": "2", "c": ""}),
        ("c000b4f9-df62-4c85-a0bf-7c525f9104a4", {"c000b4f9-df62-4c85-a0bf-7c525f9104a4": ""}),
        ("", {}),
        (None, {}),
    ],
)
def test_parse_custom_attributes(header: str | None, expected: dict) -> None:
    assert inference.parse_custom_attributes(header) == expected


@pytest.mark.parametrize(
    ("attributes", "default", "expected"),
    [
        ({}, "predictions", "predictions"),
        ({}, "probabilities", "probabilities"),
        ({"output": "Probabilities"}, "predictions", "probabilities"),
        ({"output": "proba"}, "predictions", "probabilities"),
        ({"output": "predict_proba"}, "predictions", "probabilities"),
        ({"output": "predictions"}, "probabilities", "predictions"),
    ],
)
def test_choose_output(attributes: dict, default: str, expected: str) -> None:
    assert inference.choose_output(attributes, default) == expected


def test_choose_output_refuses_unknown_values() -> None:
    with pytest.raises(RequestError, match="logits"):
        inference.choose_output({"output": "logits"}, "predictions")


def context(output: str = "predictions") -> inference.RequestContext:
    return inference.RequestContext(request_id="r1", content_type="text/csv", accept="text/csv", output=output)


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    return LogisticRegression().fit(X, ["no", "yes", "no", "yes"])


def test_default_predict_fn_labels_and_probabilities(classifier) -> None:
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert inference.default_predict_fn(X, classifier).tolist() == ["no", "yes"]
    ctx = context("probabilities")
    probabilities = inference.default_predict_fn(X, classifier, ctx)
    assert probabilities.shape == (2, 2)
    assert ctx.classes == ["no", "yes"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)


def test_default_predict_fn_says_how_many_features_the_model_takes(classifier) -> None:
    with pytest.raises(RequestError) as info:
        inference.default_predict_fn(np.zeros((1, 3)), classifier, context())
    assert "3 values, but the model takes 2 features" in str(info.value)
    assert "without the label" in str(info.value)


def test_probabilities_from_a_regressor_are_a_request_error() -> None:
    regressor = LinearRegression().fit(np.array([[0.0], [1.0]]), [0.0, 1.0])
    with pytest.raises(RequestError, match="LinearRegression has no predict_proba"):
        inference.default_predict_fn(np.array([[0.5]]), regressor, context("probabilities"))


def test_sklearn_value_errors_are_request_errors(classifier) -> None:
    with pytest.raises(RequestError, match="The model rejected the input"):
        inference.default_predict_fn(np.array([[np.nan, 1.0]]), classifier, context())


def test_hook_passes_the_context_only_to_hooks_that_take_it() -> None:
    ctx = context()
    with_context = inference.Hook(lambda data, model, context: (data, model, context), 2)
    without = inference.Hook(lambda data, model: (data, model), 2)
    variadic = inference.Hook(lambda *args: args, 2)
    defaulted = inference.Hook(lambda data, model, context=None: context, 2)
    assert with_context.takes_context and with_context(1, 2, context=ctx) == (1, 2, ctx)
    assert not without.takes_context and without(1, 2, context=ctx) == (1, 2)
    assert variadic(1, 2, context=ctx) == (1, 2, ctx)
    assert defaulted(1, 2, context=ctx) is ctx


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (b"abc", (b"abc", "text/csv")),
        ("abc", (b"abc", "text/csv")),
        (bytearray(b"x"), (b"x", "text/csv")),
        ((b"{}", "application/vnd.x+json"), (b"{}", "application/vnd.x+json")),
        (("text", "text/plain"), (b"text", "text/plain")),
    ],
)
def test_output_fn_results(result, expected) -> None:
    assert inference._as_response(result, "text/csv") == expected


def test_output_fn_returning_an_array_is_a_prediction_error() -> None:
    with pytest.raises(PredictionError, match="must return bytes or str"):
        inference._as_response(np.array([1, 2]), "text/csv")


# -- the fast path: assume_finite only where scikit-learn's own check would find nothing -------


class ConfigSpy:
    """A model that records scikit-learn's assume_finite at each predict."""

    n_features_in_ = 2

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        import sklearn

        self.seen.append(sklearn.get_config()["assume_finite"])
        return np.zeros(len(X))


def npy(array: np.ndarray, fortran: bool = False) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(array) if fortran else array)
    return buffer.getvalue()


@pytest.mark.parametrize(("body", "content_type", "finite"), [
    (b"1,2\n3,4\n", "text/csv", True),
    (b"[[1, 2], [3, 4]]", "application/json", True),
    (b"[1, 2]\n[3, 4]\n", "application/jsonlines", True),
    (npy(np.array([[1.0, 2.0], [3.0, 4.0]])), "application/x-npy", True),
    (npy(np.array([[1.0, 2.0], [3.0, 4.0]]), fortran=True), "application/x-npy", True),
    (npy(np.array([[1, 2]], dtype=np.int32)), "application/x-npy", True),
    # Missing values reach the model as NaN: scikit-learn must still look for them.
    (b"1,\n3,4\n", "text/csv", False),
    (b"[[1, null]]", "application/json", False),
    (b"[null, 2]\n", "application/jsonlines", False),
    (npy(np.array([[1.0, np.nan]])), "application/x-npy", False),
])
def test_every_decoder_path_gets_assume_finite_only_without_nan(body: bytes, content_type: str,
                                                                finite: bool) -> None:
    from container import codecs
    from container.schema import Schema

    data = codecs.decode(body, content_type, Schema.numeric(2))  # a trained model's schema: missing values read
    assert data.dtype == np.float64 and data.shape[1] == 2  # what the default predict_fn is given
    assert inference._known_finite(data) is finite
    spy = ConfigSpy()
    inference.default_predict_fn(data, spy, context())
    assert spy.seen == [finite]


def test_nan_still_meets_scikit_learns_check_for_a_model_that_cannot_take_it(classifier) -> None:
    with pytest.raises(RequestError, match="The model rejected the input: Input X contains NaN"):
        inference.default_predict_fn(np.array([[np.nan, 1.0]]), classifier, context())


def test_large_inputs_and_objects_keep_scikit_learns_checks() -> None:
    assert not inference._known_finite(np.zeros((inference.FINITE_CHECK_MAX_VALUES, 1)))
    assert not inference._known_finite(np.zeros((1, 2), dtype=object))
    assert not inference._known_finite([[1.0, 2.0]])
