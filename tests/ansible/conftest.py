"""Fixtures of the Ansible checks."""

import json

import pytest

from harness.helpers import run_ansible

# What inventories/dev leaves at the role's default (none), declared besides, so that its request bodies are rendered
# and checked too: an application policy of each limit kind, one with burst control.
RENDER_EXTRA_VARS = {
    "apim_setup_application_policies": [
        {"name": "PerUserHundred", "description": "100 requests a minute for each user, at most 10 a second.",
         "request_count": 100, "unit_time": 1, "time_unit": "min", "burst": {"count": 10, "time_unit": "sec"}},
        {"name": "PerUserMegabyte", "data_amount": 1, "data_unit": "MB", "unit_time": 1, "time_unit": "hour"},
    ],
}  # fmt: skip


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Everything the roles send, rendered with the dev inventory and RENDER_EXTRA_VARS (tests/ansible/render.yml)."""
    out = tmp_path_factory.mktemp("render")
    extra = json.dumps(RENDER_EXTRA_VARS)
    render = ("ansible-playbook", "-i", "inventories/dev", "tests/ansible/render.yml", "-e", extra)
    result = run_ansible(*render, env={"RENDER_OUT": str(out)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads((out / "rendered.json").read_text())
    data["pki_dir"] = out / "pki"
    data["second_run"] = run_ansible(*render, env={"RENDER_OUT": str(out)})
    return data
