"""Batch transform, emulated against a running server the way SageMaker drives the container.

SageMaker asks GET /execution-parameters, splits each input file into records
(SplitType=Line), packs as many whole records as fit under MaxPayloadInMB into one request
(MultiRecord) or sends them one by one (SingleRecord), keeps up to MaxConcurrentTransforms
requests open, and writes one `<file>.out` per input file. A file with a failed request gets
no .out file; the others go on. Unlike SDK local mode, this accepts both spellings of the
strategy, counts the payload in bytes, and checks that the output has one line per record.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

#: BatchStrategy's values as CreateTransformJob spells them; the one definition (byoc.aws.transform
#: checks --strategy against it too). The runtime's /execution-parameters spells them MULTI_RECORD.
STRATEGIES = ("MultiRecord", "SingleRecord")
DEFAULTS = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}


@dataclass
class FileResult:
    source: Path
    output: Path | None
    records: int
    requests: int
    error: str | None = None


@dataclass
class TransformResult:
    parameters: dict[str, object]
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.error is None for f in self.files)


def normalise_strategy(value: str) -> str:
    """Any spelling (MultiRecord, MULTI_RECORD, multi-record) -> the API's (MultiRecord)."""
    key = value.replace("-", "").replace("_", "").upper()
    for strategy in STRATEGIES:
        if strategy.upper() == key:
            return strategy
    raise ValueError(f"BatchStrategy {value!r} is not {' or '.join(STRATEGIES)}")


def execution_parameters(url: str, overrides: dict[str, object]) -> dict[str, object]:
    """The job's values, else the container's, else the platform defaults (that precedence)."""
    found: dict[str, object] = dict(DEFAULTS)
    try:
        with urllib.request.urlopen(url + "/execution-parameters", timeout=10) as response:
            found.update(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    found.update({k: v for k, v in overrides.items() if v is not None})
    found["BatchStrategy"] = normalise_strategy(str(found["BatchStrategy"]))
    return found


def batches(records: list[bytes], strategy: str, max_payload_mb: float) -> list[list[bytes]]:
    """Group Line-split records into request bodies; a record over the limit is an error."""
    if strategy == "SingleRecord":
        return [[r] for r in records]
    limit = int(max_payload_mb * 1024 * 1024) if max_payload_mb else None
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if limit is not None and len(record) > limit:
            raise ValueError(f"a record of {len(record)} bytes is over MaxPayloadInMB={max_payload_mb}")
        if current and limit is not None and size + len(record) > limit:
            groups.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        groups.append(current)
    return groups


def run(url: str, inputs: Path, output: Path, *, content_type: str = "text/csv",
        accept: str | None = None, strategy: str | None = None,
        max_payload_mb: float | None = None, max_concurrent: int | None = None) -> TransformResult:
    """Transform every file under `inputs` (SplitType=Line, AssembleWith=Line) into `output`."""
    params = execution_parameters(url, {"BatchStrategy": strategy, "MaxPayloadInMB": max_payload_mb,
                                        "MaxConcurrentTransforms": max_concurrent})
    result = TransformResult(params)
    files = sorted(p for p in inputs.rglob("*") if p.is_file()) if inputs.is_dir() else [inputs]
    root = inputs if inputs.is_dir() else inputs.parent
    for source in files:
        result.files.append(_transform_file(url, source, output / (source.relative_to(root).as_posix() + ".out"),
                                            params, content_type, accept))
    return result


def _transform_file(url: str, source: Path, target: Path, params: dict[str, object],
                    content_type: str, accept: str | None) -> FileResult:
    records = [line for line in source.read_bytes().splitlines(keepends=True) if line.strip()]
    outcome = FileResult(source, None, len(records), 0)
    try:
        groups = batches(records, str(params["BatchStrategy"]), float(params["MaxPayloadInMB"]))
    except ValueError as exc:
        outcome.error = str(exc)
        return outcome
    outcome.requests = len(groups)
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}

    def post(group: list[bytes]) -> bytes:
        body = b"".join(r if r.endswith(b"\n") else r + b"\n" for r in group)
        request = urllib.request.Request(url + "/invocations", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.read()

    try:
        with ThreadPoolExecutor(max_workers=max(1, int(params["MaxConcurrentTransforms"]))) as pool:
            answers = list(pool.map(post, groups))
    except urllib.error.HTTPError as exc:
        outcome.error = f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}"
        return outcome
    lines = sum(a.count(b"\n") + (0 if a.endswith(b"\n") or not a else 1) for a in answers)
    if lines != len(records):
        outcome.error = f"{len(records)} records in, {lines} lines out: output would not line up with input"
        return outcome
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(a if a.endswith(b"\n") else a + b"\n" for a in answers))
    outcome.output = target
    return outcome
