"""Request bodies for models trained on tables: headers, names, text features, missing values.

The schema is what `train` wrote into metadata.json; codecs.decode turns a body into what
the model takes: a float64 array, or rows of objects (floats and strings) when some features
are categorical.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from container import codecs
from container.errors import RequestError
from container.schema import CATEGORICAL, Feature, Schema

CSV, JSON, JSONL, NPY = "text/csv", "application/json", "application/jsonlines", "application/x-npy"

#: Like the bank data: a header, the label "y" among the columns, a text feature.
MIXED = Schema((Feature("age"), Feature("job", CATEGORICAL, ("admin.", "services")), Feature("balance")),
               label="y", header=("age", "job", "y", "balance"), positions=(0, 1, 3))
#: A header, numbers only: the model takes a float64 array.
NAMED = Schema((Feature("a"), Feature("b")), label="y", header=("y", "a", "b"), positions=(1, 2))
#: Header-less, a text feature: columns are numbered.
NUMBERED = Schema((Feature(None), Feature(None, CATEGORICAL, ("x", "z"))), 0, None, (1, 2))
PLAIN = Schema.numeric(2)


def frame(body: bytes, content_type: str = CSV, schema: Schema = MIXED) -> np.ndarray:
    decoded = codecs.decode(body, content_type, schema)
    assert isinstance(decoded, np.ndarray) and decoded.dtype == object
    assert decoded.shape[1] == schema.n_features
    for row in decoded.tolist():  # numbers as floats, categories as strings, missing as NaN
        for feature, value in zip(schema.features, row):
            assert isinstance(value, float) or (feature.kind == CATEGORICAL and isinstance(value, str))
    return decoded


def rows(decoded: np.ndarray) -> list[list]:
    """Values with NaN as None, for comparing."""
    return [[None if (isinstance(v, float) and np.isnan(v)) else v for v in row] for row in decoded.tolist()]


def error(body: bytes, content_type: str = CSV, schema: Schema | None = MIXED) -> str:
    with pytest.raises(RequestError) as info:
        codecs.decode(body, content_type, schema)
    return str(info.value)


# -- CSV --------------------------------------------------------------------------------


def test_csv_records_in_training_order() -> None:
    decoded = frame(b"41,admin.,1270\n35,services,-3.5\n")
    assert rows(decoded) == [[41.0, "admin.", 1270.0], [35.0, "services", -3.5]]


@pytest.mark.parametrize("header", [b"age,job,balance", b"balance,age,job", b"y,job,balance,age", b'"age","job","balance"'])
def test_csv_that_starts_with_the_training_header_in_any_order(header: bytes) -> None:
    names = [n.strip('"') for n in header.decode().split(",")]
    values = {"age": "41", "job": "admin.", "balance": "1270", "y": "yes"}
    body = header + b"\n" + ",".join(values[n] for n in names).encode() + b"\n"
    assert rows(frame(body)) == [[41.0, "admin.", 1270.0]]  # the label, when sent, is dropped


def test_a_header_naming_some_features_leaves_the_others_missing() -> None:
    assert rows(frame(b"job,age\nadmin.,41\n")) == [[41.0, "admin.", None]]


def test_empty_fields_and_na_are_missing_values() -> None:
    assert rows(frame(b"41,,\n,NA,3\nnan,null,NaN\n")) == [[41.0, None, None], [None, None, 3.0],
                                                        [None, None, None]]


def test_a_category_training_never_saw_is_passed_on() -> None:
    assert rows(frame(b"41,astronaut,0\n")) == [[41.0, "astronaut", 0.0]]  # the encoder decides


@pytest.mark.parametrize(("body", "message"), [
    (b"41,admin.,1270\n35,services,lots\n", "row 2, column 3 ('balance'): 'lots' is not a number"),
    (b"age,job,balance\n41,admin.,1270\nold,admin.,1\n", "row 3, column 1 ('age'): 'old' is not a number"),
    (b"41,admin.\n", "Each record has 2 values, but the model takes 3 features"),
    (b"41,admin.,1,2\n", "Each record has 4 values, but the model takes 3 features"),
    (b"41,admin.,1\n35,x\n", "row 2: has 2 columns, but the model takes 3"),
    (b"age,jobb,balance\n41,admin.,1\n", "names columns this model does not have: jobb"),
    (b"age,job\n41\n", "row 2: has 1 columns, but the header has 2"),
    (b'41,"admin.\n', "row 1"),  # a quote never closed
    (b"41,caf\xe9,1\n", "not valid UTF-8"),
])
def test_bad_csv_says_which_row_and_column(body: bytes, message: str) -> None:
    assert message in error(body)


def test_numbered_columns_without_a_header() -> None:
    decoded = frame(b"1.5,x\n2,\n", schema=NUMBERED)
    assert rows(decoded) == [[1.5, "x"], [2.0, None]]


def test_a_named_numeric_model_takes_an_array_and_its_header() -> None:
    for body in (b"1,2\n3,4\n", b"a,b\n1,2\n3,4\n", b"b,a\n2,1\n4,3\n", b"a,y,b\n1,0,2\n3,1,4\n"):
        decoded = codecs.decode(body, CSV, NAMED)
        assert isinstance(decoded, np.ndarray) and decoded.dtype == np.float64
        np.testing.assert_array_equal(decoded, [[1, 2], [3, 4]])
    assert np.isnan(codecs.decode(b"a,b\n1,\n", CSV, NAMED)[0, 1])


def test_a_named_numeric_model_refuses_another_header() -> None:
    assert "names columns this model does not have: c" in error(b"a,c\n1,2\n", schema=NAMED)


# -- plain numeric models: as before, and empty fields are missing --------------------------


def test_plain_model_empty_fields_are_missing_values() -> None:
    decoded = codecs.decode(b"1,\n,NA\n3,4\n", CSV, PLAIN)
    assert decoded.dtype == np.float64 and decoded.shape == (3, 2)
    assert np.isnan(decoded[0, 1]) and np.isnan(decoded[1, 0]) and np.isnan(decoded[1, 1])


def test_plain_model_text_is_still_a_400_with_row_and_column() -> None:
    assert "row 2, column 2: 'x' is not a number" in error(b"1,2\n3,x\n", schema=PLAIN)
    assert "header" in error(b"a,b\n1,2\n", schema=PLAIN)


def test_no_schema_is_the_strict_numeric_decoder_of_old() -> None:
    assert "is empty" in error(b"1,\n", schema=None)


# -- JSON and JSON Lines ------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b'[[41, "admin.", 1270]]',
    b'[41, "admin.", 1270]',
    b'{"instances": [[41, "admin.", 1270]]}',
    b'{"instances": [{"age": 41, "job": "admin.", "balance": 1270}]}',
    b'[{"balance": 1270, "job": "admin.", "age": 41, "y": "no"}]',
    b'{"age": 41, "job": "admin.", "balance": 1270}',
    b'{"instances": [{"age": "41", "job": "admin.", "balance": "1270"}]}',
    b'[{"features": [41, "admin.", 1270]}]',
])
def test_json_rows_and_objects_keyed_by_name(body: bytes) -> None:
    assert rows(frame(body, JSON)) == [[41.0, "admin.", 1270.0]]


def test_json_absent_keys_and_nulls_are_missing_and_numbers_in_categories_are_text() -> None:
    decoded = frame(b'[{"age": 41}, {"job": null, "balance": ""}, {"job": 7}, {"job": 7.0}]', JSON)
    assert rows(decoded) == [[41.0, None, None], [None, None, None], [None, "7", None], [None, "7", None]]


def test_json_lines_of_objects_and_of_lists() -> None:
    body = b'{"age": 41, "job": "admin.", "balance": 1}\n\n[35, "services", 2]\n'
    assert rows(frame(body, JSONL)) == [[41.0, "admin.", 1.0], [35.0, "services", 2.0]]


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b'[{"agee": 41}]', JSON, "Row 1 has 'agee', which is not a feature of this model"),
    (b'[{"age": "old"}]', JSON, "Row 1, feature 'age': 'old' is not a number"),
    (b'[{"age": true}]', JSON, "Row 1, feature 'age': True is not a number"),
    (b'[[41, "admin."]]', JSON, "Row 1 has 2 values, but the model takes 3 features"),
    (b'{"age": 1}\n{"balance": "x"}\n', JSONL, "Line 2, feature 'balance': 'x' is not a number"),
])
def test_bad_json_records_say_which_and_why(body: bytes, content_type: str, message: str) -> None:
    assert message in error(body, content_type)


def test_json_objects_for_a_named_numeric_model_give_an_array() -> None:
    decoded = codecs.decode(b'[{"b": 2, "a": 1}, {"a": 3}]', JSON, NAMED)
    assert isinstance(decoded, np.ndarray)
    np.testing.assert_array_equal(decoded[:, 0], [1, 3])
    assert decoded[0, 1] == 2 and np.isnan(decoded[1, 1])


def test_npy_is_refused_for_text_features_and_taken_for_numbers() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 2.0]]))
    assert "categorical features ('job')" in error(buffer.getvalue(), NPY)
    np.testing.assert_array_equal(codecs.decode(buffer.getvalue(), NPY, NAMED), [[1, 2]])


def test_answers_in_class_names_in_every_format() -> None:
    predictions = np.array(["yes", "no", "a,b"], dtype=object)
    assert codecs.encode(predictions, CSV) == b'yes\nno\n"a,b"\n'
    assert json.loads(codecs.encode(predictions, JSON)) == {"predictions": ["yes", "no", "a,b"]}
    assert codecs.encode(predictions, JSONL) == b'"yes"\n"no"\n"a,b"\n'
    assert np.load(io.BytesIO(codecs.encode(predictions, NPY))).tolist() == ["yes", "no", "a,b"]
    probabilities = np.array([[0.25, 0.75]])
    assert json.loads(codecs.encode(probabilities, JSON, ["no", "yes"])) == {
        "predictions": [[0.25, 0.75]], "classes": ["no", "yes"]}


def test_decode_request_tells_whether_the_csv_had_a_header() -> None:
    assert codecs.decode_request(b"job,age\nadmin.,41\n", CSV, MIXED)[1] == ["job", "age"]
    assert codecs.decode_request(b"41,admin.,1\n", CSV, MIXED)[1] is None
    assert codecs.decode_request(b"[[41, \"admin.\", 1]]", JSON, MIXED)[1] is None
    assert codecs.decode_request(b"1,2\n", CSV, PLAIN)[1] is None


def test_a_csv_answer_to_a_csv_header_starts_with_a_header_line() -> None:
    assert codecs.encode(np.array(["no", "yes"], dtype=object), CSV, header=["y"]) == b"y\nno\nyes\n"
    assert codecs.encode(np.array([[0.25, 0.75]]), CSV, ["no", "yes"], header=["no", "yes"]) == b"no,yes\n0.25,0.75\n"
    assert codecs.encode(np.array(["no"], dtype=object), JSONL, header=["y"]) == b'"no"\n'  # CSV only
