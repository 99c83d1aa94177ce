"""Training channels with text columns and missing values, read by pandas' C parser.

pandas was chosen over pyarrow's CSV reader by measuring both on a bank-like table (see the
commit that added it): as fast on two cores, a lower peak, and the DataFrame the model is
fitted on either way. Requests are small and many, so serving reads them with the csv module
instead (codecs); both take a number, a category and a missing value alike (tabular's rules).

Column types are inferred unless given: a column of numbers is numeric (float64), anything
else text. A field is missing when it is empty or one of tabular.MISSING_MARKERS. pandas
reads True/False as booleans and may infer a column chunk by chunk; such columns are read
again as text, so a category is always the text the file held, as a request will send it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Mapping

import numpy as np

from .schema import CATEGORICAL, NUMERIC
from .tabular import MISSING_MARKERS

if TYPE_CHECKING:
    import pandas as pd

class FrameError(ValueError):
    """pandas refused the text (its own words); the caller locates the line."""


def read(open_stream: Callable[[], BinaryIO], *, header: bool,
         kinds: Mapping[Any, str] | None = None) -> "pd.DataFrame":
    """The CSV as a DataFrame: numeric columns float64, text columns strings (missing: NaN).

    `kinds` forces columns (by header name, or by 0-based position without a header) to
    NUMERIC or CATEGORICAL; the others are inferred. `open_stream` may be called twice (a
    column pandas read as booleans or as a mix of types is read again as text). Columns are
    named by the header, or numbered from 0. Raises FrameError.
    """
    forced = {column: _DTYPES[kind] for column, kind in (kinds or {}).items()}
    frame = _read_csv(open_stream, header, forced)
    again = [c for c in frame.columns if c not in forced and not _settled(frame[c])]
    if again:
        forced.update({c: str for c in again})
        frame = _read_csv(open_stream, header, forced)
    for column in frame.columns:
        if frame[column].dtype.kind in "iub":
            frame[column] = frame[column].astype(np.float64)
    return frame


def is_numeric(series: "pd.Series") -> bool:
    return series.dtype.kind in "iuf"


_DTYPES: dict[str, Any] = {NUMERIC: np.float64, CATEGORICAL: str}


def _settled(series: "pd.Series") -> bool:
    """A column pandas typed as numbers, or as text throughout (not booleans, not a mix)."""
    import pandas as pd

    kind = series.dtype.kind
    if kind in "iuf":
        return True
    if kind == "b":
        return False
    if isinstance(series.dtype, pd.StringDtype):
        return True  # strings or missing, by the dtype's own guarantee
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


def _read_csv(open_stream: Callable[[], BinaryIO], header: bool, dtype: Mapping[Any, Any]) -> "pd.DataFrame":
    import pandas as pd

    try:
        with open_stream() as stream, warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # _settled() handles those columns
            return pd.read_csv(
                stream, header=0 if header else None, dtype=dict(dtype) or None,
                na_values=list(MISSING_MARKERS), keep_default_na=False, skip_blank_lines=True,
                encoding="utf-8-sig", engine="c",
            )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise FrameError(" ".join(str(exc).split()) or type(exc).__name__) from None
