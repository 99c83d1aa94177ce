"""Payload codecs for /invocations: request bodies to arrays, predictions to response bodies.

Pure functions, no HTTP. Media types are compared without parameters and case
("text/csv; charset=utf-8" is text/csv). NPY is read with allow_pickle=False, so a request
can never make the server unpickle anything.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from .errors import NotAcceptable, RequestError, UnsupportedMediaType
from .tabular import CsvError, parse as parse_csv

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
NPY_MAGIC = b"\x93NUMPY"
ENCODABLE = (CSV, JSON, JSONLINES, NPY)


def media_type(header: str | None) -> str | None:
    """The bare, lower-case media type of a Content-Type or Accept item; None when empty."""
    if not header:
        return None
    bare = header.split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare) or None


def choose_accept(accept: str | None, content_type: str | None, default: str | None,
                  *, custom: bool = False) -> str:
    """The response type for an Accept header.

    Items are tried by their q-value, then in the order given. With no Accept, or one that
    accepts anything, the answer is `default` (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT) when
    set, else the request's own type when it can be encoded, else JSON. With `custom` (the
    user's output_fn or transform_fn encodes), any concrete type is theirs to answer.
    """
    fallback = media_type(default) or (
        media_type(content_type) if media_type(content_type) in ENCODABLE else JSON
    )
    if not accept or not accept.strip():
        return fallback
    ranked = []
    for position, item in enumerate(accept.split(",")):
        kind = media_type(item)
        if not kind:
            continue
        quality = 1.0
        for param in item.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, kind))
    for _, _, kind in sorted(ranked):
        if kind in ENCODABLE or (custom and "*" not in kind):
            return kind
        if kind in ("*/*", "application/*", "text/*"):
            wildcard = kind.split("/")[0]
            if wildcard == "*" or fallback.startswith(wildcard + "/"):
                return fallback
            return next(t for t in ENCODABLE if t.startswith(wildcard + "/"))
    raise NotAcceptable(
        f"Cannot answer in {accept!r}.", hint=f"Accept one of: {', '.join(ENCODABLE)}."
    )


# -- decoding -------------------------------------------------------------------------


def decode(body: bytes, content_type: str | None) -> np.ndarray:
    """A request body as a 2-D float array, one row per record."""
    kind = media_type(content_type) or JSON
    if kind not in DECODABLE:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported.",
            hint=f"Send one of: {', '.join(DECODABLE)}.",
        )
    if not body or body.isspace():  # as `not body.strip()`, without copying a large body
        raise RequestError("The request body is empty.", hint="Send at least one record.")
    if kind == CSV:
        return _decode_csv(body)
    if kind == JSON:
        return _decode_json(body)
    if kind == JSONLINES:
        return _decode_jsonlines(body)
    return _decode_npy(body)


def _decode_csv(body: bytes) -> np.ndarray:
    try:
        array = parse_csv(body)
    except CsvError as exc:
        hint = "Send header-less CSV: one record per line, numeric features only."
        if exc.looks_like_header:
            hint = "The first line looks like a header row: send the records without it."
        where = str(exc).replace("line", "row", 1) if exc.line is not None else str(exc)
        raise RequestError(f"Bad CSV: {where}.", hint=hint) from None
    if array.shape[0] == 0:
        raise RequestError("The CSV body has no records.")
    return array


def _decode_json(body: bytes) -> np.ndarray:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"Bad JSON: {exc}.") from None
    if isinstance(document, dict):
        for key in ("instances", "inputs", "features", "data"):
            if key in document:
                document = document[key]
                break
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
    return _rows_to_array([_record(row, index) for index, row in enumerate(document, start=1)], "row")


def _decode_jsonlines(body: bytes) -> np.ndarray:
    rows = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(f"Bad JSON Lines: line {number}: {exc}.") from None
        rows.append((number, _record(value, number, "line")))
    return _rows_to_array([r for _, r in rows], "line", numbers=[n for n, _ in rows])


def _record(value: Any, index: int, unit: str = "row") -> list[Any]:
    if isinstance(value, dict):
        for key in ("features", "instance", "values"):
            if key in value:
                value = value[key]
                break
        else:
            raise RequestError(
                f"{unit.capitalize()} {index} is an object without a 'features' list.",
                hint='Send each record as a list of numbers, or as {"features": [...]}.',
            )
    if not isinstance(value, list):
        value = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(value, list):
        raise RequestError(f"{unit.capitalize()} {index} is not a list of numbers: {value!r:.80}.")
    return value


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
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except (TypeError, ValueError):
        pass
    for position, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            if isinstance(value, bool) or not isinstance(value, (int, float)) and value is not None:
                number = numbers[position] if numbers else position + 1
                raise RequestError(
                    f"{unit.capitalize()} {number}, feature {column}: {value!r:.40} is not a number."
                ) from None
    raise RequestError("The records are not all numbers.")


def _decode_npy(body: bytes) -> np.ndarray:
    if not body.startswith(NPY_MAGIC):
        # np.load takes anything else for a pickle, and would blame "Python objects".
        raise RequestError(
            "Bad NPY: the body is not an .npy file (it does not start with \\x93NUMPY).",
            hint="Send the bytes np.save writes, or set the Content-Type the body really has.",
        )
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise RequestError(
                "The NPY array holds Python objects, which this server never unpickles.",
                hint="Send a numeric array (np.save of a float or int array).",
            ) from None
        raise RequestError(f"Bad NPY: {exc}.") from None
    except (OSError, EOFError) as exc:
        raise RequestError(f"Bad NPY: {exc}.") from None
    if array.dtype.kind not in "biuf":
        raise RequestError(f"The NPY array has dtype {array.dtype}; send a numeric array.")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[0] == 0:
        raise RequestError(f"The NPY array has shape {array.shape}; send a non-empty 2-D array.")
    return array.astype(np.float64, copy=False)


# -- encoding -------------------------------------------------------------------------


def encode(prediction: Any, accept: str, classes: list[Any] | None = None) -> bytes:
    """Predictions (one per record; a row of probabilities per record) in the Accept type.

    CSV and JSON Lines give exactly one line per record, which is what batch transform's
    AssembleWith=Line needs to keep outputs aligned with inputs.
    """
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
