"""CORS: the wso2 control plane brings each API's own CORS configuration (`corsConfiguration`, with the DTO's
`authorizationHeader` and `apiKeyHeader`) into its catalog item from the runtime artifact of the revision deployed
to its gateway label (the data API has none of it), against the APIM double's Publisher API (where a user sets it)
and internal data API (where gateways read it)."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from apim_adapter import config
from apim_adapter.controlplane import artifacts
from apim_adapter.controlplane.snapshot import Snapshot
from harness.certificates import CertificateAuthority
from harness.publisher import apply_latest, artifact_requests, pull, pulled, wso2_config
from harness.sample_catalog import api_product, catalog_document

# APIUtil.getDefaultCorsConfiguration() with the shipped [apim.cors]: what an API created without one carries.
DEFAULT_CORS = {
    "corsConfigurationEnabled": False,
    "accessControlAllowOrigins": ["*"],
    "accessControlAllowCredentials": False,
    "accessControlAllowHeaders": ["authorization", "Access-Control-Allow-Origin", "Content-Type", "SOAPAction",
                                  "apikey", "Internal-Key"],
    "accessControlAllowMethods": ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"],
}  # fmt: skip
OWN_CORS = {
    "corsConfigurationEnabled": True,
    "accessControlAllowOrigins": ["https://app.example.com", "https://*.example.org"],
    "accessControlAllowCredentials": True,
    "accessControlAllowHeaders": ["Authorization", "X-Trace"],
    "accessControlAllowMethods": ["GET", "POST"],
}
NOT_READ = "CORS configuration of an API not read; it engages no CORS until its next pull"
POLICIES_NOT_READ = "operation policies of an API not read; its calls pass without them until its next pull"


def make_config(
    apim, credentials, test_ca, tmp_path, cors: bool = True, mutual_tls: bool = False, label: str | None = "Default"
) -> config.Config:
    return wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls, cors, label)


def published(snap: Snapshot) -> dict[str, dict]:
    """The API items of the catalog document the control plane publishes, by uuid."""
    return {api["uuid"]: api for api in snap.document(time.time())["apis"]}


def cors_fields(api: dict) -> dict[str, Any]:
    return {k: api[k] for k in ("corsConfiguration", "authorizationHeader", "apiKeyHeader") if k in api}


def test_an_api_whose_deployed_revision_enables_cors_carries_its_configuration(
    apim, publisher, credentials, test_ca, tmp_path
):
    own = publisher.create("Own", corsConfiguration=OWN_CORS, authorizationHeader="X-Auth", apiKeyHeader="X-Key")
    # A partial configuration: APICorsConfigurationDTO's defaults fill the rest (false, []).
    partial = publisher.create(
        "Partial",
        corsConfiguration={"corsConfigurationEnabled": True, "accessControlAllowOrigins": ["https://a.example"]},
    )
    publisher.deploy_new_revision(own)
    publisher.deploy_new_revision(partial)
    publisher.update(own, corsConfiguration=DEFAULT_CORS)  # saved, not deployed: gateways still see the revision's

    apis = published(pull(make_config(apim, credentials, test_ca, tmp_path)))

    assert cors_fields(apis[own]) == {"corsConfiguration": OWN_CORS, "authorizationHeader": "X-Auth",
                                      "apiKeyHeader": "X-Key"}  # fmt: skip
    assert cors_fields(apis[partial]) == {
        "corsConfiguration": {"corsConfigurationEnabled": True, "accessControlAllowOrigins": ["https://a.example"],
                              "accessControlAllowCredentials": False, "accessControlAllowHeaders": [],
                              "accessControlAllowMethods": []},
        "authorizationHeader": "Authorization", "apiKeyHeader": "ApiKey",  # prepareToCreateAPIByDTO's defaults
    }  # fmt: skip
    assert sorted(artifact_requests(apim)) == sorted([own, partial])  # one fetch each


def test_an_api_with_apims_default_carries_the_disabled_configuration(apim, publisher, credentials, test_ca, tmp_path):
    """An API created without a CORS configuration has APIUtil.getDefaultCorsConfiguration()'s, disabled (the
    catalog then applies the global configuration); so has an item put in the double's data without one, with no
    header names. An API Product's is read from its `api_product.json`."""
    created = publisher.create("Created")
    publisher.deploy_new_revision(created)
    assert publisher("GET", f"/apis/{created}").json()["corsConfiguration"] == DEFAULT_CORS
    bundle = api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", [{"httpMethod": "GET", "urlPattern": "/get"}])
    seeded = catalog_document()["apis"][0]
    bundle.update(_corsConfiguration=OWN_CORS, _apiKeyHeader="X-Bundle-Key")  # its deployed revision's DTO fields
    apim.change(lambda data: data["apis"].extend([copy.deepcopy(seeded), bundle]))

    apis = published(pull(make_config(apim, credentials, test_ca, tmp_path)))

    assert cors_fields(apis[created]) == {"corsConfiguration": DEFAULT_CORS, "authorizationHeader": "Authorization",
                                          "apiKeyHeader": "ApiKey"}  # fmt: skip
    assert cors_fields(apis[seeded["uuid"]]) == {"corsConfiguration": DEFAULT_CORS}
    assert cors_fields(apis["product-bundle"]) == {"corsConfiguration": OWN_CORS, "apiKeyHeader": "X-Bundle-Key"}


def test_an_api_products_own_cors_is_read_from_its_deployed_revision(apim, publisher, credentials, test_ca, tmp_path):
    """A product made in the Publisher keeps the CORS configuration sent (APIMappingUtil.fromDTOtoAPIProduct), and
    its revision's `api_product.json` carries it; its bundled API's own does not count."""
    member = publisher.create("Member")
    body = {"name": "Bundle", "context": "/bundle", "policies": ["Gold"], "corsConfiguration": OWN_CORS,
            "apis": [{"apiId": member, "operations": [{"target": "/get", "verb": "GET"}]}]}  # fmt: skip
    created = publisher("POST", "/api-products", json=body)
    assert created.status_code == 201, created.text
    product = created.json()["id"]
    revision = publisher("POST", f"/api-products/{product}/revisions", json={"description": "cors"})
    assert revision.status_code == 201, revision.text
    deployed = publisher("POST", f"/api-products/{product}/deploy-revision",
                         params={"revisionId": revision.json()["id"]},
                         json=[{"name": "Default", "vhost": "localhost"}])  # fmt: skip
    assert deployed.status_code == 201, deployed.text

    apis = published(pull(make_config(apim, credentials, test_ca, tmp_path)))

    assert cors_fields(apis[product]) == {"corsConfiguration": OWN_CORS, "authorizationHeader": "Authorization",
                                          "apiKeyHeader": "ApiKey"}  # fmt: skip


def test_an_artifact_apim_refuses_leaves_only_that_api_without_cors(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    broken = publisher.create("Broken", corsConfiguration=OWN_CORS)
    good = publisher.create("Good", corsConfiguration=OWN_CORS)
    for api_id in (broken, good):
        publisher.deploy_new_revision(api_id)
    apim.unreadable_artifacts.add(broken)  # APIM answers 500 for its artifact

    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        apis = published(pull(make_config(apim, credentials, test_ca, tmp_path)))

    assert apis[broken]["corsConfiguration"] is None  # present, and None: no CORS, not the global config
    assert apis[good]["corsConfiguration"] == OWN_CORS
    assert "operationPolicies" not in apis[broken]
    warnings = [(r.getMessage(), getattr(r, "api", None)) for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [(NOT_READ, broken), (POLICIES_NOT_READ, broken)]  # each says what the API goes without
    # Never the artifact's content (it carries the endpoint's decrypted credentials).
    logged = " ".join(r.getMessage() + str(getattr(r, "error", "")) for r in caplog.records)
    assert "httpbin" not in logged
    assert "example.com" not in logged


def test_no_revision_deployed_to_the_label_is_no_cors(
    apim, publisher, credentials, test_ca, tmp_path, monkeypatch, caplog
):
    """Undeployed between the API list and its artifact: nothing deployed answers for it, and it engages no CORS."""
    gone, kept = publisher.create("Gone"), publisher.create("Kept")
    for api_id in (gone, kept):
        publisher.deploy_new_revision(api_id)
    fetch = artifacts.fetch

    async def undeployed(api, label, api_id=None):
        return None if api_id == gone else await fetch(api, label, api_id)

    monkeypatch.setattr(artifacts, "fetch", undeployed)
    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        apis = published(pull(make_config(apim, credentials, test_ca, tmp_path)))

    assert apis[gone]["corsConfiguration"] is None
    assert apis[kept]["corsConfiguration"] == DEFAULT_CORS
    warnings = [(r.getMessage(), getattr(r, "api", None)) for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [(NOT_READ, gone)]


def test_with_cors_off_or_no_label_no_cors_is_read_and_without_a_label_no_artifact_is_fetched(
    apim, publisher, credentials, test_ca, tmp_path
):
    plain = publisher.create("Plain", corsConfiguration=OWN_CORS)
    publisher.deploy_new_revision(plain)

    unlabelled = published(pull(make_config(apim, credentials, test_ca, tmp_path, label=None)))
    assert artifact_requests(apim) == []
    off = published(pull(make_config(apim, credentials, test_ca, tmp_path, cors=False, mutual_tls=True)))

    assert cors_fields(off[plain]) == cors_fields(unlabelled[plain]) == {}  # the catalog applies the global config
    assert artifact_requests(apim) == [plain]  # read all the same, for the API's operation policies
    assert off[plain]["operationPolicies"] == []


def test_one_artifact_fetch_per_api_serves_its_certificates_and_its_cors(
    apim, publisher, credentials, test_ca, tmp_path
):
    mtls = publisher.create("Mtls", ("oauth2", "mutualssl"), corsConfiguration=OWN_CORS)
    pem = CertificateAuthority(tmp_path / "clients", "clients-ca").issue("alice", "alice.example.com").cert
    parts = {"certificate": ("alice.crt", pem.read_bytes()), "alias": (None, "alice"), "tier": (None, "Gold")}
    assert publisher("POST", f"/apis/{mtls}/client-certificates", files=parts).status_code == 201
    publisher.deploy_new_revision(mtls)

    apis = published(pull(make_config(apim, credentials, test_ca, tmp_path, mutual_tls=True)))

    assert [c["alias"] for c in apis[mtls]["clientCertificates"]] == ["alice"]
    assert apis[mtls]["corsConfiguration"] == OWN_CORS
    assert artifact_requests(apim) == [mtls]


def test_a_deployment_event_brings_the_new_revisions_cors(apim, publisher, credentials, test_ca, tmp_path):
    api_id = publisher.create("Evolving")
    publisher.deploy_new_revision(api_id)
    cfg = make_config(apim, credentials, test_ca, tmp_path)

    async def scenario() -> tuple[dict, dict, dict]:
        async with pulled(cfg) as cp:
            first = cp.snapshot.apis[api_id]
            publisher.update(api_id, corsConfiguration=OWN_CORS, authorizationHeader="X-Auth")
            await apply_latest(cp, apim, "API_UPDATE")
            updated = cp.snapshot.apis[api_id]  # saved, not deployed: the gateway's revision is unchanged
            publisher.deploy_new_revision(api_id)
            await apply_latest(cp, apim, "DEPLOY_API_IN_GATEWAY")
            return first, updated, cp.snapshot.apis[api_id]

    first, updated, deployed = asyncio.run(scenario())
    assert first["corsConfiguration"] == updated["corsConfiguration"] == DEFAULT_CORS
    assert cors_fields(deployed) == {"corsConfiguration": OWN_CORS, "authorizationHeader": "X-Auth",
                                     "apiKeyHeader": "ApiKey"}  # fmt: skip
    assert artifact_requests(apim) == [api_id] * 3


def test_no_artifact_is_fetched_for_the_cors_of_an_api_of_another_protocol(apim, credentials, test_ca, tmp_path):
    """A WebSocket API is left out of the catalog (APIM's own gateway serves it): its CORS is not read."""
    websocket = copy.deepcopy(catalog_document()["apis"][0])
    websocket.update(uuid="ws-api", apiId=77, name="Notices", context="/notices/1.0.0", apiType="WS",
                     urlMappings=[{"httpMethod": "SUBSCRIBE", "urlPattern": "/notices", "scopes": []}])  # fmt: skip
    http = catalog_document()["apis"][0]
    apim.change(lambda data: data["apis"].extend([websocket, http]))

    apis = published(pull(make_config(apim, credentials, test_ca, tmp_path)))

    assert "ws-api" in apis
    assert cors_fields(apis["ws-api"]) == {}
    assert "ws-api" not in artifact_requests(apim)
    assert artifact_requests(apim) == [http["uuid"]]  # the HTTP API's is read
