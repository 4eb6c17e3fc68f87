"""Background processes with log files, free loopback ports, and go-httpbin (the gateways' backend) and its echo."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .helpers import tool, wait_http

if TYPE_CHECKING:
    import requests

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now, never handed out before in this process: the kernel may give two
    binds in a row the same ephemeral port, and the adapter's listeners bind with SO_REUSEPORT, so two of them given
    one port would share it without an error (a fresh-clone run once had the admin port's /readyz answered by the
    gRPC listener's HTTP/2 frames)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def process_tree(pid: int) -> list[int]:
    """`pid` and every process it started, and they started, from /proc (threads' children included)."""
    pids, queue = [], [pid]
    while queue:
        p = queue.pop()
        pids.append(p)
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{p}/task"):
                queue += [int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split()]
    return pids


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` and every process it started (`process_tree`), in MiB, from /proc."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
    return total / 1024


class Process:
    """A child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None, cwd=None):
        self.name, self.argv = name, list(argv)
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self, timeout: float = 10) -> None:
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def wait_http(self, url: str, timeout: float = 30, status: int = 200) -> None:
        wait_http(url, timeout, status, self)


def go_httpbin(log_dir: Path, hostname: str = "httpbin") -> tuple[Process, int]:
    """go-httpbin at the httpbin chart's image version (versions.env GO_HTTPBIN_VERSION, built by `make setup` from
    harness/go-httpbin), the backend of every gateway the tests run, as roles/local_httpbin runs each version; it
    answers /hostname with `hostname`, and logs to `<hostname>.log`. Its echo (/anything, /headers, /get...) gives
    request headers and query arguments as lists of values (Go's http.Header, url.Values)."""
    port = free_port()
    command = [tool("go-httpbin"), "-host=127.0.0.1", f"-port={port}", f"-hostname={hostname}"]
    proc = Process(hostname, command, log_dir)
    proc.wait_http(f"http://127.0.0.1:{port}/status/200")
    return proc, port


def echoed_headers(answer: requests.Response) -> dict[str, list[str]]:
    """The request headers go-httpbin echoes (/headers, /anything, /get...), by lower-case name, each with the list
    of its values as they reached the backend (none hidden: go-httpbin excludes no header by default)."""
    return {name.lower(): values for name, values in answer.json()["headers"].items()}
