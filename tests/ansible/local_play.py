"""Running a play on this machine with the project's roles, for the tests of one role's behaviour."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.helpers import ROOT, run_ansible


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
