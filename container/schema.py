"""The features a model takes and where its label was: what `train` saw, kept for `serve`.

`train` builds a Schema from the training channel and the hyperparameters label_column and
categorical_columns, and writes it into metadata.json; `serve` reads it back to decode
requests: CSV with or without the training header, JSON rows, JSON objects keyed by name.
A schema without names and without categorical features is the plain numeric model, whose
requests keep the fast numeric path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence

from .errors import ConfigError

NUMERIC, CATEGORICAL = "numeric", "categorical"
#: How a feature came to be categorical: it held text, or categorical_columns named it.
INFERRED, FORCED = "inferred", "categorical_columns"

#: What the model takes: a float64 array, or (with categorical features) rows of objects, a
#: 2-D object array of floats and strings in training's column order. train fits it on a
#: DataFrame whose columns are numbered 0, 1, 2... like the array's, so either works.
ARRAY, OBJECTS = "array", "objects"


@dataclass(frozen=True)
class Feature:
    name: str | None  # None when the training files had no header
    kind: str = NUMERIC
    categories: tuple[Any, ...] = ()  # the categories training saw, sorted
    source: str = INFERRED


@dataclass(frozen=True)
class Schema:
    features: tuple[Feature, ...]
    #: The label column: its name when the files had a header, else its 0-based position.
    label: str | int = 0
    #: The training files' header, label included, in file order; None without one.
    header: tuple[str, ...] | None = None
    #: Columns 0-based in the file, label included: where each feature came from.
    positions: tuple[int, ...] = field(default=())

    @classmethod
    def numeric(cls, n_features: int) -> "Schema":
        """Header-less numeric CSV with the label first: SageMaker's built-in convention."""
        return cls(tuple(Feature(None) for _ in range(n_features)), 0, None,
                   tuple(range(1, n_features + 1)))

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def names(self) -> tuple[str, ...] | None:
        if self.header is None:
            return None
        return tuple(f.name or "" for f in self.features)

    @cached_property  # asked on every request
    def categorical(self) -> list[int]:
        """Positions (among the features) of the categorical features."""
        return [i for i, f in enumerate(self.features) if f.kind == CATEGORICAL]

    @cached_property
    def numeric_features(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == NUMERIC]

    @property
    def model_input(self) -> str:
        return OBJECTS if self.categorical else ARRAY

    @cached_property
    def plain(self) -> bool:
        """No names and no categories: requests are header-less numeric rows, as always."""
        return self.header is None and not self.categorical


    def with_categories(self, categories: list[tuple[Any, ...]]) -> "Schema":
        """This schema with the categories of its categorical features, in their order."""
        found = iter(categories)
        return replace(self, features=tuple(
            replace(f, categories=next(found)) if f.kind == CATEGORICAL else f for f in self.features))

    def describe(self, position: int) -> str:
        """A feature as training's messages name it: 'age', or column 3 of the files."""
        name = self.features[position].name
        if name is not None:
            return f"'{name}'"
        column = self.positions[position] if self.positions else position + 1
        return f"column {column + 1}"

    def feature_label(self, position: int) -> str:
        """A feature as a request's errors name it: 'age', or 3 (among the features)."""
        name = self.features[position].name
        return f"'{name}'" if name is not None else str(position + 1)

    def label_position(self) -> int:
        """The label's 0-based column in the training files."""
        if isinstance(self.label, int):
            return self.label
        assert self.header is not None
        return self.header.index(self.label)

    def file_kinds(self) -> dict[int, str]:
        """NUMERIC or CATEGORICAL for each feature column, by its position in the file."""
        return {p: f.kind for p, f in zip(self.positions, self.features)}

    # -- metadata.json --------------------------------------------------------------------

    def to_metadata(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.names) if self.names is not None else None,
            "label_column": self.label,
            "header": list(self.header) if self.header is not None else None,
            "model_input": self.model_input,
            "features": [
                {"name": f.name, "column": p, "kind": f.kind,
                 **({"categories": list(f.categories), "source": f.source} if f.kind == CATEGORICAL else {})}
                for f, p in zip(self.features, self.positions)
            ],
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "Schema | None":
        """The schema a metadata.json describes; a plain numeric one for models trained
        before schemas were recorded (n_features only), None when it says nothing."""
        described = metadata.get("features")
        if isinstance(described, list):
            features = tuple(
                Feature(d.get("name"), d.get("kind", NUMERIC), tuple(d.get("categories") or ()),
                        d.get("source", INFERRED))
                for d in described
            )
            header = metadata.get("header")
            positions = tuple(int(d.get("column", i + 1)) for i, d in enumerate(described))
            return cls(features, metadata.get("label_column", 0),
                       tuple(header) if header is not None else None, positions)
        if isinstance(metadata.get("n_features"), int):
            return cls.numeric(metadata["n_features"])
        return None


def resolve_column(ref: Any, header: Sequence[str] | None, width: int, what: str) -> int:
    """The 0-based file column a hyperparameter names: a header name, or a position."""
    if isinstance(ref, str) and header is not None and ref in header:
        return list(header).index(ref)
    position = _as_position(ref)
    if position is not None:
        if 0 <= position < width:
            return position
        raise ConfigError(
            f"{what}={ref!r} is not a column: the files have {width} (positions 0 to {width - 1})."
        )
    if header is None:
        raise ConfigError(
            f"{what}={ref!r} names a column, but the files have no header.",
            hint="Set the channel's ContentType to text/csv;header=present, or give the "
            "column's 0-based position.",
        )
    raise ConfigError(
        f"{what}={ref!r} is not a column of the training data.",
        hint=f"The columns are: {', '.join(header[:40])}{' ...' if len(header) > 40 else ''}.",
    )


def column_list(value: Any) -> list[Any]:
    """categorical_columns as given: a JSON list, or names or positions separated by commas."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return [item.strip() for item in str(value).split(",") if item.strip()]
    raise ConfigError(f"categorical_columns={value!r} is not a list of column names or positions.")


def _as_position(ref: Any) -> int | None:
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str) and ref.strip().lstrip("-").isdigit():
        return int(ref)
    return None


def categories_of(values: Iterable[Any]) -> tuple[Any, ...]:
    """Sorted distinct values, missing ones left out (they are not a category)."""
    seen = {v for v in values if v is not None and (isinstance(v, str) or v == v)}  # NaN != NaN
    return tuple(sorted(seen, key=lambda v: (not isinstance(v, str), str(v))))
