"""Fixtures of the Ansible checks."""

import json

import pytest

from harness.helpers import run_ansible


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Everything the roles send, rendered with the dev inventory (tests/ansible/render.yml)."""
    out = tmp_path_factory.mktemp("render")
    render = ("ansible-playbook", "-i", "inventories/dev", "tests/ansible/render.yml")
    result = run_ansible(*render, env={"RENDER_OUT": str(out)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads((out / "rendered.json").read_text())
    data["pki_dir"] = out / "pki"
    data["second_run"] = run_ansible(*render, env={"RENDER_OUT": str(out)})
    return data
