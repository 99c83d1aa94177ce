"""Batch transform through a real `serve`: one output line per record, in order, per file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import requests

from byoc import transform


def _features(sample_data: dict[str, Path]) -> np.ndarray:
    rows = np.loadtxt(next(sample_data["test"].glob("*.csv")), delimiter=",", ndmin=2)
    return rows[:, 1:]


def test_multi_record_batches_line_up_with_the_input(serve, sample_data, tmp_path: Path) -> None:
    server = serve(env={"SAGEMAKER_BATCH": "true"})
    features = _features(sample_data)
    inputs = tmp_path / "in"
    (inputs / "nested").mkdir(parents=True)
    np.savetxt(inputs / "a.csv", features[:10], delimiter=",", fmt="%g")
    np.savetxt(inputs / "nested" / "b.csv", features[10:], delimiter=",", fmt="%g")

    # A tiny payload limit forces many requests; the answer must not depend on it.
    result = transform.run(server.url, inputs, tmp_path / "out", max_payload_mb=64 / (1024 * 1024))
    assert result.ok, result.files
    assert result.parameters["BatchStrategy"] == "MultiRecord"  # the server says MULTI_RECORD
    assert sum(f.requests for f in result.files) > 2

    single = requests.post(server.url + "/invocations",
                           data="\n".join(",".join(f"{v:g}" for v in row) for row in features),
                           headers={"Content-Type": "text/csv"}, timeout=30)
    expected = single.text.splitlines()
    got = ((tmp_path / "out" / "a.csv.out").read_text().splitlines()
           + (tmp_path / "out" / "nested" / "b.csv.out").read_text().splitlines())
    assert got == expected and len(got) == len(features)


def test_single_record_and_json_lines(serve, sample_data, tmp_path: Path) -> None:
    server = serve()
    features = _features(sample_data)[:5]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f"[{', '.join(f'{v:g}' for v in row)}]\n" for row in features))
    result = transform.run(server.url, source, tmp_path / "out", content_type="application/jsonlines",
                           accept="application/jsonlines", strategy="SingleRecord")
    assert result.ok, result.files
    assert result.files[0].requests == 5
    assert len((tmp_path / "out" / "in.jsonl.out").read_text().splitlines()) == 5


def test_a_bad_file_gets_no_output_and_the_others_go_on(serve, sample_data, tmp_path: Path) -> None:
    server = serve()
    inputs = tmp_path / "in"
    inputs.mkdir()
    np.savetxt(inputs / "good.csv", _features(sample_data)[:3], delimiter=",", fmt="%g")
    (inputs / "bad.csv").write_text("1,2,3,4\n1,2,x,4\n")
    result = transform.run(server.url, inputs, tmp_path / "out")
    by_name = {f.source.name: f for f in result.files}
    assert by_name["bad.csv"].output is None and "400" in by_name["bad.csv"].error
    assert "row 2, column 3" in by_name["bad.csv"].error
    assert by_name["good.csv"].error is None
    assert not (tmp_path / "out" / "bad.csv.out").exists()
    assert len((tmp_path / "out" / "good.csv.out").read_text().splitlines()) == 3
