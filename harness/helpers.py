"""What the test suites and the benchmarks share besides processes: the repository, its pinned versions, waiting
until something holds, and Ansible (and the other tools of the virtualenv) run from the repository."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .processes import Process

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TOOLS_BIN = ROOT / ".tools" / "bin"
T = TypeVar("T")


# ---- pinned versions ----


@functools.cache
def pinned_versions() -> dict[str, str]:
    """versions.env as a dict (make exports the same values into the environment)."""
    lines = (ROOT / "versions.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def version(key: str) -> str:
    """One pin from versions.env; a missing pin is an error, never a default."""
    value = pinned_versions().get(key) or os.environ.get(key)
    if not value:
        raise LookupError(f"{key} is not pinned: add it to versions.env")
    return value


def tool(name: str) -> str:
    """A pinned tool that `make setup` installs in .tools/bin; a missing one is a setup error, not a reason to skip."""
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path.relative_to(ROOT)} is missing: run `make setup`")
    return str(path)


# ---- waits ----


def eventually(check: Callable[[], T], timeout: float = 3.0, interval: float = 0.05) -> T:
    """Ask `check` until it answers something true or `timeout` seconds have passed; its last answer.

    For what another process does in its own time (a reloaded catalog, a flushed log): never for time a test
    can pass in itself (inject a clock instead)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def wait_http(url: str, timeout: float = 30, status: int = 200, process: Process | None = None) -> None:
    """Until `url` answers `status`; fails at once, with its log, if `process` exits meanwhile."""
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


def wait_port(port: int, process: Process, timeout: float = 20) -> None:
    """Until something listens on the loopback `port`; fails at once, with its log, if `process` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}:\n{process.log()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{process.name} not listening on {port} after {timeout}s:\n{process.log()}")


# ---- Ansible ----


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `make` gives Ansible: the repository's ansible.cfg and the virtualenv first on PATH."""
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **(extra or {}),
    }


def run_ansible(
    command: str, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """A command of the virtualenv (ansible-playbook, ansible, ansible-lint, yamllint) run in the repository;
    the caller judges the result."""
    return subprocess.run(
        [str(VENV_BIN / command), *map(str, args)],
        cwd=ROOT,
        env=ansible_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def until(condition: Callable[[], bool], within: float = 5.0, interval: float = 0.02) -> None:
    """For asyncio tests: wait, yielding to the loop, until `condition()` holds; AssertionError after `within` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
