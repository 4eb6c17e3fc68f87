"""What the dev inventory resolves to, for the tests that check the kind stack without a cluster: its variables as
Ansible resolves them, and the httpbin chart's release from its values."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from harness.helpers import ROOT, run_ansible, tool


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


def httpbin_objects(values: dict) -> dict[tuple[str, str], dict]:
    """The httpbin chart's objects by (kind, name), as `helm template` renders release httpbin in namespace httpbin
    with `values`."""
    release = subprocess.run(
        [tool("helm"), "template", "httpbin", str(ROOT / "charts" / "httpbin"), "-n", "httpbin", "-f", "-"],
        input=json.dumps(values), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(release) if o}
