"""local_process: the background-process module behind every local stack role (start, converge, stop)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from harness.helpers import ROOT, run_ansible

# Stands in for Envoy: once started, it asks to be killed when its parent exits (PR_SET_PDEATHSIG).
SERVER = """
import ctypes, http.server, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


@pytest.fixture(scope="session")
def run_module():
    """Run the local_process module once with these arguments; its JSON result plus `failed`."""

    def run(**args: object) -> dict:
        result = run_ansible(
            "ansible",
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-o",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-M",
            ROOT / "roles/local_process/library",
            "-m",
            "local_process",
            "-a",
            json.dumps(args),
            timeout=60,
        )
        outcome, _, payload = result.stdout.partition(" => ")
        return {**json.loads(payload), "failed": "FAILED" in outcome}

    return run


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, port: int, run_module):
    args = {
        "name": "web",
        "state_dir": str(tmp_path),
        "command": [sys.executable, "-c", SERVER, str(port)],
        "ready_url": f"http://127.0.0.1:{port}/",
    }
    yield args
    run_module(name="web", state_dir=str(tmp_path), state="absent")


def test_starts_once_and_survives_the_module_exit(server: dict, tmp_path: Path, run_module) -> None:
    started = run_module(**server)
    assert started["changed"] is True
    time.sleep(0.5)
    assert alive(started["pid"])
    assert (tmp_path / "web.pid").read_text().strip() == str(started["pid"])

    again = run_module(**server)
    assert (again["changed"], again["pid"]) == (False, started["pid"])


def test_restarted_gets_a_new_process(server: dict, run_module) -> None:
    first = run_module(**server)["pid"]
    restarted = run_module(**server, state="restarted")
    assert restarted["changed"] is True
    assert restarted["pid"] != first
    assert not alive(first)


def test_absent_stops_it_and_is_then_unchanged(server: dict, tmp_path: Path, run_module) -> None:
    pid = run_module(**server)["pid"]
    stopped = run_module(name="web", state_dir=str(tmp_path), state="absent")
    assert stopped["changed"] is True
    assert not alive(pid)
    assert not (tmp_path / "web.pid").exists()
    assert run_module(name="web", state_dir=str(tmp_path), state="absent")["changed"] is False


def test_a_process_that_dies_fails_fast_with_its_log(tmp_path: Path, port: int, run_module) -> None:
    begin = time.monotonic()
    result = run_module(
        name="broken",
        state_dir=str(tmp_path),
        ready_url=f"http://127.0.0.1:{port}/",
        ready_timeout=60,
        command=[sys.executable, "-c", "print('port already taken'); raise SystemExit(3)"],
    )
    assert result.get("failed") is True
    assert "exited while starting" in result["msg"]
    assert "port already taken" in result["msg"]
    assert time.monotonic() - begin < 20
