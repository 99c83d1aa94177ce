"""Peak memory of the local batch-transform emulator (byoc.transform) on a large input file.

The emulator streams: it reads records as it batches them, keeps at most
MaxConcurrentTransforms requests and their answers in memory, and writes answers as they come.
This measures that: it writes a CSV of about --size-mb megabytes, runs byoc.transform.run on it
in a child process against a server in another process, and prints the child's peak RSS
(getrusage's ru_maxrss for that child alone), the time and the throughput.

The server is, by default, a bare HTTP server answering one line per record (so the figure is
the emulator's own, and the run takes seconds); with --model DIR it is the real `serve` of that
model folder. --rev REV measures byoc/transform.py as it was at a git revision instead (the
emulator before streaming read each file whole).

    python benchmarks/transform_memory.py                         # ~1 GB, echo server
    python benchmarks/transform_memory.py --size-mb 256 --rev 83a0f59
    python benchmarks/transform_memory.py --size-mb 64 --model jobs/<job>/model
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = b"5.1,3.5,1.4,0.2\n"

ECHO_SERVER = r'''
import http.server, sys
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = b"0\n" * body.count(b"\n")
        self.send_response(200); self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(answer))); self.end_headers(); self.wfile.write(answer)
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
'''

EMULATOR = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import importlib.util
spec = importlib.util.spec_from_file_location("emulator", sys.argv[2])
emulator = sys.modules["emulator"] = importlib.util.module_from_spec(spec); spec.loader.exec_module(emulator)
started = time.perf_counter()
result = emulator.run(sys.argv[3], __import__("pathlib").Path(sys.argv[4]), __import__("pathlib").Path(sys.argv[5]),
                      max_concurrent=int(sys.argv[6]))
print(json.dumps({"seconds": time.perf_counter() - started, "ok": result.ok,
                  "files": [[f.records, f.requests, f.error] for f in result.files]}))
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_input(path: Path, size_mb: float) -> int:
    block = ROW * 65536
    rows = 0
    with path.open("wb") as sink:
        while sink.tell() < size_mb * 1e6:
            sink.write(block)
            rows += 65536
    return rows


def wait_ready(url: str, timeout: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/ping", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"no server on {url}")
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1000, help="input size (default: %(default)s)")
    parser.add_argument("--concurrent", type=int, default=2, help="MaxConcurrentTransforms (default: %(default)s)")
    parser.add_argument("--model", type=Path, help="a model folder: transform through the real `serve`")
    parser.add_argument("--rev", help="measure byoc/transform.py at this git revision")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="byoc-transform-mem-") as tmp:
        work = Path(tmp)
        source = work / "in.csv"
        rows = write_input(source, args.size_mb)
        module = ROOT / "byoc" / "transform.py"
        if args.rev:
            module = work / "transform_at_rev.py"
            module.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{args.rev}:byoc/transform.py"],
                                              check=True, capture_output=True).stdout)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if args.model:
            base = work / "endpoint"
            (base / "model").parent.mkdir(parents=True, exist_ok=True)
            os.symlink(args.model.resolve(), base / "model")
            env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(port),
                   "BYOC_BIND_HOST": "127.0.0.1", "SAGEMAKER_BATCH": "true"}
            server = subprocess.Popen([str(Path(sys.executable).with_name("serve"))], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            server = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)])
        try:
            wait_ready(url)
            child = subprocess.Popen([sys.executable, "-c", EMULATOR, str(ROOT), str(module), url, str(source),
                                      str(work / "out"), str(args.concurrent)], stdout=subprocess.PIPE)
            out = child.stdout.read()  # type: ignore[union-attr]
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            server.terminate()
            server.wait(timeout=30)
        if status != 0:
            print(f"the emulator failed (status {status})", file=sys.stderr)
            return 1
        report = json.loads(out)
        size = source.stat().st_size
        output = work / "out" / "in.csv.out"
        lines = 0
        if output.exists():
            with output.open("rb") as answers:
                for chunk in iter(lambda: answers.read(1 << 20), b""):
                    lines += chunk.count(b"\n")
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    print(f"emulator: {'byoc/transform.py' if not args.rev else f'byoc/transform.py at {args.rev}'}; "
          f"server: {'serve ' + str(args.model) if args.model else 'echo (one line per record)'}")
    print(f"input: {size / 1e6:.0f} MB, {rows:,} records; MaxConcurrentTransforms={args.concurrent}, "
          f"MaxPayloadInMB=6 ({report['files'][0][1]} requests)")
    print(f"output lines: {lines:,} ({'all' if lines == rows else 'MISSING'}); ok={report['ok']}")
    print(f"peak RSS of the emulator process: {peak_mib:.0f} MiB")
    print(f"time: {report['seconds']:.1f} s ({size / 1e6 / report['seconds']:.0f} MB/s)")
    return 0 if report["ok"] and lines == rows else 1


if __name__ == "__main__":
    sys.exit(main())
