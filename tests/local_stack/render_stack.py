"""Rendering the local stack's generated files, for the fixtures and for tests that change a variable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.helpers import ROOT, run_ansible


def render_local_stack(out: Path, **extra_vars: object) -> subprocess.CompletedProcess[str]:
    """The local stack's generated files rendered into `out` from inventories/local, with `extra_vars` over it."""
    return run_ansible(
        "ansible-playbook",
        "-i",
        ROOT / "inventories/local",
        "-e",
        f"render_dir={out}",
        "-e",
        json.dumps(extra_vars),
        Path(__file__).with_name("render.yml"),
    )
