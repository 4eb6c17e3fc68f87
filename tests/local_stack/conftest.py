"""Fixtures for the local stack: files rendered from inventories/local by the roles' own templates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _ansible_env() -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local-stack")
    subprocess.run(
        [
            VENV_BIN / "ansible-playbook",
            "-i",
            REPO / "inventories/local",
            "-e",
            f"render_dir={out}",
            Path(__file__).with_name("render.yml"),
        ],
        check=True,
        cwd=REPO,
        env=_ansible_env(),
        capture_output=True,
    )
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


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    return VENV_BIN


@pytest.fixture(scope="session")
def ansible_env() -> dict[str, str]:
    return _ansible_env()
