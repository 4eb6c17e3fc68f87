"""Fixtures of the Ansible checks."""

import json

import pytest
from ansible_helpers import BIN, run


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
