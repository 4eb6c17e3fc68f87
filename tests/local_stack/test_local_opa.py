"""local_opa: the role runs the pinned OPA as the local stack does, here on a free port: only its token's bearer is
let in, a changed policy is what OPA serves once the role is done, a module dropped from the list is no longer
served, and the token never reaches Ansible's output, even with --diff."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from harness.helpers import ROOT, run_ansible
from harness.processes import free_port

TOKEN = "opa-token-never-shown-5821"
GET_ONLY = 'package demo\n\ndefault allow := false\n\nallow if input.method == "GET"\n'
POST_ONLY = 'package demo\n\ndefault allow := false\n\nallow if input.method == "POST"\n'


@dataclass
class LocalOpa:
    """The role on this machine, with a state folder and a port of its own."""

    state: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __call__(self, policies: list[dict], state: str = "present") -> str:
        """Runs the role with these policies; its output, which must not show the token."""
        playbook = self.state.parent / "play.yml"
        playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [local_opa]\n")
        extra = {"local_opa_state_dir": str(self.state), "local_opa_port": self.port, "local_opa_token": TOKEN,
                 "local_opa_policies": policies, "local_opa_state": state,
                 "ansible_python_interpreter": sys.executable}  # fmt: skip
        result = run_ansible("ansible-playbook", "-i", "localhost,", "-c", "local", "--diff", "-v", playbook,
                             "-e", json.dumps(extra), env={"ANSIBLE_ROLES_PATH": str(ROOT / "roles")})  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert TOKEN not in output
        return output


@pytest.fixture
def opa(tmp_path: Path):
    run = LocalOpa(tmp_path / "state")
    yield run
    run([], state="absent")


def _allow(url: str, method: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/v1/data/demo/allow", json={"input": {"method": method}}, headers=headers, timeout=5)


def test_opa_serves_the_policies_to_its_tokens_bearer_only(opa) -> None:
    opa([{"name": "demo", "source": GET_ONLY}])
    assert _allow(opa.url, "GET").json() == {"result": True}
    assert _allow(opa.url, "POST").json() == {"result": False}
    assert _allow(opa.url, "GET", token=None).status_code == 401
    assert _allow(opa.url, "GET", token=TOKEN + "x").status_code == 401
    assert requests.get(f"{opa.url}/health", timeout=5).status_code == 200  # the readiness check needs no token
    for path in ("opa", "opa/system", "opa/system/authz.rego", "opa/policies/demo.rego"):
        assert (opa.state / path).stat().st_mode & 0o077 == 0, path

    assert "changed=0" in opa([{"name": "demo", "source": GET_ONLY}])  # unchanged: OPA left alone
    opa([{"name": "demo", "source": POST_ONLY}])  # changed: OPA restarted with it
    assert _allow(opa.url, "POST").json() == {"result": True}

    opa([{"name": "other", "source": GET_ONLY.replace("package demo", "package other")}])
    assert not (opa.state / "opa/policies/demo.rego").exists()
    assert _allow(opa.url, "GET").json() == {}  # demo is no longer served: OPA's answer for an undefined document
