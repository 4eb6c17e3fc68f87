"""Background processes with log files, free loopback ports and readiness waits."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def wait_http(url: str, timeout: float = 30, status: int = 200, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and not process.alive:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}:\n{process.log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URLs built by tests
                if resp.status == status:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code == status:
                return
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    detail = f"\n{process.log()}" if process is not None else ""
    raise TimeoutError(f"{url} not answering {status} after {timeout}s ({last}){detail}")


async def until(condition: Callable[[], bool], within: float = 5.0, interval: float = 0.02) -> None:
    """For asyncio tests: wait, yielding to the loop, until `condition()` holds; AssertionError after `within` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def httpbin(log_dir: Path, port: int | None = None, workers: int = 2) -> tuple[Process, int]:
    """The real httpbin (PyPI) under gunicorn."""
    port = port or free_port()
    proc = Process(
        "httpbin",
        [str(VENV_BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers), "httpbin:app"],
        log_dir,
    )
    proc.wait_http(f"http://127.0.0.1:{port}/status/200")
    return proc, port
