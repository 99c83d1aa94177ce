"""What the CLI tells a user to type: the curl lines `byoc local serve` prints, and option help."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from byoc.commands.local import IRIS_ROW, curl_lines, example_row


def metadata(tmp_path: Path, features: list[dict], n_features: int) -> Path:
    (tmp_path / "metadata.json").write_text(json.dumps({"features": features, "n_features": n_features}))
    return tmp_path


def json_body(lines: str) -> object:
    line = next(l for l in lines.splitlines() if "application/json" in l)
    return json.loads(shlex.split(line)[-1])


def test_a_model_trained_without_a_header_gets_list_rows_not_objects_keyed_none(tmp_path: Path) -> None:
    # what train writes for SageMaker's headerless CSV: every feature's name is null
    model = metadata(tmp_path, [{"column": c, "kind": "numeric", "name": None} for c in range(1, 5)], 4)
    assert example_row(model) == (IRIS_ROW, [])
    assert json_body(curl_lines("http://127.0.0.1:8080", model)) == [IRIS_ROW]


def test_a_headerless_model_of_another_width_gets_that_many_zeros(tmp_path: Path) -> None:
    model = metadata(tmp_path, [{"column": c, "kind": "numeric", "name": None} for c in range(1, 8)], 7)
    assert json_body(curl_lines("http://127.0.0.1:8080", model)) == [[0] * 7]


def test_a_model_trained_with_a_header_gets_objects_keyed_by_name(tmp_path: Path) -> None:
    model = metadata(tmp_path, [{"column": 1, "kind": "numeric", "name": "age"},
                                {"column": 2, "kind": "categorical", "name": "job", "categories": ["admin."]}], 2)
    assert json_body(curl_lines("http://127.0.0.1:8080", model)) == {"instances": [{"age": 0, "job": "admin."}]}


def test_the_image_option_of_local_process_says_it_runs_process() -> None:
    from byoc import cli

    sub = cli.build_parser()._subparsers._group_actions[0].choices["local"]
    helps = sub._subparsers._group_actions[0].choices["process"].format_help()
    assert "docker run IMAGE train|serve|process" in " ".join(helps.split())
