"""The apim_setup role pointed at a started APIM double: its inventory variables as an extra-vars file, the
counts of a run's play recap, and the project (its client certificates, CORS settings, api.json) of the revision
deployed to Default."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from apim_adapter.controlplane.artifacts import Artifact, Project
from harness.apim_double import ApimDouble, TestCa
from harness.certificates import CertificateAuthority

# inventories/dev declares the partner's client certificate as `{{ pki_dir }}/partner.crt` (apim_setup_api_client_
# certificates), which the pki role makes in the kind stack; here a throwaway CA issues it into the test's directory.
PARTNER = "partner"
# The gateway environment the apim role configures APIM with in inventories/dev: Default on apim_gateway_hostname
# (stack_hostnames.gateway, api.<stack_domain>), the vhost apim_setup_api deploys its revisions on. APIM refuses a
# revision deployed on a vhost its environment does not have (400 900512).
DEV_GATEWAY_ENVIRONMENTS = {"Default": ("api.istio-apim.local",)}


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


def partner_pem(extra: Path) -> str:
    """The partner's certificate (PEM) in the `pki_dir` of an extra-vars file `extra_vars` wrote."""
    return (Path(json.loads(extra.read_text())["pki_dir"]) / f"{PARTNER}.crt").read_text()


def recap(stdout: str) -> dict[str, int]:
    """The counts (ok, changed, failed, ...) of a run's play recap for localhost."""
    line = re.search(r"^localhost\s*:(.*)$", stdout, re.M)
    assert line, stdout[-2000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def deployed_project(double: ApimDouble, api_id: str) -> Project:
    """The project of the API's or API Product's revision deployed to Default, in the runtime artifact gateways and
    the adapter's wso2 control plane read."""
    answer = double.data_api("runtime-artifacts", type="Envoy", gatewayLabel=base64.b64encode(b"Default").decode(),
                             apiId=api_id)  # fmt: skip
    assert answer.status_code == 200, answer.text
    artifact = Artifact.open(answer.content)
    [inner] = artifact.deployed("Default")
    return artifact.project(inner)


def deployed_certificates(double: ApimDouble, api_id: str) -> list[tuple[str, str, str, str]]:
    """(alias, tier, key type, PEM) of each client certificate in the runtime artifact of the revision deployed to
    Default, as gateways and the adapter read it."""
    certificates, problems = deployed_project(double, api_id).client_certificates()
    assert problems == []
    return sorted((c["alias"], c["tier"], c["keyType"], c["certificate"]) for c in certificates)


def deployed_cors(double: ApimDouble, api_id: str) -> dict:
    """The CORS settings (corsConfiguration, and the DTO's authorizationHeader and apiKeyHeader where set) in the
    runtime artifact of the API's or API Product's revision deployed to Default, as the adapter's wso2 control
    plane reads them."""
    return deployed_project(double, api_id).cors_settings()
