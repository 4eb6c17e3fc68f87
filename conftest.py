"""Every test belongs to one suite, named by its directory and marked with it: `pytest -m unit` (or `make unit`)
runs one suite, plain `pytest` (what `make test` runs) every test once."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.helpers import ROOT

SUITES = {  # directory → marker (registered in pytest.ini)
    "adapter/tests/unit": "unit",
    "adapter/tests/e2e": "e2e",
    "adapter/tests/wso2": "wso2",
    "adapter/tests/meshsync": "meshsync",
    "adapter/tests/tracing": "tracing",
    "tests/charts": "charts",
    "tests/ansible": "ansible",
    "tests/local_stack": "local_stack",
    "tests/bench": "bench",
    "tests/cluster": "cluster",
}


def suite_of(path: Path) -> str | None:
    relative = path.resolve().relative_to(ROOT).as_posix()
    return next((marker for directory, marker in SUITES.items() if relative.startswith(directory + "/")), None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    orphans = []
    for item in items:
        marker = suite_of(item.path)
        if marker is None:
            orphans.append(item.nodeid)
        else:
            item.add_marker(marker)
    if orphans:
        raise pytest.UsageError(f"tests outside every suite (add their directory to SUITES): {orphans[:5]}")
