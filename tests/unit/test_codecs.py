"""Request bodies to arrays and predictions to response bodies, for every media type."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from container import codecs
from container.errors import NotAcceptable, RequestError, UnsupportedMediaType


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


# -- media types and Accept ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/csv", "text/csv"),
        ("text/csv; charset=utf-8", "text/csv"),
        ("TEXT/CSV;Charset=UTF-8", "text/csv"),
        ("  application/json ", "application/json"),
        ("application/csv", "text/csv"),
        ("application/x-ndjson", "application/jsonlines"),
        ("application/jsonl", "application/jsonlines"),
        ("application/npy", "application/x-npy"),
        ("application/octet-stream", "application/octet-stream"),
        ("", None),
        (None, None),
        (";charset=utf-8", None),
    ],
)
def test_media_type(header: str | None, expected: str | None) -> None:
    assert codecs.media_type(header) == expected


@pytest.mark.parametrize(
    ("accept", "content_type", "default", "expected"),
    [
        ("text/csv", "application/json", None, "text/csv"),
        ("application/json", "text/csv", "text/csv", "application/json"),  # Accept beats the default
        ("Application/JSON; charset=utf-8", None, None, "application/json"),
        ("application/x-npy", None, None, "application/x-npy"),
        ("application/jsonlines", None, None, "application/jsonlines"),
        # q-values, then order
        ("application/json;q=0.5, text/csv;q=0.9", None, None, "text/csv"),
        ("application/json, text/csv", None, None, "application/json"),
        ("text/csv;q=0.2, application/json;q=0.2", None, None, "text/csv"),
        ("text/html, application/json;q=0.1", None, None, "application/json"),  # skips the unsupported
        ("text/csv;q=0, application/json", None, None, "application/json"),  # q=0 means never
        ("text/csv;q=abc, application/json", None, None, "application/json"),
        # no Accept: the default, else the request's type, else JSON
        (None, "text/csv", None, "text/csv"),
        ("", "text/csv; charset=utf-8", None, "text/csv"),
        (None, "text/csv", "application/jsonlines", "application/jsonlines"),
        (None, None, None, "application/json"),
        (None, "application/octet-stream", None, "application/json"),
        (None, "text/csv", "application/json; charset=utf-8", "application/json"),
        # wildcards
        ("*/*", "text/csv", None, "text/csv"),
        ("*/*", "application/x-npy", "application/json", "application/json"),
        ("text/*", "application/json", None, "text/csv"),
        ("application/*", "text/csv", None, "application/json"),
        ("application/*", "application/x-npy", None, "application/x-npy"),
        ("image/png, */*;q=0.1", "text/csv", None, "text/csv"),
        # q=0 excludes, whatever wildcard would take it in; the most specific item gives the q-value
        ("text/csv;q=0, */*;q=0.1", "text/csv", None, "application/json"),
        ("*/*, text/csv;q=0", "text/csv", "text/csv", "application/json"),
        ("application/*;q=0, */*", "application/json", None, "text/csv"),
        ("*/*;q=0.1, application/*;q=0.5", "text/csv", None, "application/json"),
        ("text/*;q=0.1, text/csv;q=0.9, application/json;q=0.5", None, None, "text/csv"),
        ("application/x-npy;q=0.001, application/json;q=0", None, None, "application/x-npy"),
        ("text/csv;charset=utf-8;q=0.9, application/json;q=0.8", None, None, "text/csv"),  # parameters ignored
        ("application/x-ndjson", None, None, "application/jsonlines"),  # aliases
    ],
)
def test_choose_accept(accept: str | None, content_type: str | None, default: str | None, expected: str) -> None:
    assert codecs.choose_accept(accept, content_type, default) == expected


@pytest.mark.parametrize("accept", ["text/html", "image/*", "*/*;q=0", "application/xml, text/plain",
                                    "text/*;q=0.5, text/csv;q=0", ",,,", "*/csv", "text/csv;q=0.000"])
def test_choose_accept_refuses_what_it_cannot_encode(accept: str) -> None:
    with pytest.raises(NotAcceptable) as info:
        codecs.choose_accept(accept, "text/csv", None)
    assert "text/csv" in str(info.value)  # says what it can do


# -- decoding ------------------------------------------------------------------------------

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n", "text/csv"),
        (b"5.1,3.5,1.4,0.2\r\n6.2,2.9,4.3,1.3", "text/csv; charset=utf-8"),
        (json.dumps(ROWS).encode(), "application/json"),
        (json.dumps({"instances": ROWS}).encode(), "application/json"),
        (json.dumps({"instances": [{"features": r} for r in ROWS]}).encode(), "application/json"),
        (json.dumps(ROWS).encode(), None),  # no Content-Type: JSON, as AWS's toolkit assumes
        (b"[5.1,3.5,1.4,0.2]\n[6.2,2.9,4.3,1.3]\n", "application/jsonlines"),
        (b'{"features":[5.1,3.5,1.4,0.2]}\n\n{"features":[6.2,2.9,4.3,1.3]}', "application/jsonlines"),
        (npy(np.array(ROWS)), "application/x-npy"),
        (npy(np.array(ROWS, dtype=np.float32).astype(np.float64)), "application/x-npy"),
    ],
)
def test_decode_two_rows(body: bytes, content_type: str | None) -> None:
    array = codecs.decode(body, content_type)
    assert array.dtype == np.float64
    np.testing.assert_allclose(array, ROWS)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"5.1,3.5,1.4,0.2", "text/csv"),
        (b"[5.1,3.5,1.4,0.2]", "application/json"),
        (b'{"instances": [5.1,3.5,1.4,0.2]}', "application/json"),
        (b'[5.1,3.5,1.4,0.2]', "application/jsonlines"),
        (npy(np.array(ROWS[0])), "application/x-npy"),
    ],
)
def test_decode_a_single_row(body: bytes, content_type: str) -> None:
    np.testing.assert_allclose(codecs.decode(body, content_type), [ROWS[0]])


def test_decode_npy_of_integers_and_float32() -> None:
    assert codecs.decode(npy(np.arange(6, dtype=np.int32).reshape(2, 3)), "application/x-npy").dtype == np.float64
    np.testing.assert_allclose(codecs.decode(npy(np.ones((2, 2), dtype=np.float32)), "application/x-npy"), 1)


def test_json_null_is_a_missing_value() -> None:
    assert np.isnan(codecs.decode(b"[[1, null]]", "application/json")[0, 1])


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", "image/png"])
def test_unsupported_content_type(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        codecs.decode(b"1,2", content_type)
    assert content_type in str(info.value) and "text/csv" in str(info.value)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "text/csv", "empty"),
        (b"  \n", "application/json", "empty"),
        (b"1,2\n3,x\n", "text/csv", "row 2, column 2"),
        (b"1,2\n3\n", "text/csv", "row 2"),
        (b"a,b\n1,2\n", "text/csv", "header"),
        (b"[[1,2],[3]]", "application/json", "Row 2 has 1 values, but row 1 has 2"),
        (b'[[1,"a"]]', "application/json", "Row 1, feature 2: 'a' is not a number"),
        (b"[1, [2]]", "application/json", "Row 1, feature 2"),
        (b"[]", "application/json", "non-empty list"),
        (b'{"instances": []}', "application/json", "non-empty list"),
        (b'{"rows": [[1]]}', "application/json", "none of which holds records"),
        (b'"text"', "application/json", "non-empty list"),
        (b"{not json", "application/json", "Bad JSON"),
        (b'[{"a": 1}]', "application/json", "without a 'features' list"),
        (b"[1,2]\nnope\n", "application/jsonlines", "line 2"),
        (b"[1,2]\n\n[3]\n", "application/jsonlines", "Line 3 has 1 values, but line 1 has 2"),
        (b'[1,2]\n"x"\n', "application/jsonlines", "Line 2"),
    ],
)
def test_malformed_bodies_say_where(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        codecs.decode(body, content_type)
    assert type(info.value) is RequestError
    assert message in str(info.value)


def test_npy_object_arrays_are_never_unpickled() -> None:
    class Boom:
        def __reduce__(self):  # would run on unpickling
            return (exec, ("raise SystemExit('unpickled!')",))

    body = npy(np.array([Boom()], dtype=object), allow_pickle=True)
    with pytest.raises(RequestError, match="never unpickles"):
        codecs.decode(body, "application/x-npy")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array(["a", "b"]), "dtype"),
        (np.zeros((2, 2, 2)), "shape"),
        (np.zeros((0, 4)), "shape"),
        (np.float64(3.0), "shape"),
        (np.zeros(2, dtype=np.complex128), "dtype"),
    ],
)
def test_npy_arrays_that_are_not_numeric_rows(array: np.ndarray, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        codecs.decode(npy(array), "application/x-npy")


@pytest.mark.parametrize("body", [b"garbage that is not npy", b"\x93NUMPY", b"1,2,3\n"])
def test_npy_that_is_not_npy_is_a_bad_npy_not_a_pickle(body: bytes) -> None:
    with pytest.raises(RequestError) as info:
        codecs.decode(body, "application/x-npy")
    assert "Bad NPY" in str(info.value)
    assert "unpickle" not in str(info.value)


# -- encoding ------------------------------------------------------------------------------


def test_encode_csv_one_line_per_record() -> None:
    assert codecs.encode(np.array([0, 2, 1]), codecs.CSV) == b"0\n2\n1\n"
    assert codecs.encode(np.array([0.5, 1.25]), codecs.CSV) == b"0.5\n1.25\n"
    assert codecs.encode(np.array([[0.1, 0.9], [1.0, 0.0]]), codecs.CSV) == b"0.1,0.9\n1.0,0.0\n"
    assert codecs.encode(np.array(["a,b", 'say "hi"', "plain"]), codecs.CSV) == b'"a,b"\n"say ""hi"""\nplain\n'
    assert codecs.encode(np.float64(2.5), codecs.CSV) == b"2.5\n"


def test_encode_jsonlines_one_line_per_record() -> None:
    assert codecs.encode(np.array([0, 2]), codecs.JSONLINES) == b"0\n2\n"
    assert codecs.encode(np.array([[0.25, 0.75]]), codecs.JSONLINES) == b"[0.25,0.75]\n"
    assert codecs.encode(np.array(["x", "y"]), codecs.JSONLINES) == b'"x"\n"y"\n'


def test_encode_json() -> None:
    assert json.loads(codecs.encode(np.array([1, 0]), codecs.JSON)) == {"predictions": [1, 0]}
    document = json.loads(codecs.encode(np.array([[0.25, 0.75]]), codecs.JSON, classes=["a", "b"]))
    assert document == {"predictions": [[0.25, 0.75]], "classes": ["a", "b"]}


def test_encode_json_is_valid_json_even_with_nan() -> None:
    body = codecs.encode(np.array([1.5, np.nan]), codecs.JSON).decode()
    assert "NaN" not in body
    assert json.loads(body) == {"predictions": [1.5, None]}


def test_encode_npy_round_trips_without_pickle() -> None:
    for array in (np.array([1, 2, 3]), np.array([[0.1, 0.9]]), np.array(["setosa", "virginica"], dtype=object)):
        back = np.load(io.BytesIO(codecs.encode(array, codecs.NPY)), allow_pickle=False)
        assert back.tolist() == array.tolist()


def test_encode_refuses_unknown_types() -> None:
    with pytest.raises(NotAcceptable):
        codecs.encode(np.array([1]), "text/html")


# A JSON response is an object with "predictions", not a list of records: the others round-trip.
@pytest.mark.parametrize("accept", [t for t in codecs.ENCODABLE if t != codecs.JSON])
def test_every_encodable_type_decodes_back_to_the_same_records(accept: str) -> None:
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(codecs.decode(codecs.encode(probabilities, accept), accept), probabilities)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/plain", "text/plain"),
        ("application/x-protobuf;q=0.9, text/csv;q=0.5", "application/x-protobuf"),
        ("image/*, text/csv;q=0.1", "text/csv"),  # wildcards of other types still fall through
        ("*/*", "text/csv"),
    ],
)
def test_choose_accept_leaves_any_concrete_type_to_a_custom_output_fn(accept: str, expected: str) -> None:
    assert codecs.choose_accept(accept, "text/csv", None, custom=True) == expected


def test_q_zero_excludes_a_custom_output_fns_type_too() -> None:
    assert codecs.choose_accept("application/x-protobuf;q=0, text/csv;q=0.1", None, None, custom=True) == "text/csv"


# -- what clients get wrong: 400s that say where, never an internal error ------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"1,inf\n", "text/csv", "Record 1, feature 2: inf is not a finite number"),
        (b"1,2\n3,-1e400\n", "text/csv", "Record 2, feature 2: -inf is not a finite number"),
        (b"[[1, Infinity]]", "application/json", "Record 1, feature 2: inf"),
        (b"[[1, 1e400]]", "application/json", "Record 1, feature 2: inf"),
        (b"[1,2]\n[-1e999,2]\n", "application/jsonlines", "Record 2, feature 1: -inf"),
        (b"[[1, " + b"9" * 400 + b"]]", "application/json", "Row 1, feature 2: 999"),
        (b"[[1, " + b"9" * 5000 + b"]]", "application/json", "Bad JSON: a number has too many digits."),
        (b'{"features": [1, ' + b"9" * 400 + b"]}", "application/jsonlines", "is too large for a 64-bit float"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "Bad JSON: it is nested too deeply."),
        (b"\xff[[1, 2]]", "application/json", "Bad JSON: byte 0 is not valid UTF-8 text."),
        (b"[[1, 2]]\n\xc3\x28\n", "application/jsonlines", "line 2: byte 0 is not valid UTF-8 text."),
        (b"1,2\n3,\xff\n", "text/csv", "not valid UTF-8"),
    ],
)
def test_numbers_and_text_clients_get_wrong(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        codecs.decode(body, content_type)
    assert message in str(info.value)
    assert "sys." not in str(info.value) and "Error" not in str(info.value)  # no Python internals


@pytest.mark.parametrize("body", [b"1,nan\n", b"[[1, NaN]]", b"[[1, null]]", b"1,\n"])
def test_nan_is_a_missing_value_not_an_error(body: bytes) -> None:
    content_type = "text/csv" if body[:1].isdigit() else "application/json"
    from container.schema import Schema
    assert np.isnan(codecs.decode(body, content_type, Schema.numeric(2))[0, 1])


# -- JSON: large bodies decoded in steps, to the same values and errors ---------------------------


LARGE = [
    [[0.5, -1.25, 3.0]] * 3000,
    {"instances": [[1, 2]] * 6000},
    {"instances": [{"features": [1.5, None]}] * 3000, "other": {"a": [1, [2]]}},
    [[1], [], [2, 3]] * 4000,
    list(range(20_000)),  # one row: decoded in one go
    [[{"a": [[1]]}]] * 3000,
]


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies over 16 KB are decoded in steps (1 MB in the server): the same code, smaller tests."""
    monkeypatch.setattr(codecs, "JSON_STEP_BYTES", 16 * 1024)


@pytest.mark.parametrize("document", LARGE)
@pytest.mark.parametrize("separators", [None, (",", ":"), (" ,\n ", " : ")])
def test_a_large_json_body_decodes_in_steps_to_what_json_loads_gives(small_steps, document, separators) -> None:
    body = json.dumps(document, separators=separators).encode()
    assert len(body) > codecs.JSON_STEP_BYTES
    assert codecs.load_json(body) == json.loads(body)
    assert codecs.load_json(b"\xef\xbb\xbf" + body) == json.loads(b"\xef\xbb\xbf" + body)
    assert codecs.load_json(body.decode().encode("utf-16")) == json.loads(body.decode().encode("utf-16"))


@pytest.mark.parametrize("body", [
    b"[" + b"[1]," * 10_000 + b"[1] 2]",
    b"[" + b"[1]," * 10_000 + b"]",
    b"[" + b"[1]," * 10_000,
    b"[" + b"[1]," * 10_000 + b"[1]] x",
    b'{"instances": [' + b"[1]," * 10_000 + b'[1]] "x"}',
    b'{"instances" [' + b"[1]," * 10_000 + b"[1]]}",
    b'{instances: [' + b"[1]," * 10_000 + b"[1]]}",
    b'{"instances": [' + b"[1]," * 10_000 + b"[1]],}",
    b"[" * 100_000 + b"]" * 100_000,
])
def test_a_large_json_body_fails_where_json_loads_does(small_steps, body: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)) as expected:
        json.loads(body)
    with pytest.raises(RequestError) as info:
        codecs.load_json(body)
    if isinstance(expected.value, RecursionError):
        assert str(info.value).startswith("Bad JSON: it is nested too deeply.")
    else:
        assert str(info.value) == f"Bad JSON: {expected.value}."


# -- NPY: the header is checked before anything is allocated ------------------------------------


def test_npy_fortran_order_big_endian_and_bool_decode() -> None:
    np.testing.assert_array_equal(codecs.decode(npy(np.asfortranarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])), codecs.NPY),
                                  [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(codecs.decode(npy(np.arange(4, dtype=">f4").reshape(2, 2)), codecs.NPY),
                                  [[0, 1], [2, 3]])
    np.testing.assert_array_equal(codecs.decode(npy(np.array([[True, False]])), codecs.NPY), [[1, 0]])


@pytest.mark.parametrize("shape", ["(1099511627776, 4)", "(4000000000, 4000000000)", "(100000000,)"])
def test_npy_declaring_a_huge_shape_is_refused_before_any_allocation(shape: str) -> None:
    import resource

    body = npy(np.zeros((1, 4))).replace(b"(1, 4)", shape.encode())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(RequestError) as info:
        codecs.decode(body, codecs.NPY)
    assert f"the header declares {shape}" in str(info.value) and "Unable to allocate" not in str(info.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KB: nothing big was touched


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (npy(np.zeros((2, 3)))[:-5], "the header declares (2, 3) of float64 (48 bytes), but 43 bytes follow it"),
        (npy(np.zeros((2, 3))) + b"extra", "but 53 bytes follow it"),
        (npy(np.zeros((2, 3)))[:30], "Bad NPY: EOF"),
        (npy(np.zeros((1, 2))).replace(b"'descr'", b"'descr'["), "Bad NPY"),
        (npy(np.zeros((1, 2))).replace(b"'descr'", b"'dexcr'"), "Bad NPY"),
        (npy(np.zeros((1, 2))).replace(b"\x01\x00", b"\x03\x00", 1), "format version 3.0"),
        (npy(np.zeros(2, dtype=[("a", "f8"), ("b", "i4")])), "dtype"),
        (npy(np.zeros((2, 0))), "shape (2, 0)"),
    ],
)
def test_npy_headers_and_data_that_do_not_add_up(body: bytes, message: str) -> None:
    with pytest.raises(RequestError) as info:
        codecs.decode(body, codecs.NPY)
    assert message in str(info.value)
