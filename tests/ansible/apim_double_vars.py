"""The apim_setup role pointed at a started APIM double: its inventory variables as an extra-vars file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.apim_double import ApimDouble, TestCa


def extra_vars(double: ApimDouble, tls: TestCa, directory: Path, **more: Any) -> Path:
    """A file, so the admin password is not on a command line; readable by its owner only."""
    username, password = double.admin_credentials
    path = directory / "apim-double.json"
    path.write_text(json.dumps({"apim_setup_base_url": double.url, "apim_setup_ca_path": str(tls.ca),
                                "apim_setup_admin_username": username, "apim_setup_admin_password": password,
                                **more}))  # fmt: skip
    path.chmod(0o600)
    return path
