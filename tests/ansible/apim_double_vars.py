"""The apim_setup role pointed at a started APIM double: its inventory variables as an extra-vars file, and the
counts of a run's play recap."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.apim_double import ApimDouble, TestCa
from harness.certificates import CertificateAuthority

# inventories/dev declares the partner's client certificate as `{{ pki_dir }}/partner.crt` (apim_setup_api_client_
# certificates), which the pki role makes in the kind stack; here a throwaway CA issues it into the test's directory.
PARTNER = "partner"


def extra_vars(double: ApimDouble, tls: TestCa, directory: Path, **more: Any) -> Path:
    """A file, so the admin password is not on a command line; readable by its owner only. `pki_dir` is
    `<directory>/pki`, holding the partner's certificate (`partner.crt`)."""
    username, password = double.admin_credentials
    pki = directory / "pki"
    CertificateAuthority(pki, "partners").issue(PARTNER, f"{PARTNER}.example")
    path = directory / "apim-double.json"
    path.write_text(json.dumps({"apim_setup_base_url": double.url, "apim_setup_ca_path": str(tls.ca),
                                "apim_setup_admin_username": username, "apim_setup_admin_password": password,
                                "pki_dir": str(pki), **more}))  # fmt: skip
    path.chmod(0o600)
    return path


def recap(stdout: str) -> dict[str, int]:
    """The counts (ok, changed, failed, ...) of a run's play recap for localhost."""
    line = re.search(r"^localhost\s*:(.*)$", stdout, re.M)
    assert line, stdout[-2000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}
