"""Benchmarks for serving and training: speed and memory against floors measured in the same run.

    .venv/bin/pip install -e '.[bench]'       # matplotlib and pandas (the comparison)
    apt-get install -y wrk                    # the load generator (Debian/Ubuntu)
    .venv/bin/python benchmarks/run.py --quick                # a sanity run, about 2 minutes
    .venv/bin/python benchmarks/run.py                        # the full run, about 10 minutes
    .venv/bin/python benchmarks/run.py --only serving,memory  # some sections

Sections (issue 5, issue 11):
  serving   one-row CSV and JSON /invocations under wrk (keep-alive) at concurrency 1, 8, 32,
            against the same gunicorn configuration serving a bare WSGI callable (the floor).
  batching  one-row CSV under wrk, each model served batched (BYOC_BATCH_MAX_ROWS=256) and
            unbatched (=1) side by side: the default 100-tree random forest at 1, 8 and 32
            connections, a decision tree and the logistic regression at 8 (those two also against
            the bare floor, in the configuration `serve` chooses for them by default).
  payloads  6 MB and 50 MB CSV bodies end to end, against decode + predict + encode in a
            process that waits between repeats as the server's worker does (the in-process
            floor, benchmarks/inprocess_floor.py) and in this busy one; the CSV decoder
            against pandas.read_csv.
  startup   `serve` start to the first 200 from /ping and to the first prediction, for a small
            and a large (~500 MB) model, the large one in each of MODEL_FORMATS; /ping green after
            the "Model loaded" log line.
  memory    total PSS of the server's processes (master + workers) with 1, 2, 4 workers on the
            large model, after every worker has predicted, and the master's peak RSS while loading,
            for each way of saving it (MODEL_FORMATS: skops with memory-mapped .npy arrays, the
            default; joblib memory-mapped, as before issue 12; skops with the arrays inside).
  training  load time and peak RSS of a ~1 GB CSV channel (several files), each method in its
            own process, against pandas.read_csv on the same files.
  tables    issue 9's targets for real tables (byoc.sample's bank data: a header, text columns,
            empty fields): the training load of such a channel against pandas.read_csv (time,
            and peak RSS against the loaded frame), and one-row request latency of a model
            trained on it against one trained on its numeric columns only (same estimator).

Everything runs on 127.0.0.1; generated data lives in a temporary folder that is removed at the
end. Results: a table on stdout, benchmarks/results/results.json and one PNG per section. Times
on a shared machine drift, so the targets are ratios within one run, never across runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from byoc.local import free_port, python_env  # noqa: E402
from container import artifacts, fastcsv  # noqa: E402
from container.paths import Paths  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FEATURES = 20


@dataclass
class Config:
    quick: bool
    duration: float  # seconds per wrk point
    concurrency: tuple[int, ...] = (1, 8, 32)
    rounds: int = 5  # every serving point is measured this many times, interleaved; medians kept
    payload_mb: tuple[float, ...] = (6, 50)
    payload_repeats: int = 10
    big_model_mb: float = 500
    startup_repeats: int = 3
    workers: tuple[int, ...] = (1, 2, 4)
    train_gb: float = 1.0
    train_files: int = 8
    train_repeats: int = 2
    table_rows: int = 3_000_000
    table_files: int = 4
    latency_requests: int = 400

    @classmethod
    def make(cls, args: argparse.Namespace) -> "Config":
        if args.quick:
            config = cls(quick=True, duration=2, rounds=1, payload_mb=(6, 20), payload_repeats=3, big_model_mb=60,
                         startup_repeats=1, train_gb=0.1, train_files=4, train_repeats=1, table_rows=300_000,
                         latency_requests=100)
        else:
            config = cls(quick=False, duration=3, payload_repeats=20)
        if args.duration:
            config.duration = args.duration
        if args.big_model_mb:
            config.big_model_mb = args.big_model_mb
        if args.train_gb:
            config.train_gb = args.train_gb
        return config


@dataclass
class Report:
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, section: str, case: str, value: float, unit: str, *, reference: float | None = None,
            reference_name: str = "", target: str = "", met: bool | None = None) -> None:
        self.rows.append({
            "section": section, "case": case, "value": value, "unit": unit, "reference": reference,
            "reference_name": reference_name,
            "ratio": (value / reference) if reference else None, "target": target, "met": met,
        })


# -- data and models ---------------------------------------------------------------------------


def csv_rows(array: np.ndarray, label: np.ndarray | None = None) -> bytes:
    """Rows as pandas' to_csv writes floats (shortest repr, up to 17 digits), no header."""
    lines = []
    for i, row in enumerate(array.tolist()):
        values = ",".join(map(repr, row))
        lines.append(f"{int(label[i])},{values}" if label is not None else values)
    return ("\n".join(lines) + "\n").encode()


def csv_payload(size_mb: float, seed: int = 1) -> bytes:
    """About size_mb of feature rows: a distinct 2 MB block repeated (parsing cost is the same)."""
    rng = np.random.default_rng(seed)
    block = csv_rows(rng.standard_normal((5000, FEATURES)))
    target = int(size_mb * 1024 * 1024)
    body = block * (target // len(block) + 1)
    cut = body.rfind(b"\n", 0, target) + 1
    return body[:cut]


def one_row() -> bytes:
    return csv_payload(0.5).split(b"\n", 1)[0] + b"\n"


def save_model(base: Path, estimator: Any, **options: Any) -> Paths:
    paths = Paths(base)
    artifacts.save(paths.model_dir, estimator, {"estimator": type(estimator).__name__, "task": "classification"},
                   **options)
    return paths


def model_bytes(paths: Paths) -> int:
    """The size of every file of the model (metadata.json aside)."""
    return sum(p.stat().st_size for p in paths.model_dir.rglob("*")
               if p.is_file() and p.name != artifacts.METADATA_FILE)


def small_model(base: Path) -> Paths:
    """Logistic regression: predict() is a few microseconds, so the server is what is measured."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, FEATURES))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return save_model(base, LogisticRegression().fit(X, y))


#: How the large model is saved: the runtime's default first, then what it is compared with.
MODEL_FORMATS = {
    "skops, arrays mapped": {},  # the default: model.skops, large arrays as .npy files, memory-mapped
    "joblib, mmap": {"format": artifacts.JOBLIB},  # the format before issue 12: a pickle
    "skops, arrays inside": {"array_file_min_bytes": None},  # plain skops: every array read into memory
}


def big_model(base: Path, size_mb: float) -> dict[str, tuple[Paths, int]]:
    """k-nearest neighbours (brute force) holding size_mb of float64 training rows: an estimator
    whose memory is one big array, as a large forest's is many; predict() reads all of it.
    Saved once per MODEL_FORMATS entry: {format: (paths, bytes of model files)}."""
    from sklearn.neighbors import KNeighborsClassifier

    rows = int(size_mb * 1024 * 1024 / 8 / FEATURES)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, FEATURES))
    y = (X[:, 0] > 0).astype(np.int8)
    model = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, y)
    saved = {}
    for index, (name, options) in enumerate(MODEL_FORMATS.items()):
        paths = save_model(base / f"format-{index}", model, **options)
        saved[name] = (paths, model_bytes(paths))
    del model, X, y
    return saved


# -- processes -------------------------------------------------------------------------------


class Process:
    """`serve` (or the floor) on 127.0.0.1, its log lines stamped with time.monotonic()."""

    def __init__(self, base: Path, command: list[str] | None = None, **env: str) -> None:
        self.port = free_port()
        environment = python_env(base, {"SAGEMAKER_BIND_TO_PORT": str(self.port),
                                        "BYOC_BIND_HOST": "127.0.0.1", **env})
        self.command = command or [sys.executable, "-m", "container.server"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.command, env=environment, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line))

    @property
    def log(self) -> str:
        return "".join(line for _, line in self.lines)

    def line_time(self, pattern: str) -> tuple[float, str] | None:
        for stamp, line in self.lines:
            if re.search(pattern, line):
                return stamp, line
        return None

    def wait_ping(self, timeout: float = 120, interval: float = 0.01) -> float:
        """Monotonic time of the first 200 from /ping."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited {self.process.returncode}:\n{self.log}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/ping")
                if connection.getresponse().status == 200:
                    connection.close()
                    return time.monotonic()
                connection.close()
            except OSError:
                pass
            time.sleep(interval)
        raise TimeoutError(f"no 200 from /ping within {timeout} s:\n{self.log}")

    def pids(self) -> list[int]:
        """The master and its workers."""
        found = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            found += [int(p) for p in children.read_text().split()]
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post(port: int, body: bytes, content_type: str = "text/csv", accept: str = "text/csv",
         connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    if connection.sock is None:
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # A memoryview is sent as it is; bytes would be copied onto the headers first (http.client
    # does that to save a packet), which for 50 MB is the client's cost, not the server's.
    connection.request("POST", "/invocations", body=memoryview(body) if len(body) > 65536 else body,
                       headers={"Content-Type": content_type, "Accept": accept})
    response = connection.getresponse()
    data = response.read()
    if own:
        connection.close()
    return response.status, data


# -- wrk -------------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def need_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu; brew install wrk on macOS)")
    return path


def wrk(port: int, body_file: Path, content_type: str, connections: int, duration: float,
        scratch: Path) -> dict[str, float]:
    script = scratch / f"post-{content_type.replace('/', '_')}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = io.open("{body_file}", "rb")\n'
        "wrk.body = f:read(\"*a\")\n"
        "f:close()\n"
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'wrk.headers["Accept"] = "{content_type}"\n'
    )
    command = [need_wrk(), "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s",
               "-s", str(script), f"http://127.0.0.1:{port}/invocations"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M))

    def ms(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(number) * UNITS[unit]

    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms(latency["50"]),
        "p99_ms": ms(latency["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": errors,
    }


# -- sections ---------------------------------------------------------------------------------


def cpu_by_pid(process: Process) -> dict[int, float]:
    """User + system CPU seconds of the server's processes (master first) so far."""
    found = {}
    for pid in process.pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def cpu_seconds(process: Process) -> float:
    return sum(cpu_by_pid(process).values())


def busiest_share(before: dict[int, float], after: dict[int, float], master: int) -> float:
    """The share of the workers' CPU that the busiest worker spent: 1/workers when the load
    was spread evenly, 1.0 when one worker served every connection."""
    used = {pid: after[pid] - before.get(pid, 0.0) for pid in after if pid != master}
    total = sum(used.values())
    return max(used.values()) / total if total > 0 else 1.0


def measured_wrk(target: Process, body: Path, kind: str, connections: int, duration: float,
                 scratch: Path) -> dict[str, Any]:
    """A wrk run, with the server's CPU per request and how its workers shared the load.

    gthread keeps a keep-alive connection on the worker that accepted it, and wrk's connections
    often all land on one worker: half the capacity, by chance. A run like that is made again
    (up to 3 more times), so that runs compare the configuration's capacity rather than the luck
    of the accept.
    """
    for attempt in range(4):
        cpu = cpu_by_pid(target)
        result: dict[str, Any] = wrk(target.port, body, kind, connections, duration, scratch)
        after = cpu_by_pid(target)
        result["server_cpu_us"] = (sum(after.values()) - sum(cpu.values())) / max(1, result["requests"]) * 1e6
        result["busiest_worker_share"] = busiest_share(cpu, after, target.process.pid)
        result["attempts"] = attempt + 1
        if connections < 2 or len(after) < 3 or result["busiest_worker_share"] <= 0.75:
            break
    return result


def bench_serving(config: Config, scratch: Path, report: Report) -> None:
    from benchmarks.noop_model import ConstantModel

    need_wrk()
    paths = small_model(scratch / "small")
    noop = save_model(scratch / "noop", ConstantModel(FEATURES))
    rng = np.random.default_rng(5)
    row = rng.standard_normal(FEATURES)
    bodies = {
        "text/csv": scratch / "row.csv",
        "application/json": scratch / "row.json",
    }
    bodies["text/csv"].write_text(",".join(map(repr, row.tolist())) + "\n")
    bodies["application/json"].write_text(json.dumps([row.tolist()]))
    floor_command = [sys.executable, str(ROOT / "benchmarks" / "floor_server.py")]
    results: list[dict[str, Any]] = []
    with Process(paths.base) as serve, Process(paths.base, floor_command) as floor, Process(noop.base) as bare:
        for process in (serve, floor, bare):
            process.wait_ping()
        for kind, body in bodies.items():  # the answers are right before anything is timed
            status, answer = post(serve.port, body.read_bytes(), kind, kind)
            assert status == 200, answer
        for target in (floor, serve, bare):  # warm up: first requests, lazy imports, caches
            wrk(target.port, bodies["text/csv"], "text/csv", 8, 1, scratch)
        rounds: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_ in range(config.rounds):
            for connections in config.concurrency:
                # Interleaved, so that drift on a shared machine hits the floor and the server alike.
                runs = [("floor", floor, "text/csv"), ("csv", serve, "text/csv"),
                        ("json", serve, "application/json"), ("csv-noop", bare, "text/csv")]
                for name, target, kind in runs:
                    result = measured_wrk(target, bodies[kind], kind, connections, config.duration, scratch)
                    rounds.setdefault((name, connections), []).append(result)
                    print(f"  serving round {round_ + 1} {name:8} c={connections:<3} {result['rps']:8.0f} rps  "
                          f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  server CPU "
                          f"{result['server_cpu_us']:.0f} us/request  busiest worker "
                          f"{result['busiest_worker_share']:.0%}  errors {result['errors']}", flush=True)
        for (name, connections), runs_ in rounds.items():
            floors = rounds[("floor", connections)]
            point: dict[str, Any] = {key: statistics.median(r[key] for r in runs_)
                                     for key in ("rps", "p50_ms", "p99_ms", "server_cpu_us")}
            # Each run against the floor run just before it: the least disturbed comparison.
            pairs = list(zip(runs_, floors))
            # Like with like: rounds where both runs spread their connections over the workers
            # alike (both balanced, or both on one worker), when there are any.
            alike = [(r, f) for r, f in pairs
                     if (r["busiest_worker_share"] > 0.75) == (f["busiest_worker_share"] > 0.75)]
            point["rounds_alike"] = len(alike)
            pairs = alike or pairs
            point["rps_ratio"] = statistics.median(r["rps"] / f["rps"] for r, f in pairs)
            point["p99_ratio"] = statistics.median(r["p99_ms"] / f["p99_ms"] for r, f in pairs)
            point["rps_ratio_all_rounds"] = statistics.median(r["rps"] / f["rps"] for r, f in zip(runs_, floors))
            point.update(case=name, connections=connections, errors=sum(r["errors"] for r in runs_),
                         requests=sum(r["requests"] for r in runs_), rounds=runs_)
            results.append(point)
        workers = len(serve.pids()) - 1
    # scikit-learn's predict() alone, timed inside a worker under the same load (c=8).
    with Process(paths.base, BYOC_MODEL_PACKAGE="benchmarks.timed_predict") as timed:
        timed.wait_ping()
        wrk(timed.port, bodies["text/csv"], "text/csv", 8, max(2.0, config.duration), scratch)
    found = re.findall(r"PREDICT_CPU_US ([\d.]+)", timed.log)
    predict_us = float(found[-1]) if found else float("nan")
    print(f"  serving: LogisticRegression.predict() takes {predict_us:.0f} us of CPU a request inside the worker",
          flush=True)
    report.data["serving"] = {"workers": workers, "points": results, "predict_cpu_us_in_worker": predict_us}
    by = {(r["case"], r["connections"]): r for r in results}
    for connections in config.concurrency:
        floor_point = by[("floor", connections)]
        for name in ("floor", "csv", "json", "csv-noop"):
            point = by[(name, connections)]
            if connections == 8:
                report.add("serving", f"{name} c=8 server CPU per request", point["server_cpu_us"], "us",
                           reference=floor_point["server_cpu_us"] if name != "floor" else None,
                           reference_name="floor")
        if connections == 8:
            report.add("serving", "LogisticRegression.predict() CPU per request, in the worker", predict_us, "us",
                       reference=floor_point["server_cpu_us"], reference_name="floor CPU")
        report.add("serving", f"floor c={connections}", floor_point["rps"], "rps")
        report.add("serving", f"floor c={connections} p99", floor_point["p99_ms"], "ms")
        for name in ("csv", "json", "csv-noop"):
            point = by[(name, connections)]
            gate = connections == 8 and name != "csv-noop"
            # The ratio column is the median of per-round ratios (see above), not value/reference.
            report.add("serving", f"{name} c={connections} rps", point["rps"], "rps",
                       reference=floor_point["rps"], reference_name="floor rps",
                       target=">= 0.6x floor" if gate else "",
                       met=point["rps_ratio"] >= 0.6 if gate else None)
            report.rows[-1]["ratio"] = point["rps_ratio"]
            report.add("serving", f"{name} c={connections} p99", point["p99_ms"], "ms",
                       reference=floor_point["p99_ms"], reference_name="floor p99",
                       target="<= 2x floor" if gate else "",
                       met=point["p99_ratio"] <= 2 if gate else None)
            report.rows[-1]["ratio"] = point["p99_ratio"]
            if point["errors"]:
                report.add("serving", f"{name} c={connections} errors", point["errors"], "count",
                           target="0", met=False)


def batching_models(base: Path) -> dict[str, Paths]:
    """The models of the batching section: the template's default (a 100-tree random forest) and
    two cheap ones (a decision tree; the logistic regression of the serving section)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, FEATURES))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return {
        "forest": save_model(base / "forest", RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)),
        "tree": save_model(base / "tree", DecisionTreeClassifier(random_state=0).fit(X, y)),
        "logistic": small_model(base / "logistic"),
    }


#: (model, connections) points of the batching section; each is run batched and unbatched.
BATCHING_POINTS = [("forest", 1), ("forest", 8), ("forest", 32), ("tree", 8), ("logistic", 8)]


def bench_batching(config: Config, scratch: Path, report: Report) -> None:
    """Issue 11: each model served batched (BYOC_BATCH_MAX_ROWS=256) and unbatched (=1), side by
    side, with the default `serve` chooses (from the start-up log) and the bare floor at c=8."""
    need_wrk()
    models = batching_models(scratch / "batching")
    body = scratch / "row.csv"
    body.write_bytes(one_row())
    floor_command = [sys.executable, str(ROOT / "benchmarks" / "floor_server.py")]
    servers: dict[tuple[str, str], Process] = {}
    floor = Process(models["logistic"].base, floor_command)
    try:
        for name, paths in models.items():
            for mode, rows in (("batched", "256"), ("unbatched", "1")):
                servers[(name, mode)] = Process(paths.base, BYOC_BATCH_MAX_ROWS=rows)
            servers[(name, "default")] = Process(paths.base)
        for process in (floor, *servers.values()):
            process.wait_ping()
        defaults = {}
        for name in models:
            found = servers[(name, "default")].line_time(r"Batching: ")
            defaults[name] = "on" if found and "Batching: up to" in found[1] else "off"
            print(f"  batching: {name} default {defaults[name]}: {found[1].split('Batching: ', 1)[1].strip() if found else '?'}",
                  flush=True)
        for process in servers.values():  # warm up, and the answers are those of the model
            status, answer = post(process.port, body.read_bytes())
            assert status == 200, answer
            wrk(process.port, body, "text/csv", 8, 1, scratch)
        wrk(floor.port, body, "text/csv", 8, 1, scratch)
        rounds: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for round_ in range(config.rounds):
            floor_run = False
            for name, connections in BATCHING_POINTS:
                # Interleaved, so that drift on a shared machine hits both modes alike; the floor
                # once a round, with the first point at 8 connections.
                runs = [("batched", servers[(name, "batched")]), ("unbatched", servers[(name, "unbatched")])]
                if connections == 8 and not floor_run:
                    runs.insert(0, ("floor", floor))
                    floor_run = True
                for mode, target in runs:
                    result = measured_wrk(target, body, "text/csv", connections, config.duration, scratch)
                    key = ("floor", "floor", 8) if mode == "floor" else (name, mode, connections)
                    rounds.setdefault(key, []).append(result)
                    print(f"  batching round {round_ + 1} {key[0]:8} {mode:9} c={connections:<3} {result['rps']:8.0f} rps"
                          f"  p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  errors {result['errors']}",
                          flush=True)
    finally:
        for process in (floor, *servers.values()):
            process.stop()
    points = []
    for (name, mode, connections), runs_ in rounds.items():
        point: dict[str, Any] = {key: statistics.median(r[key] for r in runs_)
                                 for key in ("rps", "p50_ms", "p99_ms", "server_cpu_us")}
        point.update(model=name, mode=mode, connections=connections, errors=sum(r["errors"] for r in runs_),
                     rounds=runs_)
        points.append(point)
    report.data["batching"] = {"points": points, "defaults": defaults}
    by = {(p["model"], p["mode"], p["connections"]): p for p in points}
    floor_point = by[("floor", "floor", 8)]
    report.add("batching", "floor c=8", floor_point["rps"], "rps")
    report.add("batching", "floor c=8 p99", floor_point["p99_ms"], "ms")
    for name, connections in BATCHING_POINTS:
        batched, unbatched = by[(name, "batched", connections)], by[(name, "unbatched", connections)]
        # Each batched run against the unbatched run just after it, then the median.
        pairs = list(zip(batched["rounds"], unbatched["rounds"]))
        rps_ratio = statistics.median(b["rps"] / u["rps"] for b, u in pairs)
        p99_ratio = statistics.median(b["p99_ms"] / u["p99_ms"] for b, u in pairs)
        target, met = "", None
        if name == "forest" and connections == 32:
            target, met = ">= 5x unbatched", rps_ratio >= 5
        elif name == "forest" and connections == 1:
            target, met = "within 10% of unbatched", rps_ratio >= 0.9
        report.add("batching", f"{name} c={connections} batched rps", batched["rps"], "rps",
                   reference=unbatched["rps"], reference_name="unbatched", target=target, met=met)
        report.rows[-1]["ratio"] = rps_ratio
        p99_target = "<= 2x unbatched" if name == "forest" and connections == 32 else ""
        report.add("batching", f"{name} c={connections} batched p99", batched["p99_ms"], "ms",
                   reference=unbatched["p99_ms"], reference_name="unbatched p99", target=p99_target,
                   met=p99_ratio <= 2 if p99_target else None)
        report.rows[-1]["ratio"] = p99_ratio
        if connections == 8 and name in ("tree", "logistic"):
            chosen = by[(name, "batched" if defaults[name] == "on" else "unbatched", 8)]
            floors = rounds[("floor", "floor", 8)]
            mine = rounds[(name, "batched" if defaults[name] == "on" else "unbatched", 8)]
            report.add("batching", f"{name} c=8 default ({defaults[name]}) rps", chosen["rps"], "rps",
                       reference=floor_point["rps"], reference_name="floor rps", target=">= 0.6x floor",
                       met=statistics.median(m["rps"] / f["rps"] for m, f in zip(mine, floors)) >= 0.6)
            report.rows[-1]["ratio"] = statistics.median(m["rps"] / f["rps"] for m, f in zip(mine, floors))
            report.add("batching", f"{name} c=8 default ({defaults[name]}) p99", chosen["p99_ms"], "ms",
                       reference=floor_point["p99_ms"], reference_name="floor p99", target="<= 2x floor",
                       met=statistics.median(m["p99_ms"] / f["p99_ms"] for m, f in zip(mine, floors)) <= 2)
            report.rows[-1]["ratio"] = statistics.median(m["p99_ms"] / f["p99_ms"] for m, f in zip(mine, floors))
        for point in (batched, unbatched):
            if point["errors"]:
                report.add("batching", f"{name} c={connections} {point['mode']} errors", point["errors"], "count",
                           target="0", met=False)


def bench_payloads(config: Config, scratch: Path, report: Report) -> None:
    import pandas as pd

    from container import codecs
    from container.inference import InferencePipeline, RequestContext
    from container.settings import ServingSettings

    paths = small_model(scratch / "small")
    limit = str(int(max(config.payload_mb)) + 10)
    results = []
    os.environ["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = limit
    os.environ["SAGEMAKER_BASE_DIR"] = str(paths.base)
    pipeline = InferencePipeline(paths.model_dir, ServingSettings.from_env())
    transport_command = [sys.executable, str(ROOT / "benchmarks" / "floor_server.py")]
    with Process(paths.base, SAGEMAKER_MAX_PAYLOAD_IN_MB=limit) as serve, \
            Process(paths.base, transport_command, SAGEMAKER_MAX_PAYLOAD_IN_MB=limit, FLOOR_READ_BODY="1") as transport:
        serve.wait_ping()
        transport.wait_ping()
        connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=600)
        bare = http.client.HTTPConnection("127.0.0.1", transport.port, timeout=600)
        for size in config.payload_mb:
            body = csv_payload(size)
            body_file = scratch / f"payload-{size:g}.csv"
            body_file.write_bytes(body)
            waiting = subprocess.Popen(
                [sys.executable, str(ROOT / "benchmarks" / "inprocess_floor.py"), str(body_file)],
                env=python_env(paths.base, {"SAGEMAKER_MAX_PAYLOAD_IN_MB": limit}), cwd=ROOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

            def waiting_floor() -> float:
                assert waiting.stdin is not None and waiting.stdout is not None
                waiting.stdin.write("\n")
                waiting.stdin.flush()
                seconds, answer_length = waiting.stdout.readline().split()
                assert int(answer_length) == len(expected), "the floor process answered differently"
                return float(seconds)

            repeats = config.payload_repeats if size < 20 else max(3, config.payload_repeats // 2)
            # Medians of interleaved repeats; the minimums (least disturbed by other load) go
            # to results.json too.
            status, answer = post(serve.port, body, connection=connection)
            assert status == 200, answer[:300]
            context = RequestContext(request_id="bench", content_type="text/csv", accept="text/csv")
            expected = pipeline.invoke(body, context)[0]
            assert answer == expected, "the server's answer differs from the in-process one"
            e2e, floor, warm, decode, pandas_times, http_only = [], [], [], [], [], []
            for _ in range(repeats):  # interleaved for the same reason as above
                start = time.perf_counter()
                post(serve.port, body, connection=connection)
                e2e.append(time.perf_counter() - start)
                # The floor: the same work in a process that, like serve's worker, waited while
                # the others ran (see benchmarks/inprocess_floor.py).
                floor.append(waiting_floor())
                start = time.perf_counter()
                post(transport.port, body, connection=bare)
                http_only.append(time.perf_counter() - start)
                start = time.perf_counter()  # and in this process, just busy with the requests
                pipeline.invoke(body, context)
                warm.append(time.perf_counter() - start)
                start = time.perf_counter()
                codecs.decode(body, "text/csv")
                decode.append(time.perf_counter() - start)
                start = time.perf_counter()
                pd.read_csv(__import__("io").BytesIO(body), header=None, dtype=np.float64).to_numpy()
                pandas_times.append(time.perf_counter() - start)
            waiting.stdin.close()  # type: ignore[union-attr]
            waiting.wait(timeout=60)
            start = time.perf_counter()
            np.loadtxt(__import__("io").BytesIO(body), delimiter=",", ndmin=2)
            loadtxt = time.perf_counter() - start
            point = {
                "size_mb": len(body) / 1024 / 1024, "rows": body.count(b"\n"), "repeats": repeats,
                "e2e_s": statistics.median(e2e), "floor_s": statistics.median(floor),
                "warm_s": statistics.median(warm), "warm_ratio": statistics.median(a / b for a, b in zip(e2e, warm)),
                "http_s": statistics.median(http_only), "http_min_s": min(http_only),
                "decode_s": statistics.median(decode), "pandas_s": statistics.median(pandas_times),
                "loadtxt_s": loadtxt,
                "e2e_min_s": min(e2e), "floor_min_s": min(floor), "decode_min_s": min(decode),
                "pandas_min_s": min(pandas_times),
                # Each repeat against its neighbour in time, then the median: as for serving.
                "e2e_ratio": statistics.median(a / b for a, b in zip(e2e, floor)),
                "decode_ratio": statistics.median(a / b for a, b in zip(decode, pandas_times)),
            }
            results.append(point)
            print(f"  payload {point['size_mb']:.0f} MB: e2e {point['e2e_s'] * 1e3:.0f} ms, HTTP alone "
                  f"{point['http_s'] * 1e3:.0f} ms, in-process "
                  f"{point['floor_s'] * 1e3:.0f} ms (busy process {point['warm_s'] * 1e3:.0f} ms), decode {point['decode_s'] * 1e3:.0f} ms, pandas "
                  f"{point['pandas_s'] * 1e3:.0f} ms, loadtxt {loadtxt * 1e3:.0f} ms", flush=True)
        connection.close()
        bare.close()
    del os.environ["SAGEMAKER_MAX_PAYLOAD_IN_MB"], os.environ["SAGEMAKER_BASE_DIR"]
    report.data["payloads"] = {"c_parser": fastcsv.enabled(), "points": results}
    for point in results:
        size = f"{point['size_mb']:.0f} MB"
        report.add("payloads", f"{size} end to end", point["e2e_s"] * 1e3, "ms",
                   reference=point["floor_s"] * 1e3, reference_name="in-process",
                   target="<= 1.25x in-process", met=point["e2e_ratio"] <= 1.25)
        report.rows[-1]["ratio"] = point["e2e_ratio"]
        report.add("payloads", f"{size} in-process in a busy process (this one)", point["warm_s"] * 1e3, "ms",
                   reference=point["floor_s"] * 1e3, reference_name="in-process")
        report.add("payloads", f"{size} HTTP alone (gunicorn reads it, answers a constant)", point["http_s"] * 1e3,
                   "ms", reference=point["floor_s"] * 1e3, reference_name="in-process")
        report.add("payloads", f"{size} CSV decode", point["decode_s"] * 1e3, "ms",
                   reference=point["pandas_s"] * 1e3, reference_name="pandas.read_csv",
                   target="<= 1x pandas", met=point["decode_ratio"] <= 1)
        report.rows[-1]["ratio"] = point["decode_ratio"]
        report.add("payloads", f"{size} numpy.loadtxt (old decoder)", point["loadtxt_s"] * 1e3, "ms",
                   reference=point["pandas_s"] * 1e3, reference_name="pandas.read_csv")


def start_once(paths: Paths, body: bytes, **env: str) -> dict[str, float]:
    with Process(paths.base, **env) as serve:
        ping = serve.wait_ping(interval=0.005)
        status, answer = post(serve.port, body)
        predicted = time.monotonic()
        assert status == 200, answer
        loaded = serve.line_time(r"Model loaded from")
        assert loaded is not None, serve.log
        seconds = float(re.search(r" in ([\d.]+) s", loaded[1]).group(1))  # type: ignore[union-attr]
        return {
            "ping_s": ping - serve.started,
            "first_prediction_s": predicted - serve.started,
            "model_load_s": seconds,
            "loaded_line_s": loaded[0] - serve.started,
            "ping_after_load_s": ping - loaded[0],
        }


#: In a fresh process: the runtime's imports (skops' own apart: it imports every scikit-learn
#: estimator module to list them), then verify_files (SHA-256) and load_estimator, timed; and
#: the process's peak RSS (VmHWM: ru_maxrss would include the benchmark's own, inherited by fork).
LOAD_CHILD = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
import joblib, sklearn.neighbors
from container import artifacts, inference
imported = time.perf_counter()
import skops.io
skops_imported = time.perf_counter()
model_dir = Path(sys.argv[1])
metadata = artifacts.load_metadata(model_dir)
artifacts.verify_files(model_dir, metadata)
verified = time.perf_counter()
artifacts.load_estimator(model_dir, metadata)
loaded = time.perf_counter()
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"import_s": imported - started, "skops_import_s": skops_imported - imported,
                  "verify_s": verified - skops_imported, "load_s": loaded - verified, "peak_rss_mb": peak / 1024}))
"""


def load_once(paths: Paths) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(paths.model_dir)], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_startup(config: Config, scratch: Path, report: Report, big: dict[str, tuple[Paths, int]]) -> None:
    body = one_row()
    small = small_model(scratch / "small")
    models = {"small": (small, model_bytes(small)), **{f"large, {name}": saved for name, saved in big.items()}}
    results = []
    for name, (paths, size) in models.items():
        runs = [start_once(paths, body) for _ in range(config.startup_repeats)]
        point = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        point.update(model=name, model_mb=size / 1024 / 1024, repeats=len(runs))
        results.append(point)
        print(f"  startup {name} ({point['model_mb']:.0f} MB): /ping {point['ping_s']:.2f} s, first prediction "
              f"{point['first_prediction_s']:.2f} s, model load {point['model_load_s']:.2f} s, /ping after "
              f"load {point['ping_after_load_s']:.2f} s", flush=True)
    report.data["startup"] = results
    for point in results:
        label = f"{point['model']} model ({point['model_mb']:.0f} MB)"
        report.add("startup", f"{label}: start to /ping 200", point["ping_s"], "s")
        report.add("startup", f"{label}: start to first prediction", point["first_prediction_s"], "s")
        report.add("startup", f"{label}: model loading (log)", point["model_load_s"], "s")
        report.add("startup", f"{label}: /ping 200 after model loaded", point["ping_after_load_s"], "s",
                   target="<= 1 s", met=point["ping_after_load_s"] <= 1.0)
    # The model's own part of start-up, without gunicorn: checking its files, then loading it.
    loads = []
    for name, (paths, size) in big.items():
        runs = [load_once(paths) for _ in range(config.startup_repeats)]
        point = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        point.update(format=name, model_mb=size / 1024 / 1024)
        loads.append(point)
        print(f"  load {name} ({point['model_mb']:.0f} MB): SHA-256 check {point['verify_s']:.2f} s, load "
              f"{point['load_s']:.3f} s, peak RSS {point['peak_rss_mb']:.0f} MB (imports {point['import_s']:.2f} s, "
              f"skops.io {point['skops_import_s']:.2f} s)", flush=True)
        report.add("startup", f"large, {name}: SHA-256 check of the files", point["verify_s"], "s")
        report.add("startup", f"large, {name}: load_estimator", point["load_s"], "s")
        report.add("startup", f"large, {name}: peak RSS of a process that loads it", point["peak_rss_mb"], "MiB")
    report.add("startup", "import skops.io (before loading a model.skops)", statistics.median(
        p["skops_import_s"] for p in loads), "s")
    report.data["model_load"] = loads


def smaps(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        found[key] = int(value.split()[0])  # kB
    return found


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the most memory the process ever held (for the master: while loading the model)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def bench_memory(config: Config, scratch: Path, report: Report, big: dict[str, tuple[Paths, int]]) -> None:
    body = one_row()
    results = []
    for name, (paths, size) in big.items():
        for workers in config.workers:
            with Process(paths.base, MODEL_SERVER_WORKERS=str(workers)) as serve:
                serve.wait_ping()
                deadline = time.monotonic() + 60
                while len(serve.pids()) < workers + 1 and time.monotonic() < deadline:
                    time.sleep(0.05)  # /ping is green with the first worker; wait for them all
                # Every worker must have predicted (read the whole model) before memory is read.
                pids = serve.pids()[1:]
                touched: set[int] = set()
                rounds = 0
                while len(touched) < len(pids) and rounds < 20:
                    with ThreadPoolExecutor(workers * 2) as pool:
                        statuses = list(pool.map(lambda _: post(serve.port, body)[0], range(workers * 4)))
                    assert set(statuses) == {200}, statuses
                    touched = {pid for pid in pids if smaps(pid)["Rss"] * 1024 > 0.9 * size}
                    rounds += 1
                per_process = {pid: smaps(pid) for pid in serve.pids()}
                master_peak = peak_rss_kb(serve.process.pid)
            point = {
                "format": name,
                "workers": workers,
                "workers_that_read_the_model": len(touched),
                "pss_mb": sum(p["Pss"] for p in per_process.values()) / 1024,
                "rss_mb": sum(p["Rss"] for p in per_process.values()) / 1024,
                "pss_anon_mb": sum(p.get("Pss_Anon", 0) for p in per_process.values()) / 1024,
                "pss_file_mb": sum(p.get("Pss_File", 0) for p in per_process.values()) / 1024,
                "master_peak_rss_mb": master_peak / 1024,
                "model_mb": size / 1024 / 1024,
            }
            results.append(point)
            print(f"  memory {name}, {workers} worker(s): PSS {point['pss_mb']:.0f} MB (anon "
                  f"{point['pss_anon_mb']:.0f}, file {point['pss_file_mb']:.0f}), RSS sum {point['rss_mb']:.0f} MB, "
                  f"master peak {point['master_peak_rss_mb']:.0f} MB, model {point['model_mb']:.0f} MB; "
                  f"{len(touched)}/{len(pids)} workers read the model", flush=True)
    report.data["memory"] = results
    default = next(iter(big))
    for name in big:
        points = [p for p in results if p["format"] == name]
        one = next(p for p in points if p["workers"] == 1)
        for point in points:
            gate = point["workers"] == 4 and name == default
            report.add("memory", f"PSS, {point['workers']} worker(s), {name}", point["pss_mb"], "MiB",
                       reference=one["pss_mb"], reference_name="PSS 1 worker",
                       target="<= 1.3x 1 worker" if gate else "",
                       met=point["pss_mb"] <= 1.3 * one["pss_mb"] if gate else None)
        report.add("memory", f"master peak RSS while loading, {name}", one["master_peak_rss_mb"], "MiB")
        report.add("memory", f"model files, {name}", one["model_mb"], "MiB")


def write_channel(folder: Path, gigabytes: float, files: int) -> int:
    """files CSV files (label, then features) adding up to about `gigabytes`."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(9)
    block = csv_rows(rng.standard_normal((40000, FEATURES)), label=rng.integers(0, 2, 40000))
    per_file = int(gigabytes * 1e9 / files)
    written = 0
    for index in range(files):
        repeats = max(1, round(per_file / len(block)))
        with open(folder / f"part-{index:05d}.csv", "wb") as stream:
            for _ in range(repeats):
                stream.write(block)
        written += repeats * len(block)
    return written


def load_in_children(methods: list[str], channel: Path, repeats: int, once: set[str] = frozenset()) -> dict[str, Any]:
    """benchmarks/load_child.py for each method, repeats times interleaved (`once`: only the
    first time); the fastest run of each method, with every run's seconds."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for _ in range(repeats):
        for method in methods:
            if method in once and runs[method]:
                continue
            out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "load_child.py"), method, str(channel)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                raise RuntimeError(f"{method} load failed:\n{out.stderr}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            runs[method].append(result)
            held = f", held +{(result['rss_after_kb'] - result['rss_before_kb']) / 1024:.0f} MiB, frame " \
                   f"{result['frame_bytes'] / 2**20:.0f} MiB" if "frame_bytes" in result else ""
            print(f"  {method:12}: {result['seconds']:.2f} s, peak RSS {result['peak_rss_kb'] / 1024:.0f} MiB "
                  f"(before {result['rss_before_kb'] / 1024:.0f} MiB), array {result['array_bytes'] / 2**20:.0f} MiB"
                  f"{held}", flush=True)
    return {m: min(r, key=lambda x: x["seconds"]) | {"seconds_all": [x["seconds"] for x in r]} for m, r in runs.items()}


def bench_training(config: Config, scratch: Path, report: Report) -> None:
    base = scratch / "job"
    channel = Paths(base).channel_dir("train")
    size = write_channel(channel, config.train_gb, config.train_files)
    print(f"  training channel: {size / 1e9:.2f} GB in {config.train_files} files", flush=True)
    methods = ["byoc", "pandas", "numpy"]
    best = load_in_children(methods, channel, config.train_repeats, once={"numpy"})  # the old path is slow
    report.data["training"] = {"csv_bytes": size, "files": config.train_files, "methods": best}
    array_mb = best["byoc"]["array_bytes"] / 2**20
    report.add("training", f"CSV channel ({size / 1e9:.2f} GB, {config.train_files} files) as float64", array_mb, "MiB")
    for method in methods:
        point = best[method]
        name = {"byoc": "runtime loader", "pandas": "pandas.read_csv + concat", "numpy": "numpy.loadtxt (old loader)"}[method]
        gate = method == "byoc"
        report.add("training", f"{name}: load time", point["seconds"], "s",
                   reference=best["pandas"]["seconds"], reference_name="pandas",
                   target="<= 1x pandas" if gate else "", met=point["seconds"] <= best["pandas"]["seconds"] if gate else None)
        report.add("training", f"{name}: peak RSS", point["peak_rss_kb"] / 1024, "MiB",
                   reference=array_mb, reference_name="float64 array",
                   target="<= 1.5x array" if gate else "",
                   met=point["peak_rss_kb"] / 1024 <= 1.5 * array_mb if gate else None)
        report.add("training", f"{name}: peak RSS above the interpreter's", (point["peak_rss_kb"] - point["rss_before_kb"]) / 1024,
                   "MiB", reference=array_mb, reference_name="float64 array")


def write_table_channel(folder: Path, rows: int, files: int) -> int:
    """The bank sample's columns (header, label y last) over `files` files, `rows` in all."""
    from byoc import sample

    folder.mkdir(parents=True)
    written = 0
    per_file = rows // files
    for index in range(files):
        table = sample.bank_table(per_file, seed=100 + index)
        path = folder / f"part-{index:05d}.csv"
        path.write_text(sample.bank_csv(table))
        written += path.stat().st_size
    return written


def train_job(base: Path, channel: Path, hyperparameters: dict[str, Any], content_type: str) -> Paths:
    """`train` as a process on one channel; the job folder's model is what it wrote."""
    from byoc import jobdir

    paths = jobdir.create(base, jobdir.JobSpec({"train": channel}, hyperparameters, content_type=content_type))
    out = subprocess.run([sys.executable, "-m", "container.training"], env=python_env(paths.base),
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"train failed:\n{out.stdout}\n{out.stderr}")
    return paths


def latencies(port: int, body: bytes, count: int) -> list[float]:
    """Milliseconds per one-row request, one after another on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        status, _ = post(port, body, connection=connection)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"HTTP {status} for {body[:80]!r}")
    connection.close()
    return times


def bench_tables(config: Config, scratch: Path, report: Report) -> None:
    from byoc import sample

    # 1. The training load of a mixed channel, each method in a fresh process.
    channel = Paths(scratch / "table-job").channel_dir("train")
    size = write_table_channel(channel, config.table_rows, config.table_files)
    print(f"  table channel: {size / 1e6:.0f} MB, {config.table_rows:,} rows in {config.table_files} files", flush=True)
    best = load_in_children(["table", "pandas-table"], channel, config.train_repeats)
    ours, theirs = best["table"], best["pandas-table"]
    frame_mb = ours["frame_bytes"] / 2**20
    peak_mb = (ours["peak_rss_kb"] - ours["rss_before_kb"]) / 1024
    report.add("tables", f"mixed CSV ({size / 1e6:.0f} MB): runtime load time", ours["seconds"], "s",
               reference=theirs["seconds"], reference_name="pandas.read_csv",
               target="<= 1.5x pandas", met=ours["seconds"] <= 1.5 * theirs["seconds"])
    report.add("tables", "mixed CSV: runtime peak RSS above the interpreter's", peak_mb, "MiB",
               reference=frame_mb, reference_name="loaded frame", target="<= 2.5x frame", met=peak_mb <= 2.5 * frame_mb)
    report.add("tables", "mixed CSV: pandas.read_csv peak RSS above the interpreter's",
               (theirs["peak_rss_kb"] - theirs["rss_before_kb"]) / 1024, "MiB",
               reference=theirs["frame_bytes"] / 2**20, reference_name="its frame")

    # 2. One-row requests: a model trained on the table against one trained on its numbers only.
    data = sample.bank_table(20_000, seed=5)
    numbers = ("age", "balance", "day", "duration", "campaign", "pdays", "previous")
    mixed_dir, numeric_dir = scratch / "bank-mixed", scratch / "bank-numeric"
    mixed_dir.mkdir()
    numeric_dir.mkdir()
    (mixed_dir / "train.csv").write_text(sample.bank_csv(data))
    # The numeric model is today's: header-less numbers, label first, no empty field (so the
    # bare estimator, with no imputer in front).
    filled = {name: np.where(data[name] == None, 0, data[name]) for name in numbers}  # noqa: E711
    label = np.where(data["y"] == "yes", 1, 0).astype(object)
    (numeric_dir / "train.csv").write_text(sample.bank_csv({**filled, "label": label}, ("label", *numbers), header=False))
    complete = next(i for i in range(20_000) if all(data[c][i] is not None for c in sample.BANK_COLUMNS))
    full = sample.bank_csv(data, sample.BANK_COLUMNS[:-1], rows=slice(complete, complete + 1), header=False).encode()
    plain = sample.bank_csv(data, numbers, rows=slice(complete, complete + 1), header=False).encode()
    results: dict[str, dict[str, list[float]]] = {}
    for estimator in ("logistic_regression", "random_forest"):
        mixed = train_job(scratch / f"{estimator}-mixed", mixed_dir, {"estimator": estimator, "label_column": "y"},
                          "text/csv;header=present")
        numeric = train_job(scratch / f"{estimator}-numeric", numeric_dir, {"estimator": estimator}, "text/csv")
        with Process(mixed.base, MODEL_SERVER_WORKERS="1") as a, Process(numeric.base, MODEL_SERVER_WORKERS="1") as b:
            a.wait_ping()
            b.wait_ping()
            times: dict[str, list[float]] = {"mixed": [], "numeric": []}
            for _ in range(config.rounds):  # interleaved, so drift hits both alike
                latencies(a.port, full, 20)  # warm up
                times["mixed"] += latencies(a.port, full, config.latency_requests)
                latencies(b.port, plain, 20)
                times["numeric"] += latencies(b.port, plain, config.latency_requests)
        results[estimator] = times
        m, n = statistics.median(times["mixed"]), statistics.median(times["numeric"])
        print(f"  one-row latency, {estimator}: mixed {m:.2f} ms, numeric {n:.2f} ms (medians)", flush=True)
        report.add("tables", f"one-row request, {estimator}, 16 features (9 text): median", m, "ms",
                   reference=n, reference_name="7 numeric features", target="<= 2x numeric", met=m <= 2 * n)
        p99 = lambda values: float(np.percentile(values, 99))  # noqa: E731
        report.add("tables", f"one-row request, {estimator}: p99", p99(times["mixed"]), "ms",
                   reference=p99(times["numeric"]), reference_name="numeric p99")
    report.data["tables"] = {"csv_bytes": size, "rows": config.table_rows, "files": config.table_files,
                             "load": best, "latency_ms": {k: {kind: statistics.median(v) for kind, v in t.items()}
                                                          for k, t in results.items()}}


# -- output ---------------------------------------------------------------------------------------


def table(report: Report) -> str:
    lines = [f"{'section':9} {'case':56} {'value':>10} {'unit':5} {'reference':>18} {'ratio':>6}  target"]
    for row in report.rows:
        reference = f"{row['reference']:.4g} {row['reference_name']}" if row["reference"] else ""
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else ""
        verdict = "" if row["met"] is None else ("MET" if row["met"] else "MISSED")
        target = f"{row['target']} {verdict}".strip()
        lines.append(f"{row['section']:9} {row['case']:56} {row['value']:10.4g} {row['unit']:5} "
                     f"{reference[:18]:>18} {ratio:>6}  {target}")
    return "\n".join(lines)


def markdown(report: Report) -> str:
    """The table again, as Markdown (for the README)."""
    lines = ["| section | case | value | reference | ratio | target |", "|---|---|---|---|---|---|"]
    for row in report.rows:
        reference = f"{row['reference']:.4g} ({row['reference_name']})" if row["reference"] else ""
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else ""
        verdict = "" if row["met"] is None else ("**met**" if row["met"] else "**missed**")
        lines.append(f"| {row['section']} | {row['case']} | {row['value']:.4g} {row['unit']} | {reference} | {ratio} | "
                     f"{row['target']} {verdict}".rstrip() + " |")
    return "\n".join(lines) + "\n"


def plots(report: Report, folder: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plots", file=sys.stderr)
        return []
    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = folder / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if "serving" in report.data:
        points = report.data["serving"]["points"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        cases = ["floor", "csv", "json", "csv-noop"]
        levels = sorted({p["connections"] for p in points})
        width = 0.2
        for i, case in enumerate(cases):
            series = [next(p for p in points if p["case"] == case and p["connections"] == c) for c in levels]
            xs = [x + (i - 1.5) * width for x in range(len(levels))]
            axes[0].bar(xs, [p["rps"] for p in series], width, label=case)
            axes[1].bar(xs, [p["p99_ms"] for p in series], width, label=case)
        for ax, title in zip(axes, ("requests per second", "p99 latency (ms)")):
            ax.set_xticks(range(len(levels)), [f"c={c}" for c in levels])
            ax.set_title(title)
            ax.legend()
        fig.suptitle("one-row /invocations vs a bare WSGI floor (same gunicorn config)")
        save(fig, "serving.png")
    if "batching" in report.data:
        points = report.data["batching"]["points"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for name, style in (("forest", "-"), ("tree", ":"), ("logistic", "--")):
            for mode, marker in (("batched", "o"), ("unbatched", "s")):
                mine = sorted((p for p in points if p["model"] == name and p["mode"] == mode),
                              key=lambda p: p["connections"])
                if not mine:
                    continue
                xs = [p["connections"] for p in mine]
                axes[0].plot(xs, [p["rps"] for p in mine], marker=marker, linestyle=style, label=f"{name}, {mode}")
                axes[1].plot(xs, [p["p99_ms"] for p in mine], marker=marker, linestyle=style, label=f"{name}, {mode}")
        floor_points = [p for p in points if p["model"] == "floor"]
        for point in floor_points:
            axes[0].plot([point["connections"]], [point["rps"]], "k*", markersize=10, label="bare floor")
            axes[1].plot([point["connections"]], [point["p99_ms"]], "k*", markersize=10, label="bare floor")
        for ax, title in zip(axes, ("requests per second", "p99 latency (ms)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks([1, 8, 32], ["1", "8", "32"])
            ax.set_xlabel("connections")
            ax.set_title(title)
            ax.legend(fontsize=8)
        fig.suptitle("one-row CSV, batched (BYOC_BATCH_MAX_ROWS=256) and unbatched (=1)")
        save(fig, "batching.png")
    if "payloads" in report.data:
        points = report.data["payloads"]["points"]
        fig, ax = plt.subplots(figsize=(9, 4))
        labels = ["end to end (HTTP)", "in-process floor", "HTTP alone", "CSV decode", "pandas.read_csv",
                  "numpy.loadtxt"]
        keys = ["e2e_s", "floor_s", "http_s", "decode_s", "pandas_s", "loadtxt_s"]
        width = 0.8 / len(keys)
        for i, (label, key) in enumerate(zip(labels, keys)):
            ax.bar([x + (i - 2.5) * width for x in range(len(points))], [p[key] * 1e3 for p in points], width,
                   label=label)
        ax.set_xticks(range(len(points)), [f"{p['size_mb']:.0f} MB CSV" for p in points])
        ax.set_ylabel("ms (median)")
        ax.legend()
        ax.set_title("large CSV payloads")
        save(fig, "payloads.png")
    if "startup" in report.data:
        points = report.data["startup"]
        fig, ax = plt.subplots(figsize=(8, 4))
        keys = [("model_load_s", "model loading"), ("ping_s", "start to /ping 200"),
                ("first_prediction_s", "start to first prediction")]
        width = 0.25
        for i, (key, label) in enumerate(keys):
            ax.bar([x + (i - 1) * width for x in range(len(points))], [p[key] for p in points], width, label=label)
        ax.set_xticks(range(len(points)), [f"{p['model']} ({p['model_mb']:.0f} MB)" for p in points])
        ax.set_ylabel("seconds")
        ax.legend()
        ax.set_title("serve start-up")
        save(fig, "startup.png")
    if "memory" in report.data:
        points = report.data["memory"]
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in dict.fromkeys(p["format"] for p in points):
            mine = [p for p in points if p["format"] == name]
            ax.plot([p["workers"] for p in mine], [p["pss_mb"] for p in mine], "o-", label=f"total PSS, {name}")
        ax.axhline(points[0]["model_mb"], color="grey", linestyle=":", label="model files")
        ax.set_xlabel("workers")
        ax.set_ylabel("MiB")
        ax.set_xticks([p["workers"] for p in points])
        ax.legend()
        ax.set_title("server memory on the large model")
        save(fig, "memory.png")
    if "training" in report.data:
        methods = report.data["training"]["methods"]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        names = list(methods)
        axes[0].bar(names, [methods[m]["seconds"] for m in names])
        axes[0].set_title("load time (s)")
        axes[1].bar(names, [methods[m]["peak_rss_kb"] / 1024 for m in names])
        axes[1].axhline(methods["byoc"]["array_bytes"] / 2**20, color="grey", linestyle=":", label="float64 array")
        axes[1].axhline(1.5 * methods["byoc"]["array_bytes"] / 2**20, color="red", linestyle=":", label="1.5x array")
        axes[1].legend()
        axes[1].set_title("peak RSS (MB)")
        fig.suptitle(f"training input: {report.data['training']['csv_bytes'] / 1e9:.2f} GB CSV channel")
        save(fig, "training.png")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs: a sanity check")
    parser.add_argument("--only", default="serving,batching,payloads,startup,memory,training,tables",
                        help="comma-separated sections (default: all)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 3, 5 rounds; quick 2, 1 round)")
    parser.add_argument("--big-model-mb", type=float, help="size of the large model (default 500; quick 60)")
    parser.add_argument("--train-gb", type=float, help="size of the training channel (default 1; quick 0.1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results.json and the PNGs go")
    parser.add_argument("--tmp", type=Path, help="parent folder for the generated data (default: system temp)")
    args = parser.parse_args(argv)
    config = Config.make(args)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"serving", "batching", "payloads", "startup", "memory", "training", "tables"}
    if unknown:
        parser.error(f"unknown section(s): {sorted(unknown)}")
    if {"serving", "batching"} & set(sections):
        need_wrk()
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report()
    report.data["machine"] = {
        "cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
        "platform": platform.platform(), "c_parser": fastcsv.enabled(), "load_average": os.getloadavg(),
    }
    report.data["config"] = {k: v for k, v in vars(config).items()}
    scratch = Path(tempfile.mkdtemp(prefix="byoc-bench-", dir=args.tmp))
    started = time.monotonic()
    try:
        big = None
        for section in sections:
            print(f"== {section}", flush=True)
            if section in ("startup", "memory") and big is None:
                big = big_model(scratch / "large", config.big_model_mb)
            runner: Callable[..., None] = globals()[f"bench_{section}"]
            if section in ("startup", "memory"):
                runner(config, scratch, report, big)
            else:
                runner(config, scratch, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.data["seconds"] = time.monotonic() - started
    report.data["rows"] = report.rows
    (args.out / "results.json").write_text(json.dumps(report.data, indent=2, default=str) + "\n")
    (args.out / "summary.md").write_text(markdown(report))
    written = plots(report, args.out)
    print()
    print(table(report))
    print(f"\nwrote {args.out / 'results.json'}, summary.md" + "".join(f", {p.name}" for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
