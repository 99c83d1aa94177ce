"""The pieces of reading tables: locating errors, telling a header from data, the schema,
the runtime's own hyperparameters and the header=present content type."""

from __future__ import annotations

import csv
import io

import pytest

from container import hyperparameters
from container.channels import has_header
from container.errors import ConfigError
from container.schema import CATEGORICAL, FORCED, Feature, Schema, column_list, resolve_column
from container.tabular import TEXT, header_like, locate_table_error


def located(data: bytes, **kwargs):
    return locate_table_error(io.BytesIO(data), **kwargs)


@pytest.mark.parametrize(("data", "kwargs", "where", "reason"), [
    (b"a,b\n1,2\n3\n", {}, (3, None), "has 1 columns, but line 1 has 2"),
    (b"\n\n1,x\n\n2,y,z\n", {}, (5, None), "has 3 columns, but line 3 has 2"),
    (b'1,"a\nb",3\n4,5\n', {}, (3, None), "has 2 columns, but line 1 has 3"),  # a quoted newline
    (b"1,x\n2,y\n", {"width": 3, "width_source": "the model takes 3"}, (1, None), "but the model takes 3"),
    (b"1,x\n2.5,y\noops,z\n", {"numeric": [0]}, (3, 1), "'oops' is not a number"),
    (b"age,job\n1,x\n", {"numeric": [0], "header": True}, None, None),  # the header is not data
    (b"1,\nNA,x\n,y\n", {"numeric": [0, 1]}, (2, 2), "'x' is not a number"),  # missing is fine
    (b"1,\xff\n", {}, (None, None), "UTF-8"),
])
def test_locate_table_error(data: bytes, kwargs: dict, where, reason) -> None:
    found = located(data, **kwargs)
    if where is None:
        assert found is None
        return
    assert (found.line, found.column) == where
    assert reason in str(found)


def test_a_text_value_is_marked_as_such() -> None:
    found = located(b"1\nx\n", numeric=[0])
    assert found.kind == TEXT and found.value == "x"


@pytest.mark.parametrize(("text", "expected"), [
    ("age,job,y\n41,admin.,no\n35,,yes\n", True),  # age names a column of numbers
    ("sepal_length,sepal_width,species\n5.1,3.5,setosa\n", True),
    ("label,a,b\n1,2,oops\n0,3,4\n", True),
    ("setosa,5.1,3.5\nsetosa,4.9,3\n", False),  # data: line 1 holds numbers
    ("41,admin.,no\n35,services,yes\n", False),
    ("red,small\nblue,large\n", False),  # text only: cannot tell, so data
    ("a,b\n", False),  # one line: cannot tell
])
def test_header_like(text: str, expected: bool) -> None:
    assert header_like(csv.reader(io.StringIO(text))) is expected


def test_schema_round_trips_through_metadata() -> None:
    schema = Schema((Feature("age"), Feature("job", CATEGORICAL, ("a", "b"), FORCED)), "y",
                    ("age", "y", "job"), (0, 2))
    again = Schema.from_metadata(schema.to_metadata())
    assert again == schema
    assert again.names == ("age", "job") and again.categorical == [1] and again.model_input == "objects"
    assert again.label_position() == 1 and again.file_kinds() == {0: "numeric", 2: "categorical"}


def test_schema_of_a_model_from_before_schemas_is_plain_numeric() -> None:
    assert Schema.from_metadata({"n_features": 4}) == Schema.numeric(4)
    assert Schema.from_metadata({"n_features": 4}).plain
    assert Schema.from_metadata({}) is None


@pytest.mark.parametrize(("ref", "header", "expected"), [
    ("y", ["age", "y"], 1), (1, ["age", "y"], 1), ("0", None, 0), (2, None, 2),
])
def test_resolve_column(ref, header, expected) -> None:
    assert resolve_column(ref, header, 3, "label_column") == expected


@pytest.mark.parametrize(("ref", "header", "message"), [
    ("z", ["age", "y", "x"], "not a column of the training data"),
    ("y", None, "no header"),
    (3, None, "positions 0 to 2"),
])
def test_resolve_column_refuses(ref, header, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_column(ref, header, 3, "label_column")


def test_column_list_takes_json_lists_and_commas() -> None:
    assert column_list(["job", 3]) == ["job", 3]
    assert column_list("job, marital") == ["job", "marital"]
    assert column_list(None) == [] and column_list("") == []


def test_split_options_takes_the_runtimes_keys_and_leaves_the_estimators() -> None:
    options, rest = hyperparameters.split_options(hyperparameters.parse({
        "label_column": "y", "categorical_columns": '["job"]', "positive_class": "yes", "seed": "5",
        "n_estimators": "10"}))
    assert rest == {"n_estimators": 10}
    assert (options.label_column, options.categorical_columns, options.positive_class, options.seed) == (
        "y", ["job"], "yes", 5)
    assert hyperparameters.split_options({})[0].seed == hyperparameters.DEFAULT_SEED == 0
    assert hyperparameters.split_options({"seed": "none"})[0].seed is None
    for bad in (-1, 1.5, True, 2**32):
        with pytest.raises(ConfigError, match="seed"):
            hyperparameters.split_options({"seed": bad})


@pytest.mark.parametrize(("content_type", "expected"), [
    ("text/csv;header=present", True), ("text/csv; header=present", True), ('text/csv; header="present"', True),
    ("text/csv; charset=utf-8; header=present", True), ("text/csv", False), ("text/csv;header=absent", False),
    (None, False),
])
def test_has_header(content_type, expected) -> None:
    assert has_header(content_type) is expected
