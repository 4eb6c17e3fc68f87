"""The APIM double's Publisher API (harness/apim_rest.py), as a user with the admin's token calls it, and one pull of
the wso2 control plane against the double: what the control plane's tests do in the Publisher, and read back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import requests

from apim_adapter import config
from apim_adapter.controlplane.events import Event
from apim_adapter.controlplane.snapshot import Plan, Snapshot
from apim_adapter.controlplane.wso2 import Wso2ControlPlane

from .apim_double import ApimDouble

PUBLISHER = "/api/am/publisher/v4"
SCOPES = (
    "apim:api_view apim:api_create apim:api_manage apim:api_publish apim:gateway_policy_manage "
    "apim:common_operation_policy_view"
)


class Publisher:
    def __init__(self, apim: ApimDouble, ca: Path):
        self.apim, self.session = apim, requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
        self.session.verify = str(ca)
        self.session.headers["Authorization"] = f"Bearer {apim.admin_token(SCOPES)}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.apim.url + PUBLISHER + path, timeout=10, **kwargs)

    def create(self, name: str, scheme: tuple[str, ...] | list[str] = ("oauth2",), **fields: Any) -> str:
        """An HTTP API `name` at `/<name>` serving GET /get, with this security scheme and any other APIDTO fields."""
        body = {"name": name, "version": "1.0.0", "context": f"/{name.lower()}", "policies": ["Gold"],
                "securityScheme": list(scheme),
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://httpbin:8000"}},
                "operations": [{"target": "/get", "verb": "GET"}], **fields}  # fmt: skip
        created = self("POST", "/apis", json=body)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def update(self, api_id: str, **fields: Any) -> None:
        current = self("GET", f"/apis/{api_id}").json()
        updated = self("PUT", f"/apis/{api_id}", json={**current, **fields})
        assert updated.status_code == 200, updated.text

    def upload(self, api_id: str, alias: str, content: bytes, tier: str = "Gold", key_type: str | None = None):
        """A client certificate for the API (the key type's own endpoint where one is given)."""
        path = f"/apis/{api_id}/client-certs/{key_type}" if key_type else f"/apis/{api_id}/client-certificates"
        parts = {"certificate": (f"{alias}.crt", content), "alias": (None, alias), "tier": (None, tier)}
        return self("POST", path, files=parts)

    def deploy_new_revision(self, api_id: str) -> None:
        """A revision of the API as it is now, deployed to the double's gateway environment."""
        revision = self("POST", f"/apis/{api_id}/revisions", json={"description": "as it is now"})
        assert revision.status_code == 201, revision.text
        deployed = self("POST", f"/apis/{api_id}/deploy-revision", params={"revisionId": revision.json()["id"]},
                        json=[{"name": "Default", "vhost": "localhost"}])  # fmt: skip
        assert deployed.status_code == 201, deployed.text

    def common_policy(self, name: str, version: str, **parameters: str) -> dict[str, Any]:
        """A shipped common policy as the Publisher's UI applies it: by its id, with these parameters."""
        listed = self("GET", "/operation-policies", params={"query": f"name:{name}&version:{version}"})
        [policy] = listed.json()["list"]
        return {"policyName": name, "policyVersion": version, "policyId": policy["id"], "parameters": parameters}

    def gateway_policy_mapping(self, name: str, flows: dict[str, list[dict[str, Any]]]) -> str:
        """A gateway policy mapping (Policies > Gateway Policies) of these policies per flow; its id."""
        body = {"displayName": name, "description": "on every API", "policyMapping": flows}
        created = self("POST", "/gateway-policies", json=body)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def engage(self, mapping_id: str, label: str, deploy: bool = True) -> list[dict[str, Any]]:
        """The mapping deployed to (or, `deploy` false, removed from) the gateway environment `label`."""
        answer = self("POST", f"/gateway-policies/{mapping_id}/deploy",
                      json=[{"gatewayLabel": label, "gatewayDeployment": deploy}])  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()


def wso2_config(
    apim: ApimDouble,
    credentials: tuple[Path, Path],
    ca: Path,
    base: Path,
    mutual_tls: bool,
    cors: bool,
    label: str | None = "Default",
) -> config.Config:
    """An adapter config whose wso2 control plane reads the double (`label`: its gateway label, None for none)."""
    user, password = credentials
    control_plane = {"type": "wso2", "url": apim.url, "caBundle": str(ca), "usernameFile": str(user),
                     "passwordFile": str(password), **({"gatewayLabel": label} if label else {})}  # fmt: skip
    raw = {"controlPlane": control_plane, "mutualTls": {"enabled": mutual_tls}, "cors": {"enabled": cors}}
    return config.parse(raw, base)


def deployed_and_pulled(
    apim: ApimDouble, publisher: Publisher, credentials: tuple[Path, Path], ca: Path, base: Path, *api_ids: str
) -> tuple[config.Config, dict[str, Any]]:
    """Each API as it is now deployed as a new revision, then one full pull of a wso2 control plane reading the
    double (no mutual TLS, no CORS): its config, for the test's later pulls, and the catalog document."""
    for api_id in api_ids:
        publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, ca, base, mutual_tls=False, cors=False)
    return cfg, pull(cfg).document(time.time())


@contextlib.asynccontextmanager
async def pulled(cfg: config.Config) -> AsyncIterator[Wso2ControlPlane]:
    """The wso2 control plane `cfg` configures, after one full pull (its `snapshot`); closed on the way out."""
    cp = Wso2ControlPlane(cfg.control_plane, cfg, min_backoff=0.05, max_backoff=0.2)
    try:
        cp.snapshot = await cp.pull()
        yield cp
    finally:
        await cp.api.close()


def pull(cfg: config.Config) -> Snapshot:
    """One full pull of the wso2 control plane `cfg` configures."""

    async def scenario() -> Snapshot:
        async with pulled(cfg) as cp:
            assert cp.snapshot is not None
            return cp.snapshot

    return asyncio.run(scenario())


def artifact_requests(apim: ApimDouble) -> list[str | None]:
    """The `apiId` of each runtime-artifact request the double answered, in order (None: the whole environment's)."""
    return [query.get("apiId") for endpoint, query in apim.requests if endpoint == "runtime-artifacts"]


async def apply_latest(cp: Wso2ControlPlane, apim: ApimDouble, kind: str) -> Plan:
    """The control plane applies the double's latest event of this type, as the event hub would bring it."""
    [(topic, found, payload)] = [e for e in apim.events if e[1] == kind][-1:]
    return await cp.apply(Event(topic, found, payload, time.time()))


def before_and_after_an_unreadable_revision(
    cfg: config.Config, apim: ApimDouble, publisher: Publisher, api_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The API's catalog item after a full pull, and after a new revision whose artifact APIM cannot give (it answers
    500 for it) is deployed and its event applied."""

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with pulled(cfg) as cp:
            assert cp.snapshot is not None
            first = cp.snapshot.apis[api_id]
            apim.unreadable_artifacts.add(api_id)
            publisher.deploy_new_revision(api_id)
            await apply_latest(cp, apim, "DEPLOY_API_IN_GATEWAY")
            return first, cp.snapshot.apis[api_id]

    return asyncio.run(scenario())
