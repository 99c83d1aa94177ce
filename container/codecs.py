"""Payload codecs for /invocations: request bodies to model input, predictions to response bodies.

Pure functions, no HTTP. Media types are compared without parameters and case
("text/csv; charset=utf-8" is text/csv). NPY is read from its header and bytes, never with
np.load: nothing is unpickled, and nothing is allocated before the declared size is checked
against the body. Large JSON is decoded a record at a time, so that no call holds the GIL
for long (the worker answers /ping on another thread of the same process).

What a body decodes to follows the model's schema (metadata.json). A plain numeric model
takes header-less numeric rows, as SageMaker's built-in algorithms do, decoded into a float64
array by the C parser. A model trained with a header also takes CSV that starts with it and
JSON objects keyed by feature name; one with categorical features takes text in them, as
rows of objects (floats and strings, schema.OBJECTS). Empty fields are missing values (NaN)
for every schema; text where training had numbers is a 400 naming the row and column, and
so is an infinity (or a number past float64's range, such as 1e400).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from typing import Any

import numpy as np
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from .errors import NotAcceptable, RequestError, UnsupportedMediaType
from .schema import ARRAY, NUMERIC, Schema
from .tabular import MISSING_MARKERS, CsvError, is_number, parse as parse_csv

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"

#: Other spellings clients use, mapped to the canonical type.
ALIASES = {
    "application/csv": CSV,
    "text/x-csv": CSV,
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-ndjson": JSONLINES,
    "application/ndjson": JSONLINES,
    "application/npy": NPY,
}
DECODABLE = (CSV, JSON, JSONLINES, NPY)
#: Keys of a JSON object that holds one record's values as a list.
RECORD_LIST_KEYS = ("features", "instance", "values")
NPY_MAGIC = b"\x93NUMPY"
ENCODABLE = (CSV, JSON, JSONLINES, NPY)


def media_type(header: str | None) -> str | None:
    """The bare, lower-case media type of a Content-Type or Accept item; None when empty."""
    if not header:
        return None
    bare = header.split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare) or None


@functools.lru_cache(maxsize=512)  # clients send the same few headers; werkzeug's parse costs 20 us
def choose_accept(accept: str | None, content_type: str | None, default: str | None,
                  *, custom: bool = False) -> str:
    """The response type for an Accept header, negotiated by werkzeug's MIMEAccept (RFC 9110).

    The most preferred type that can be encoded wins: the highest q-value, where the most
    specific item that names a type gives its q-value (so ``text/csv;q=0`` excludes CSV from
    ``*/*`` too), and among equals the type the client names first, then `default`
    (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT) when set, else the request's own type when it can be
    encoded, else JSON, then the others. With no Accept, that fallback. With `custom` (the
    user's output_fn or transform_fn encodes), any concrete type the client names is theirs to
    answer. Media type parameters (charset) are ignored, as everywhere here.
    """
    fallback = media_type(default) or (
        media_type(content_type) if media_type(content_type) in ENCODABLE else JSON
    )
    if not accept or not accept.strip():
        return fallback
    items = []
    for value, quality in parse_accept_header(accept):  # sorted by specificity and q, else in order
        kind = media_type(value)
        if kind and "/" in kind:
            items.append((kind, quality))
    client = MIMEAccept(items)
    named = [kind for kind, _ in items if "*" not in kind and (custom or kind in ENCODABLE)]
    choice = client.best_match(dict.fromkeys([*named, fallback, *ENCODABLE]))
    if choice is None:
        raise NotAcceptable(f"Cannot answer in {accept!r}.", hint=f"Accept one of: {', '.join(ENCODABLE)}.")
    return choice


# -- decoding -------------------------------------------------------------------------


def decode(body: bytes, content_type: str | None, schema: Schema | None = None) -> Any:
    """A request body as the model's input, one row per record: a 2-D float64 array, or an
    object array (floats and strings) for a schema with categorical features."""
    return decode_request(body, content_type, schema)[0]


def decode_request(body: bytes, content_type: str | None, schema: Schema | None = None) -> tuple[Any, list[str] | None]:
    """decode(), and the CSV header the body started with (None without one)."""
    kind = media_type(content_type) or JSON
    if kind == CSV and schema is not None and not schema.plain:
        if not body or body.isspace():
            raise RequestError("The request body is empty.", hint="Send at least one record.")
        data, header = _decode_table_csv(body, schema)
    else:
        data, header = _decode(body, content_type, kind, schema), None
    _check_finite(data, schema)
    return data, header


def _check_finite(data: Any, schema: Schema | None) -> None:
    """No infinity in a feature (a number past float64's range, 1e400, reads as one): no
    estimator takes it, and the model's own refusal would not say where. NaN is a missing value."""
    if not isinstance(data, np.ndarray) or data.ndim != 2:
        return
    if data.dtype.kind == "f":
        infinite = np.isinf(data)
    elif data.dtype == object and schema is not None and schema.numeric_features:
        infinite = np.zeros(data.shape, dtype=bool)
        columns = schema.numeric_features
        infinite[:, columns] = np.isinf(data[:, columns].astype(np.float64))
    else:
        return
    if infinite.any():
        row, column = (int(i) for i in np.argwhere(infinite)[0])
        feature = schema.feature_label(column) if schema is not None and column < schema.n_features else column + 1
        raise RequestError(
            f"Record {row + 1}, feature {feature}: {data[row, column]} is not a finite number.",
            hint="Send numbers within float64's range (about 1.8e308); leave a missing value empty (CSV) or null (JSON).",
        )


def _decode(body: bytes, content_type: str | None, kind: str, schema: Schema | None) -> Any:
    if kind not in DECODABLE:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported.",
            hint=f"Send one of: {', '.join(DECODABLE)}.",
        )
    if not body or body.isspace():  # as `not body.strip()`, without copying a large body
        raise RequestError("The request body is empty.", hint="Send at least one record.")
    if kind == CSV:
        return _decode_csv(body, missing=schema is not None)
    if kind == NPY:
        array = _decode_npy(body)
        if schema is not None and schema.categorical:
            raise RequestError(
                "NPY holds numbers only, but this model has categorical features "
                f"({', '.join(schema.feature_label(i) for i in schema.categorical[:5])}).",
                hint="Send CSV or JSON.",
            )
        return array
    if kind == JSON:
        rows, numbers, unit = _json_rows(body, schema), None, "row"
    else:
        rows, numbers, unit = _jsonlines_rows(body, schema)
    if schema is None or schema.plain:
        return _rows_to_array(rows, unit, numbers)
    return _records_to_input(rows, schema, unit, numbers)


def _decode_csv(body: bytes, *, missing: bool = False) -> np.ndarray:
    try:
        array = parse_csv(body)
    except CsvError as exc:
        if missing and exc.missing_value:  # an empty field: read the rows as a table
            records = _csv_records(body)
            return _fields_to_input(records, Schema.numeric(len(records[0][1])), None)
        hint = "Send header-less CSV: one record per line, numeric features only."
        if exc.looks_like_header:
            hint = "The first line looks like a header row: send the records without it."
        where = str(exc).replace("line", "row", 1) if exc.line is not None else str(exc)
        raise RequestError(f"Bad CSV: {where}.", hint=hint) from None
    if array.shape[0] == 0:
        raise RequestError("The CSV body has no records.")
    return array


def _decode_table_csv(body: bytes, schema: Schema) -> tuple[Any, list[str] | None]:
    """CSV for a model trained with a header or with categorical features, and its header."""
    records = _csv_records(body)
    names = _header_names(records[0][1], schema)
    if names is not None:
        records = records[1:]
        if not records:
            raise RequestError("The CSV body has a header but no records.")
    elif schema.model_input == ARRAY and not schema.categorical:
        # Numbers in training's order: the C parser, as for a plain model.
        array = _decode_csv(body, missing=True)
        _check_width(array.shape[1], schema)
        return array, None
    return _fields_to_input(records, schema, names), names


def _csv_records(body: bytes) -> list[tuple[int, list[str]]]:
    """(line, fields) of every non-empty CSV record; a record's quoted field may span lines."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"Bad CSV: byte {exc.start} is not valid UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, last = [], 0
    try:
        for fields in reader:
            line, last = last + 1, reader.line_num
            if fields and (len(fields) > 1 or fields[0].strip()):
                records.append((line, fields))
    except csv.Error as exc:
        raise RequestError(f"Bad CSV: row {last + 1}: {exc}.") from None
    if not records:
        raise RequestError("The CSV body has no records.")
    return records


def _header_names(fields: list[str], schema: Schema) -> list[str] | None:
    """The column names when the CSV's first record is a header of this model's columns (in
    any order, any of them, the label allowed); None when it is data. A first line of text
    naming other columns is refused."""
    if schema.names is None:
        return None
    stripped = [f.strip() for f in fields]
    known = set(schema.names) | {str(schema.label)}
    if all(f in known for f in stripped) and len(set(stripped)) == len(stripped):
        return stripped
    unknown = [f for f in stripped if f not in known]
    all_text = all(f and f not in MISSING_MARKERS and not is_number(f) for f in stripped)
    if all_text and (not schema.categorical or len(unknown) < len(stripped)):
        raise RequestError(
            f"The CSV's first line names columns this model does not have: {', '.join(unknown[:5])}.",
            hint=f"Its features are: {', '.join(schema.names[:40])}. Send them in a header line "
            "(any order), or send records only, in training's column order.",
        )
    return None


def _check_width(width: int, schema: Schema) -> None:
    if width != schema.n_features:
        raise RequestError(
            f"Each record has {width} values, but the model takes {schema.n_features} features.",
            hint="Send the features only, in training's column order, without the label"
            + (", or start the CSV with a header line naming them." if schema.names else "."),
        )


def _fields_to_input(records: list[tuple[int, list[str]]], schema: Schema, names: list[str] | None) -> np.ndarray:
    """CSV records as the model's input: the fields of numeric features as numbers, of
    categorical ones as the text itself (as training read it); MISSING_MARKERS are NaN.
    With `names` (the header's), columns go where the names say and absent features are
    missing; the label, if sent, is dropped."""
    if names is None:
        _check_width(len(records[0][1]), schema)
        targets: list[int | None] = list(range(schema.n_features))
    else:
        position = {name: i for i, name in enumerate(schema.names or ())}
        targets = [position.get(name) for name in names]  # None: the label
    numeric = [f.kind == NUMERIC for f in schema.features]
    width = len(targets)
    objects = schema.model_input != ARRAY
    out = np.full((len(records), schema.n_features), np.nan, dtype=object if objects else np.float64)
    for row, (line, fields) in enumerate(records):
        if len(fields) != width:
            than = "the header has" if names is not None else "the model takes"
            raise RequestError(f"Bad CSV: row {line}: has {len(fields)} columns, but {than} {width}.",
                               hint="Every record needs the same columns; a field may be empty (missing).")
        for column, (target, field) in enumerate(zip(targets, fields)):
            if target is None:
                continue
            if numeric[target]:
                text = field.strip()
                if text in MISSING_MARKERS:
                    continue  # NaN already
                if not is_number(text):
                    raise RequestError(
                        f"Bad CSV: row {line}, column {column + 1} ({schema.feature_label(target)}): "
                        f"{field!r:.40} is not a number.",
                        hint="Training had only numbers in this feature; leave the field empty for a missing value.",
                    )
                out[row, target] = float(text)
            elif field not in MISSING_MARKERS:
                out[row, target] = field
    return out


#: A JSON text over this many bytes is decoded in steps (see load_json).
JSON_STEP_BYTES = 1024 * 1024

_decoder = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_BLANKS = frozenset(" \t\n\r")


def load_json(body: bytes) -> Any:
    """json.loads, in steps for a large body, with the client's mistakes as RequestError.

    json.loads holds the GIL from start to end: 0.3 s for 6 MB of numbers here, 2.8 s for 6 MB
    of one-value rows, during which no other thread of the worker runs, the event loop that
    answers /ping included (container.worker). A large top-level list of records, or one under
    an object's key ({"instances": [...]}), is decoded a record at a time instead: the same
    values and errors, with a chance for other threads between records.
    """
    try:
        if len(body) <= JSON_STEP_BYTES:
            return json.loads(body)
        encoding = json.detect_encoding(body)
        text = body.decode(encoding, "surrogatepass")  # as json.loads reads bytes
        value, end = _json_value(text, _SPACE.match(text).end(), top=True)
        end = _SPACE.match(text, end).end()
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
        return value
    except UnicodeDecodeError as exc:
        raise RequestError(f"Bad JSON: byte {exc.start} is not valid {exc.encoding.upper()} text.") from None
    except RecursionError:
        raise RequestError("Bad JSON: it is nested too deeply.",
                           hint="Send a list of records, each a list of values or an object.") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # over sys.get_int_max_str_digits()
            raise RequestError("Bad JSON: a number has too many digits.") from None
        raise RequestError(f"Bad JSON: {exc}.") from None


def _json_value(text: str, start: int, top: bool = False) -> tuple[Any, int]:
    """The JSON value at `start` and where it ends, with a top-level object's values and the
    records of a top-level list decoded one by one (a list of scalars, one row, in one go)."""
    char = text[start:start + 1]
    if char == "[" and (top or _next_char(text, start + 1) in ("[", "{")):
        position = _SPACE.match(text, start + 1).end()
        if text[position:position + 1] == "]":
            return [], position + 1
        if text[position:position + 1] not in ("[", "{"):
            return _decoder.raw_decode(text, start)  # one row of values
        return _json_records(text, position)
    if char == "{" and top:
        members: dict[str, Any] = {}
        position = _SPACE.match(text, start + 1).end()
        if text[position:position + 1] == "}":
            return members, position + 1
        while True:
            if text[position:position + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, position)
            key, position = _decoder.raw_decode(text, position)
            position = _SPACE.match(text, position).end()
            if text[position:position + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, position)
            position = _SPACE.match(text, position + 1).end()
            members[key], position = _json_value(text, position)
            position = _SPACE.match(text, position).end()
            char = text[position:position + 1]
            if char == "}":
                return members, position + 1
            if char != ",":
                raise json.JSONDecodeError("Expecting ',' delimiter", text, position)
            position = _SPACE.match(text, position + 1).end()
    return _decoder.raw_decode(text, start)


def _json_records(text: str, position: int) -> tuple[list[Any], int]:
    """The items of a list from its first one at `position` on, one C call each."""
    scan, space, items = _decoder.scan_once, _SPACE.match, []
    append = items.append
    try:
        while True:
            item, position = scan(text, position)
            append(item)
            char = text[position:position + 1]
            if char in _BLANKS:
                position = space(text, position).end()
                char = text[position:position + 1]
            if char == ",":
                position += 1
                if text[position:position + 1] in _BLANKS:
                    position = space(text, position).end()
            elif char == "]":
                return items, position + 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, position)
    except StopIteration as stop:
        raise json.JSONDecodeError("Expecting value", text, stop.value) from None


def _next_char(text: str, position: int) -> str:
    """The first character at or after `position` that is not white space ('' at the end)."""
    position = _SPACE.match(text, position).end()
    return text[position:position + 1]


def _json_rows(body: bytes, schema: Schema | None) -> list[Any]:
    document = load_json(body)
    if isinstance(document, dict):
        for key in ("instances", "inputs", "features", "data"):
            if key in document:
                document = document[key]
                break
        else:
            if _keyed_by_name(document, schema):
                document = [document]  # a single record, keyed by name
            else:
                raise RequestError(
                    f"The JSON object has keys {sorted(document)[:10]}, none of which holds records.",
                    hint='Send a list of rows, [[1, 2], [3, 4]], or {"instances": [[1, 2], [3, 4]]}.',
                )
    if not isinstance(document, list) or not document:
        raise RequestError(
            "The JSON body must be a non-empty list of rows.",
            hint='Send [[1, 2], [3, 4]], a single row [1, 2], or {"instances": [...]}.',
        )
    if not isinstance(document[0], (list, dict)):
        document = [document]  # a single row
    return [_record(row, index, "row", schema) for index, row in enumerate(document, start=1)]


def _jsonlines_rows(body: bytes, schema: Schema | None) -> tuple[list[Any], list[int], str]:
    rows = []
    numbers = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = load_json(line)
        except RequestError as exc:
            raise RequestError(f"Bad JSON Lines: line {number}: {str(exc).removeprefix('Bad JSON: ')}") from None
        rows.append(_record(value, number, "line", schema))
        numbers.append(number)
    return rows, numbers, "line"


def _keyed_by_name(value: dict, schema: Schema | None) -> bool:
    """An object is a record keyed by feature name for a model trained with a header, unless
    it holds its values in a list ({"features": [...]}) as for any model."""
    if schema is None or schema.names is None:
        return False
    return any(k in schema.names for k in value) or not any(k in value for k in RECORD_LIST_KEYS)


def _record(value: Any, index: int, unit: str = "row", schema: Schema | None = None) -> Any:
    if isinstance(value, dict):
        if _keyed_by_name(value, schema):
            return value  # a record keyed by feature name
        for key in RECORD_LIST_KEYS:
            if key in value:
                value = value[key]
                break
        else:
            named = " or by feature name" if schema is not None and schema.names else ""
            raise RequestError(
                f"{unit.capitalize()} {index} is an object without a 'features' list.",
                hint=f'Send each record as a list of values, as {{"features": [...]}}{named}.',
            )
    if not isinstance(value, list):
        value = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(value, list):
        raise RequestError(f"{unit.capitalize()} {index} is not a list of numbers: {value!r:.80}.")
    return value


def _records_to_input(rows: list[Any], schema: Schema, unit: str, numbers: list[int] | None) -> Any:
    """JSON records (lists in training's column order, or objects keyed by feature name) as
    the model's input: numbers (numeric strings too) for numeric features, text for
    categorical ones (a number becomes its text), null or absent for missing."""
    if not rows:
        raise RequestError("The body has no records.")
    names = schema.names
    position = {name: i for i, name in enumerate(names)} if names is not None else {}
    width = schema.n_features
    columns: list[list[Any]] = [[None] * len(rows) for _ in range(width)]
    for r, row in enumerate(rows):
        number = numbers[r] if numbers else r + 1
        if isinstance(row, dict):
            for key, value in row.items():
                i = position.get(key)
                if i is None:
                    if key == schema.label:
                        continue  # a whole training record: the label is not a feature
                    raise RequestError(
                        f"{unit.capitalize()} {number} has {key!r}, which is not a feature of this model.",
                        hint=f"Its features are: {', '.join(names[:40]) if names else ''}.",
                    )
                columns[i][r] = value
        else:
            if len(row) != width:
                raise RequestError(
                    f"{unit.capitalize()} {number} has {len(row)} values, but the model takes {width} features.",
                    hint="Send the features only, in training's column order, without the label"
                    + (", or objects keyed by feature name." if names else "."),
                )
            for i, value in enumerate(row):
                columns[i][r] = value
    if schema.model_input == ARRAY:
        return np.column_stack([_numbers(values, i, schema, unit, numbers) for i, values in enumerate(columns)])
    out = np.empty((len(rows), width), dtype=object)
    for i, (feature, values) in enumerate(zip(schema.features, columns)):
        if feature.kind == NUMERIC:
            out[:, i] = _numbers(values, i, schema, unit, numbers)
        else:
            out[:, i] = [_category(v) for v in values]
    return out


def _numbers(values: list[Any], column: int, schema: Schema, unit: str, numbers: list[int] | None) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for r, value in enumerate(values):
        if value is None:
            out[r] = np.nan
        elif isinstance(value, (int, float)) and not _not_a_float(value):
            out[r] = value
        elif isinstance(value, str) and (value.strip() in MISSING_MARKERS or is_number(value.strip())):
            out[r] = np.nan if value.strip() in MISSING_MARKERS else float(value)
        else:
            number = numbers[r] if numbers else r + 1
            raise RequestError(
                f"{unit.capitalize()} {number}, feature {schema.feature_label(column)}: {value!r:.40} "
                f"{_not_a_float(value) or 'is not a number'}.",
                hint="Training had only numbers in this feature; send a number, or null for a missing value.",
            )
    return out


def _category(value: Any) -> Any:
    """A JSON value as the text a CSV field would hold; missing as NaN."""
    if value is None or (isinstance(value, str) and value.strip() in MISSING_MARKERS):
        return np.nan
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rows_to_array(rows: list[list[Any]], unit: str, numbers: list[int] | None = None) -> np.ndarray:
    if not rows:
        raise RequestError("The body has no records.")
    width = len(rows[0])
    for position, row in enumerate(rows):
        if len(row) != width:
            number = numbers[position] if numbers else position + 1
            first = numbers[0] if numbers else 1
            raise RequestError(
                f"{unit.capitalize()} {number} has {len(row)} values, but {unit} {first} has {width}: "
                "every record needs the same number of features."
            )
    out = np.empty((len(rows), width), dtype=np.float64)
    try:
        # A block of rows per C call, so that no call holds the GIL for long (see load_json).
        for start in range(0, len(rows), ROWS_PER_STEP):
            out[start:start + ROWS_PER_STEP] = rows[start:start + ROWS_PER_STEP]
        return out
    except (TypeError, ValueError, OverflowError):
        pass
    for position, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            problem = _not_a_float(value)
            if problem:
                number = numbers[position] if numbers else position + 1
                raise RequestError(f"{unit.capitalize()} {number}, feature {column}: {value!r:.40} {problem}.") from None
    raise RequestError("The records are not all numbers.")


#: Rows converted to float64 per C call.
ROWS_PER_STEP = 16384


def _not_a_float(value: Any) -> str | None:
    """Why a JSON value is not a feature value (None: it is one; null is a missing value)."""
    if value is None or (isinstance(value, float)):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return "is not a number"
    try:
        float(value)
    except OverflowError:
        return "is too large for a 64-bit float"
    return None


def _decode_npy(body: bytes) -> np.ndarray:
    """An .npy body as float64 rows, read from its header and bytes, never with np.load.

    np.load allocates what the header declares before reading the data: a 200-byte body that
    declares a huge shape reserved tens of GB (issue 12). Here the declared size must be the
    bytes that follow the header, before anything is allocated; then the array is a view of
    the body, converted to float64. Python objects (which np.load would unpickle) are refused
    from the header alone.
    """
    if not body.startswith(NPY_MAGIC):
        # np.load takes anything else for a pickle, and would blame "Python objects".
        raise RequestError(
            "Bad NPY: the body is not an .npy file (it does not start with \\x93NUMPY).",
            hint="Send the bytes np.save writes, or set the Content-Type the body really has.",
        )
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not 1.0 or 2.0 (np.save writes those)")
    except Exception as exc:  # numpy's header parser: ValueError, EOFError, tokenize's TokenError...
        raise RequestError(f"Bad NPY: {str(exc).rstrip('.') or type(exc).__name__}.") from None
    if dtype.hasobject:
        raise RequestError(
            "The NPY array holds Python objects, which this server never unpickles.",
            hint="Send a numeric array (np.save of a float or int array).",
        )
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise RequestError(f"The NPY array has dtype {dtype}; send a numeric array.")
    if len(shape) not in (1, 2) or 0 in shape:
        raise RequestError(f"The NPY array has shape {shape}; send a non-empty 2-D array.")
    count = math.prod(shape)
    offset = stream.tell()
    if count * dtype.itemsize != len(body) - offset:
        raise RequestError(
            f"Bad NPY: the header declares {shape} of {dtype} ({count * dtype.itemsize} bytes), "
            f"but {len(body) - offset} bytes follow it.",
            hint="Send the whole file np.save writes.",
        )
    array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape, order="F" if fortran_order else "C")
    return array.reshape(1, -1).astype(np.float64) if array.ndim == 1 else array.astype(np.float64)


# -- encoding -------------------------------------------------------------------------


def encode(prediction: Any, accept: str, classes: list[Any] | None = None,
           header: list[Any] | None = None) -> bytes:
    """Predictions (one per record; a row of probabilities per record) in the Accept type.

    CSV and JSON Lines give exactly one line per record, which is what batch transform's
    AssembleWith=Line needs to keep outputs aligned with inputs. A CSV answer to CSV that
    started with a header starts with `header` (the label's name, or the classes), so it
    still has a line for every line sent.
    """
    if accept == CSV and header is not None:
        names = ",".join(_csv_value(name) for name in header) + "\n"
        return names.encode() + encode(prediction, accept, classes)
    array = np.asarray(prediction)
    if accept == NPY:
        buffer = io.BytesIO()
        np.save(buffer, array if array.dtype.kind in "biufc" else array.astype(str), allow_pickle=False)
        return buffer.getvalue()
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        # JSON has no NaN or Infinity; json.dumps would write them anyway, and clients choke.
        array = np.where(np.isfinite(array), array, None) if accept != CSV else array
    if accept == CSV:
        return _encode_csv(array)
    values = array.tolist()
    if accept == JSON:
        document: dict[str, Any] = {"predictions": values}
        if classes is not None:
            document["classes"] = classes
        return json.dumps(document, separators=(",", ":")).encode()
    if accept == JSONLINES:
        rows = values if isinstance(values, list) else [values]
        return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()
    raise NotAcceptable(f"Cannot encode predictions as {accept!r}.")


def _encode_csv(array: np.ndarray) -> bytes:
    if array.ndim == 0:
        array = array.reshape(1)
    # Numbers need no quoting: map str (bool, int) or repr (float) straight over the values,
    # which writes what _csv_value would, without a Python call per value.
    text = {"b": str, "i": str, "u": str, "f": repr}.get(array.dtype.kind)
    if text is not None and array.ndim == 1:
        values = array.tolist()
        return ("\n".join(map(text, values)) + "\n").encode() if values else b""
    if text is not None and array.ndim == 2:
        return "".join(",".join(map(text, row)) + "\n" for row in array.tolist()).encode()
    if array.ndim == 1:
        return "".join(f"{_csv_value(v)}\n" for v in array.tolist()).encode()
    return "".join(",".join(_csv_value(v) for v in row) + "\n" for row in array.tolist()).encode()


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
