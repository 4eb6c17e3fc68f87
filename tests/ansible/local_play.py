"""Running a play on this machine with the project's roles, for the tests of one role's behaviour."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.helpers import ROOT, run_ansible


def dev_inventory_vars(tmp_path: Path, *names: str, api_from_service: bool) -> list:
    """Variables of inventories/dev as Ansible resolves them, with the API from the httpbin Service (mesh-sync's
    export) or created by apim_setup (STACK_API_FROM_SERVICE)."""
    out = tmp_path / "dev-vars.json"
    shown = "{{ [" + ", ".join(names) + "] | to_json }}"
    result = run_ansible("ansible", "-i", "inventories/dev", "localhost", "-m", "ansible.builtin.copy", "-a",
                         json.dumps({"content": shown, "dest": str(out)}), "-e",
                         json.dumps({"stack_api_from_service": api_from_service}))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


def run_local_play(playbook: Path, extra_vars: dict, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook on this machine with the project's roles, the variables given as JSON."""
    return run_ansible(
        "ansible-playbook",
        *flags,
        "-i",
        "localhost,",
        "-c",
        "local",
        str(playbook),
        "-e",
        json.dumps(extra_vars),
        env={"ANSIBLE_ROLES_PATH": str(ROOT / "roles"), **env},
    )
