"""Mutual TLS: the wso2 control plane learns the client certificates of each API whose security scheme lists
`mutualssl` from the runtime artifact of the revision deployed to its gateway label, against the APIM double's
Publisher API (where a user uploads them) and internal data API (where gateways read them)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from apim_adapter import catalog, config
from apim_adapter.controlplane.data_api import ControlPlaneError
from apim_adapter.http_client import HttpClient
from harness.certificates import CertificateAuthority
from harness.publisher import apply_latest, artifact_requests, pull, pulled, wso2_config
from harness.sample_catalog import api_product


@pytest.fixture
def clients(tmp_path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "clients", "clients-ca")


def client_pem(ca: CertificateAuthority, name: str) -> str:
    """A client certificate the CA issues, as the PEM an operator would upload."""
    return ca.issue(name, f"{name}.example.com").cert.read_text()


def der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def make_config(apim, credentials, test_ca, tmp_path, enabled: bool = True, cors: bool = False) -> config.Config:
    """CORS is off unless asked for: these tests are about what mutual TLS takes from the artifact (every deployed
    API's is fetched once per pull in any case, for its operation policies)."""
    return wso2_config(apim, credentials, test_ca.ca, tmp_path, enabled, cors)


def by_alias(api: dict) -> dict[str, tuple[str, str, str]]:
    return {c["alias"]: (c["tier"], c["keyType"], c["certificate"]) for c in api["clientCertificates"]}


def test_the_control_plane_learns_an_mtls_apis_certificates_from_its_deployed_revision(
    apim, publisher, clients, credentials, test_ca, tmp_path
):
    mtls = publisher.create("Mtls", ["oauth2", "mutualssl"])
    plain = publisher.create("Plain", ["oauth2"])
    alice, bob, carol = (client_pem(clients, n) for n in ("alice", "bob", "carol"))
    assert publisher.upload(mtls, "alice", alice.encode()).status_code == 201  # PEM, PRODUCTION (the old endpoint)
    assert publisher.upload(mtls, "bob", der(bob), "Silver", "SANDBOX").status_code == 201  # DER
    publisher.deploy_new_revision(mtls)
    publisher.deploy_new_revision(plain)
    assert publisher.upload(mtls, "carol", carol.encode()).status_code == 201  # after the revision: not deployed

    snap = pull(make_config(apim, credentials, test_ca, tmp_path))

    assert by_alias(snap.apis[mtls]) == {"alice": ("Gold", "PRODUCTION", alice), "bob": ("Silver", "SANDBOX", bob)}
    assert "clientCertificates" not in snap.apis[plain]
    # Both artifacts are read (each API's operation policies); only the mutualssl API's certificates are taken.
    assert sorted(artifact_requests(apim)) == sorted([mtls, plain])
    built = catalog.build(snap.document(time.time()), lenient=True)
    learnt = {digest: (c.alias, c.tier, c.key_type) for digest, c in built.apis[mtls].client_certificates.items()}
    assert learnt == {hashlib.sha256(der(alice)).hexdigest(): ("alice", "Gold", "PRODUCTION"),
                      hashlib.sha256(der(bob)).hexdigest(): ("bob", "Silver", "SANDBOX")}  # fmt: skip
    assert built.apis[plain].client_certificates == {}


def test_an_api_products_certificates_are_learnt_from_its_revision_as_an_apis(
    apim, clients, credentials, test_ca, tmp_path
):
    """A product's revision is its own project (`api_product.json`, ExportUtils.exportApiProduct), with its client
    certificates where an API's are (addClientCertificatesToArchive on the product's path): read as an API's
    project, it was refused whole and the product admitted no certificate."""
    alice = client_pem(clients, "alice")
    row = {"alias": "alice", "certificate": base64.b64encode(alice.encode()).decode(), "tierName": "Gold",
           "keyType": "PRODUCTION"}  # AM_API_CLIENT_CERTIFICATE as the Publisher stores an upload  # fmt: skip
    bundle = api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", [{"httpMethod": "GET", "urlPattern": "/get"}])
    apim.change(lambda data: data["apis"].append(
        {**bundle, "securityScheme": "oauth2,mutualssl", "_deployedClientCertificates": [row]}))  # fmt: skip

    snap = pull(make_config(apim, credentials, test_ca, tmp_path))

    assert by_alias(snap.apis["product-bundle"]) == {"alice": ("Gold", "PRODUCTION", alice)}


def test_with_mutual_tls_off_no_api_has_certificates(apim, publisher, clients, credentials, test_ca, tmp_path):
    mtls = publisher.create("Mtls", ["oauth2", "mutualssl"])
    assert publisher.upload(mtls, "alice", client_pem(clients, "alice").encode()).status_code == 201
    publisher.deploy_new_revision(mtls)

    snap = pull(make_config(apim, credentials, test_ca, tmp_path, enabled=False))

    assert "clientCertificates" not in snap.apis[mtls]
    assert artifact_requests(apim) == [mtls]  # one read, for its operation policies
    assert [q for e, q in apim.requests if e == "apis" and "apiId" in q] == []  # no scheme pulls


def test_one_apis_unreadable_artifact_or_certificate_leaves_only_that_out(
    apim, publisher, clients, credentials, test_ca, tmp_path, caplog
):
    broken, bad_file, good = (publisher.create(n, ["mutualssl", "oauth2"]) for n in ("Broken", "BadFile", "Good"))
    alice, bob = client_pem(clients, "alice"), client_pem(clients, "bob")
    for api_id, alias in ((broken, "b-alice"), (bad_file, "f-alice"), (good, "g-alice")):
        assert publisher.upload(api_id, alias, alice.encode()).status_code == 201
    assert publisher.upload(bad_file, "f-bob", bob.encode()).status_code == 201
    for api_id in (broken, bad_file, good):
        publisher.deploy_new_revision(api_id)
    apim.unreadable_artifacts.add(broken)  # APIM answers 500 for its artifact

    def corrupt(data: dict) -> None:  # a stored certificate Java could not read back
        api = next(a for a in data["apis"] if a["uuid"] == bad_file)
        api["_deployedClientCertificates"][1]["certificate"] = base64.b64encode(b"not a certificate").decode()

    apim.change(corrupt)
    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        snap = pull(make_config(apim, credentials, test_ca, tmp_path))

    assert "clientCertificates" not in snap.apis[broken]
    assert by_alias(snap.apis[bad_file]) == {"f-alice": ("Gold", "PRODUCTION", alice)}
    assert by_alias(snap.apis[good]) == {"g-alice": ("Gold", "PRODUCTION", alice)}
    warnings = {(r.getMessage(), getattr(r, "api", None)) for r in caplog.records if r.levelno == logging.WARNING}
    assert ("client certificates of an API not read; it admits none until its next pull", broken) in warnings
    assert ("client certificate of an API left out", bad_file) in warnings
    assert not any("CERTIFICATE" in r.getMessage() + str(getattr(r, "error", "")) for r in caplog.records)


def test_no_answer_for_an_artifact_fails_the_pull_as_any_other_list(
    apim, publisher, clients, credentials, test_ca, tmp_path, monkeypatch
):
    """APIM away while the artifacts are read: the pull fails (the last good catalog keeps serving) rather than
    dropping every mTLS API's certificates."""
    mtls = publisher.create("Mtls", ["oauth2", "mutualssl"])
    assert publisher.upload(mtls, "alice", client_pem(clients, "alice").encode()).status_code == 201
    publisher.deploy_new_revision(mtls)

    answered = HttpClient.get_bytes

    async def refused(self, url, *args, **kwargs):
        if url.endswith("/runtime-artifacts"):
            raise aiohttp.ClientConnectionError("connection refused")
        return await answered(self, url, *args, **kwargs)

    monkeypatch.setattr("apim_adapter.http_client.HttpClient.get_bytes", refused)
    with pytest.raises(ControlPlaneError, match="runtime-artifacts"):
        pull(make_config(apim, credentials, test_ca, tmp_path))


def test_a_deployment_event_rereads_the_certificates_of_the_new_revision(
    apim, publisher, clients, credentials, test_ca, tmp_path
):
    mtls = publisher.create("Mtls", ["oauth2", "mutualssl"])
    alice, dave = client_pem(clients, "alice"), client_pem(clients, "dave")
    assert publisher.upload(mtls, "alice", alice.encode()).status_code == 201
    publisher.deploy_new_revision(mtls)
    cfg = make_config(apim, credentials, test_ca, tmp_path)

    async def scenario() -> tuple[dict, dict, dict]:
        async with pulled(cfg) as cp:
            first = cp.snapshot.apis[mtls]
            assert publisher.upload(mtls, "dave", dave.encode(), "Bronze", "sandbox").status_code == 201
            unchanged = cp.snapshot.apis[mtls]  # an upload alone reaches no gateway and sends no event
            publisher.deploy_new_revision(mtls)
            await apply_latest(cp, apim, "DEPLOY_API_IN_GATEWAY")
            return first, unchanged, cp.snapshot.apis[mtls]

    first, unchanged, after = asyncio.run(scenario())
    assert by_alias(first) == by_alias(unchanged) == {"alice": ("Gold", "PRODUCTION", alice)}
    assert by_alias(after) == {"alice": ("Gold", "PRODUCTION", alice), "dave": ("Bronze", "SANDBOX", dave)}
    assert artifact_requests(apim) == [mtls, mtls]
