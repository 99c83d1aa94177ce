"""Reliability under attack and on a bad day (issue 12): the figures, in a script anyone can rerun.

    .venv/bin/python benchmarks/stress.py              # the full run, about 20 minutes
    .venv/bin/python benchmarks/stress.py --quick      # a short one, about 4 minutes
    .venv/bin/python benchmarks/stress.py --only fuzz,slow
    apt-get install -y wrk                             # the load generator for `load` and `memory`

`serve` runs as a process on 127.0.0.1 with 2 workers and a decision tree of 20 features.
Sections:
  fuzz     generated /invocations requests (tests/contract/invocations_fuzz.py; 10,000, quick 1,000):
           5xx, tracebacks in bodies and in the log, workers replaced, the slowest /ping
  load     64 keep-alive connections for 2 minutes (quick 15 s) of one-row CSV under wrk:
           requests, errors, the slowest /ping
  sigkill  SIGKILL of a worker under load: time until its replacement accepts connections,
           requests lost
  sigterm  SIGTERM under load with a 5 MB request in flight: it completes, new connections are
           refused, serve exits 0, and how long that took
  memory   200,000 requests (quick 20,000): PSS of the server's processes before and after
  heavy    8 clients sending 6 MB bodies in every content type: /ping from another process
  slow     8 clients sending a request 1 byte a second and 4 that declare a body over the limit
           and stall, at the default BYOC_READ_TIMEOUT: /ping, one-row requests alongside,
           workers killed

/ping is timed from another process all along (SageMaker's budget is 2 s). Results: the table
on stdout, benchmarks/results/stress.md (Markdown, for the docs) and stress.json.
--server-root DIR serves from another checkout of the project (with its C extension built),
to measure the same thing before and after a change.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "contract"))

import numpy as np  # noqa: E402

import invocations_fuzz as fuzz  # noqa: E402
from benchmarks.run import FEATURES, Process, csv_payload, need_wrk, save_model, smaps, wrk  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MB = 1024 * 1024
PING_BUDGET = fuzz.PING_BUDGET_SECONDS
#: What `memory` allows the server's PSS to grow by over its requests.
MEMORY_GROWTH_BOUND_MB = 8.0
ROW = b",".join(b"%.3f" % v for v in np.random.default_rng(5).standard_normal(FEATURES)) + b"\n"


@dataclass
class Config:
    quick: bool
    fuzz_requests: int = 10_000
    load_seconds: float = 120
    memory_requests: int = 200_000
    heavy_requests: int = 3  # per client and content type
    slow_seconds: float = 30
    server_root: Path | None = None

    @classmethod
    def make(cls, args: argparse.Namespace) -> "Config":
        config = cls(quick=args.quick, server_root=args.server_root)
        if args.quick:
            config.fuzz_requests, config.load_seconds, config.memory_requests = 1_000, 15, 20_000
            config.heavy_requests, config.slow_seconds = 1, 25
        return config


@dataclass
class Table:
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, section: str, check: str, result: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append({"section": section, "check": check, "result": result, "target": target, "met": met})
        verdict = "" if met is None else (" MET" if met else " MISSED")
        print(f"  {section:8} {check:58} {result:>24}  {target}{verdict}", flush=True)

    def text(self) -> str:
        lines = [f"{'section':8} {'check':58} {'result':>24}  target"]
        for row in self.rows:
            verdict = "" if row["met"] is None else (" MET" if row["met"] else " MISSED")
            lines.append(f"{row['section']:8} {row['check']:58} {row['result']:>24}  {row['target']}{verdict}")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["| section | check | result | target |", "|---|---|---|---|"]
        for row in self.rows:
            verdict = "" if row["met"] is None else (" **met**" if row["met"] else " **missed**")
            lines.append(f"| {row['section']} | {row['check']} | {row['result']} | {row['target']}{verdict} |")
        return "\n".join(lines) + "\n"


# -- the server and its clients -----------------------------------------------------------------


def decision_tree(base: Path) -> Path:
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, FEATURES))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return save_model(base, DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, y)).base


def serve(config: Config, base: Path, **env: str) -> Process:
    """`serve` with 2 workers, ready, every worker forked."""
    command = None
    if config.server_root is not None:
        root = str(config.server_root.resolve())
        command = [sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); "
                   "from container.server import main; sys.exit(main())"]
    process = Process(base, command, **{"MODEL_SERVER_WORKERS": "2", **env})
    process.wait_ping()
    fuzz.wait_for_workers(process.process.pid, int(env.get("MODEL_SERVER_WORKERS", "2")))
    return process


def workers(process: Process) -> set[int]:
    return fuzz.workers(process.process.pid)


def pings(pinger: fuzz.Pinger) -> tuple[str, bool, float]:
    """The slowest /ping as a result, whether every ping was in time, and the slowest in seconds."""
    times, failures = pinger.stop()
    slowest = max(times, default=float("nan"))
    met = bool(times) and not failures and slowest < PING_BUDGET
    result = f"{slowest:.3f} s of {len(times) + failures}" + (f", {failures} failed" if failures else "")
    return result, met, slowest


class Clients:
    """Threads posting a body in a loop on keep-alive connections, counting answers and failures."""

    def __init__(self, port: int, count: int, body: bytes, content_type: str = "text/csv", *,
                 fresh: bool = False) -> None:
        self.port, self.body, self.content_type, self.fresh = port, body, content_type, fresh
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.failures: list[tuple[float, str]] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        connection = None
        while not self.stop.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                started = time.monotonic()
                connection.request("POST", "/invocations", body=memoryview(self.body),
                                   headers={"Content-Type": self.content_type, "Accept": "application/json"})
                response = connection.getresponse()
                response.read()
                with self.lock:
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                    self.latencies.append(time.monotonic() - started)
                if response.will_close or self.fresh:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)
        if connection is not None:
            connection.close()

    def finish(self) -> "Clients":
        self.stop.set()
        for thread in self.threads:
            thread.join(180)
        return self

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def sockets_of(pid: int) -> int:
    """How many sockets a process holds (a worker that accepted a connection holds more than its listener)."""
    count = 0
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                count += os.readlink(fd).startswith("socket:")
            except OSError:
                pass
    except OSError:
        pass
    return count


# -- sections ------------------------------------------------------------------------------------


def section_fuzz(config: Config, base: Path, table: Table) -> None:
    # BYOC_READ_TIMEOUT=2: a request whose head never ends (a TLS hello) is a 408 after 2 s, not 20.
    with serve(config, base, BYOC_READ_TIMEOUT="2") as server:
        result = fuzz.run(server.port, config.fuzz_requests, seed=1, width=FEATURES, master=server.process.pid,
                          log=lambda: server.log, progress=True)
    table.data["fuzz"] = {"summary": result.summary(), "statuses": {str(k): v for k, v in result.statuses.items()},
                          "kinds": dict(result.kinds), "problems": result.problems[:50]}
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items(), key=lambda kv: str(kv[0])))
    table.add("fuzz", "generated /invocations requests", f"{result.requests}", f">= {config.fuzz_requests}",
              result.requests >= config.fuzz_requests)
    table.add("fuzz", "answers by status", statuses)
    table.add("fuzz", "5xx answers", f"{result.server_errors}", "0", result.server_errors == 0)
    table.add("fuzz", "tracebacks (bodies / log)", f"{result.tracebacks} / {result.log_tracebacks}", "0 / 0",
              result.tracebacks == 0 and result.log_tracebacks == 0)
    table.add("fuzz", "answers not JSON with their request id", f"{len(result.problems) - result.tracebacks}", "0",
              not result.problems)
    table.add("fuzz", "workers replaced", f"{result.workers_replaced}", "0", result.workers_replaced == 0)
    slowest = result.max_ping
    table.add("fuzz", "slowest /ping", f"{slowest:.3f} s of {len(result.pings) + result.ping_failures}",
              "< 2 s", result.ping_failures == 0 and slowest < PING_BUDGET)


def section_load(config: Config, base: Path, table: Table) -> None:
    need_wrk()
    scratch = base.parent / "load"
    scratch.mkdir(exist_ok=True)
    body = scratch / "row.csv"
    body.write_bytes(ROW)
    with serve(config, base) as server:
        before = workers(server)
        pinger = fuzz.Pinger(server.port, config.load_seconds + 60)
        result = wrk(server.port, body, "text/csv", 64, config.load_seconds, scratch)
        ping, met, _ = pings(pinger)
        replaced = len(before - workers(server))
    table.data["load"] = result
    table.add("load", f"64 connections for {config.load_seconds:g} s: requests", f"{result['requests']:,}")
    table.add("load", "requests a second; p99", f"{result['rps']:.0f}; {result['p99_ms']:.1f} ms")
    table.add("load", "errors (non-2xx, socket errors, timeouts)", f"{result['errors']}", "0", result["errors"] == 0)
    table.add("load", "workers replaced", f"{replaced}", "0", replaced == 0)
    table.add("load", "slowest /ping", ping, "< 2 s", met)


def section_sigkill(config: Config, base: Path, table: Table) -> None:
    with serve(config, base) as server:
        pinger = fuzz.Pinger(server.port, 120)
        # 6 clients on keep-alive connections, 2 opening a new connection for every request (so
        # that a new worker is offered connections as soon as it listens).
        kept, fresh = Clients(server.port, 6, ROW), Clients(server.port, 2, ROW, fresh=True)
        time.sleep(2)
        victim = max(workers(server))
        survivors = workers(server) - {victim}
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replacement, started, serving = None, None, None
        while time.monotonic() - killed < 30:
            new = workers(server) - survivors - {victim}
            if new and replacement is None:
                replacement, started = min(new), time.monotonic() - killed
            if replacement is not None and sockets_of(replacement) > 1:  # its listener, and a client's
                serving = time.monotonic() - killed
                break
            time.sleep(0.001)
        time.sleep(2)
        for clients in (kept, fresh):
            clients.finish()
        ping, met, _ = pings(pinger)
        lost = [f for clients in (kept, fresh) for f in clients.failures if f[0] >= killed]
        answered = kept.answered + fresh.answered
    table.data["sigkill"] = {"lost": [f[1] for f in lost], "answered": answered,
                             "started_s": started, "accepting_s": serving}
    table.add("sigkill", "replacement worker forked; accepting connections, after",
              "never" if serving is None else f"{started:.3f} s; {serving:.3f} s", "< 1 s",
              serving is not None and serving < 1)
    table.add("sigkill", "requests lost (8 clients in a loop)", f"{len(lost)} of {answered + len(lost):,}",
              "<= 8 (in flight)", len(lost) <= 8)
    table.add("sigkill", "slowest /ping", ping, "< 2 s", met)


def section_sigterm(config: Config, base: Path, table: Table) -> None:
    big = csv_payload(5, seed=3)
    server = serve(config, base)
    try:
        clients = Clients(server.port, 4, ROW)
        time.sleep(1)
        big_answer: list[Any] = []

        def send_big() -> None:
            # The body goes out in two halves around the SIGTERM: the request is in flight.
            with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
                sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: stress\r\nContent-Type: text/csv\r\n"
                             b"Accept: text/csv\r\nContent-Length: %d\r\n\r\n" % len(big))
                sock.sendall(big[:len(big) // 2])
                halfway.set()
                resume.wait(30)
                sock.sendall(big[len(big) // 2:])
                big_answer.append(fuzz._read_answer(sock.makefile("rb")))

        halfway, resume = threading.Event(), threading.Event()
        sender = threading.Thread(target=send_big)
        sender.start()
        halfway.wait(30)
        sent = time.monotonic()
        server.process.terminate()
        refused_after = None
        while time.monotonic() - sent < 10:
            if not accepts(server.port):
                refused_after = time.monotonic() - sent
                break
            time.sleep(0.01)
        resume.set()
        sender.join(60)
        code = server.process.wait(60)
        took = time.monotonic() - sent
        clients.finish()
    finally:
        server.stop()
    answer = big_answer[0] if big_answer else None
    rows = len(answer.body.splitlines()) if answer is not None and answer.status == 200 else 0
    complete = answer is not None and answer.status == 200 and rows == big.count(b"\n")
    table.data["sigterm"] = {"status": getattr(answer, "status", None), "rows": rows, "exit": code, "seconds": took}
    table.add("sigterm", "5 MB request in flight at SIGTERM", f"{getattr(answer, 'status', 'none')}, {rows:,} rows",
              "200, every row", complete)
    table.add("sigterm", "new connections refused after", "never" if refused_after is None
              else f"{refused_after:.2f} s", "< 1.5 s", refused_after is not None and refused_after < 1.5)
    table.add("sigterm", "serve's exit code; seconds from SIGTERM", f"{code}; {took:.1f} s", "0; < 25 s",
              code == 0 and took < 25)


def pss_mb(process: Process) -> float:
    return sum(smaps(pid)["Pss"] for pid in process.pids()) / 1024


def section_memory(config: Config, base: Path, table: Table) -> None:
    need_wrk()
    scratch = base.parent / "memory"
    scratch.mkdir(exist_ok=True)
    body = scratch / "row.csv"
    body.write_bytes(ROW)
    with serve(config, base) as server:
        warm = wrk(server.port, body, "text/csv", 8, 5, scratch)  # first requests, lazy imports, caches
        before = pss_mb(server)
        done, errors = 0, warm["errors"]
        while done < config.memory_requests:
            result = wrk(server.port, body, "text/csv", 8, 10, scratch)
            done += result["requests"]
            errors += result["errors"]
        after = pss_mb(server)
    growth = after - before
    table.data["memory"] = {"requests": done, "pss_before_mb": before, "pss_after_mb": after, "errors": errors}
    table.add("memory", f"{done:,} one-row requests: PSS before -> after", f"{before:.1f} -> {after:.1f} MiB",
              f"growth <= {MEMORY_GROWTH_BOUND_MB:g} MiB", growth <= MEMORY_GROWTH_BOUND_MB)
    table.add("memory", "errors", f"{errors}", "0", errors == 0)


def heavy_bodies() -> dict[str, bytes]:
    """Bodies just under 6 MB of 20-feature rows, in every content type."""
    import io

    limit = 6 * MB - 4096
    csv = csv_payload(5.9)
    rows = np.loadtxt(io.BytesIO(csv), delimiter=",", ndmin=2)
    bodies = {"text/csv": csv}

    def fit(make: Callable[[np.ndarray], bytes]) -> bytes:
        count = len(rows)
        while len(body := make(rows[:count])) > limit:
            count = int(count * limit / len(body) * 0.98)
        return body

    bodies["application/json"] = fit(lambda r: json.dumps(r.tolist()).encode())
    bodies["application/jsonlines"] = fit(lambda r: "".join(json.dumps(x) + "\n" for x in r.tolist()).encode())
    buffer = io.BytesIO()
    np.save(buffer, np.resize(rows, (limit // (FEATURES * 8) - 16, FEATURES)))
    bodies["application/x-npy"] = buffer.getvalue()
    return bodies


def section_heavy(config: Config, base: Path, table: Table) -> None:
    bodies = heavy_bodies()
    with serve(config, base) as server:
        before = workers(server)
        for content_type, body in bodies.items():
            pinger = fuzz.Pinger(server.port, 600)
            time.sleep(0.3)
            threads, statuses, lock = [], [], threading.Lock()

            def client() -> None:
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
                for _ in range(config.heavy_requests):
                    try:
                        connection.request("POST", "/invocations", body=memoryview(body),
                                           headers={"Content-Type": content_type, "Accept": "application/json"})
                        response = connection.getresponse()
                        response.read()
                        status: Any = response.status
                    except (OSError, http.client.HTTPException) as exc:
                        status = type(exc).__name__
                        connection.close()
                    with lock:
                        statuses.append(status)
                connection.close()

            started = time.monotonic()
            for _ in range(8):
                threads.append(threading.Thread(target=client))
                threads[-1].start()
            for thread in threads:
                thread.join(900)
            seconds = time.monotonic() - started
            ping, met, _ = pings(pinger)
            ok = statuses.count(200)
            table.add("heavy", f"8 clients x {config.heavy_requests} of {len(body) / MB:.1f} MB {content_type}",
                      f"{ok}/{len(statuses)} answered 200 in {seconds:.0f} s", "all 200", ok == len(statuses))
            table.add("heavy", f"slowest /ping during {content_type}", ping, "< 2 s", met)
        replaced = len(before - workers(server))
    table.add("heavy", "workers replaced", f"{replaced}", "0", replaced == 0)


def section_slow(config: Config, base: Path, table: Table) -> None:
    over = b"POST /invocations HTTP/1.1\r\nHost: stress\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n"
    with serve(config, base) as server:
        before = workers(server)
        pinger = fuzz.Pinger(server.port, config.slow_seconds + 120)
        stop = threading.Event()
        outcomes: list[Any] = []

        def slow_client(index: int) -> None:
            # Half send their head a byte a second, half a head at once then the body a byte a second.
            request = over % (len(ROW) * 100) + ROW * 100
            at_once = 0 if index % 2 == 0 else request.index(b"\r\n\r\n") + 4
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
                    sock.sendall(request[:at_once])
                    for byte in request[at_once:]:
                        try:
                            sock.sendall(bytes([byte]))
                        except OSError:
                            break
                        if stop.wait(1.0):
                            break
                    sock.settimeout(30)
                    outcomes.append(fuzz._read_answer(sock.makefile("rb")).status)
            except OSError as exc:
                outcomes.append(type(exc).__name__)

        stalled = []
        for _ in range(4):  # declared over the 6 MB limit; 64 KB sent, then nothing
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=120)
            sock.sendall(over % (7 * MB) + b"1" * 65536)
            stalled.append(sock)
        slow = [threading.Thread(target=slow_client, args=(i,), daemon=True) for i in range(8)]
        for thread in slow:
            thread.start()
        time.sleep(1)
        clients = Clients(server.port, 2, ROW)
        time.sleep(config.slow_seconds)
        clients.finish()
        stop.set()
        for thread in slow:
            thread.join(60)
        stalled_answers = []
        for sock in stalled:
            sock.settimeout(5)
            stalled_answers.append(fuzz._read_answer(sock.makefile("rb")).status)
            sock.close()
        ping, met, _ = pings(pinger)
        replaced = len(before - workers(server))
        killed = server.log.count("MODEL_SERVER_TIMEOUT")
    slowest = max(clients.latencies, default=float("nan"))
    table.data["slow"] = {"slow_outcomes": outcomes, "stalled_answers": stalled_answers,
                          "one_row": clients.statuses, "one_row_failures": [f[1] for f in clients.failures]}
    table.add("slow", "8 clients at 1 byte/s: their answers", ", ".join(map(str, sorted(outcomes, key=str))),
              "408 (BYOC_READ_TIMEOUT)", outcomes == [408] * 8)
    table.add("slow", "4 stalled bodies over the limit: their answers", ", ".join(map(str, stalled_answers)),
              "413 at once", stalled_answers == [413] * 4)
    table.add("slow", f"one-row requests alongside ({config.slow_seconds:g} s): answered; slowest",
              f"{clients.statuses.get(200, 0):,}; {slowest:.3f} s", "all 200; < 2 s",
              not clients.failures and set(clients.statuses) == {200} and slowest < 2)
    table.add("slow", "workers killed or replaced", f"{replaced} ({killed} by MODEL_SERVER_TIMEOUT)", "0",
              replaced == 0 and killed == 0)
    table.add("slow", "slowest /ping", ping, "< 2 s", met)


SECTIONS = ("fuzz", "load", "sigkill", "sigterm", "memory", "heavy", "slow")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs and fewer requests")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    parser.add_argument("--server-root", type=Path, help="serve from this checkout instead of this one")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where stress.md and stress.json go")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {sorted(unknown)}")
    if {"load", "memory"} & set(sections):
        need_wrk()
    config = Config.make(args)
    table = Table()
    table.data["machine"] = {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                             "load_average_before": os.getloadavg(), "server_root": str(config.server_root or ROOT)}
    scratch = Path(tempfile.mkdtemp(prefix="byoc-stress-"))
    started = time.monotonic()
    try:
        base = decision_tree(scratch / "tree")
        for section in sections:
            print(f"== {section}", flush=True)
            globals()[f"section_{section}"](config, base, table)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    table.data["seconds"] = time.monotonic() - started
    table.data["rows"] = table.rows
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stress.json").write_text(json.dumps(table.data, indent=2, default=str) + "\n")
    (args.out / "stress.md").write_text(table.markdown())
    print()
    print(table.text())
    print(f"\n{time.monotonic() - started:.0f} s; wrote {args.out / 'stress.md'}, stress.json")
    return 0 if all(row["met"] is not False for row in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
