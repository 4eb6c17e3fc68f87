"""Shared helpers: the repository, its pinned versions and Ansible commands run from the virtualenv."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def versions() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / "versions.env").read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Everything the roles send, rendered with the dev inventory (tests/ansible/render.yml)."""
    out = tmp_path_factory.mktemp("render")
    result = run(
        str(BIN / "ansible-playbook"), "-i", "inventories/dev", "tests/ansible/render.yml", env={"RENDER_OUT": str(out)}
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads((out / "rendered.json").read_text())
    data["pki_dir"] = out / "pki"
    data["second_run"] = run(
        str(BIN / "ansible-playbook"), "-i", "inventories/dev", "tests/ansible/render.yml", env={"RENDER_OUT": str(out)}
    )
    return data
