"""Fixtures for the local stack: files rendered from inventories/local by the roles' own templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from render_stack import render_local_stack  # tests/local_stack, on sys.path as the tests' own directory


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local-stack")
    result = render_local_stack(out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def envoy_config(rendered: Path) -> dict:
    return yaml.safe_load((rendered / "envoy.yaml").read_text())


@pytest.fixture(scope="session")
def catalog(rendered: Path) -> dict:
    return yaml.safe_load((rendered / "adapter/catalog.yaml").read_text())


@pytest.fixture(scope="session")
def adapter_config(rendered: Path) -> dict:
    return yaml.safe_load((rendered / "adapter/config.yaml").read_text())
