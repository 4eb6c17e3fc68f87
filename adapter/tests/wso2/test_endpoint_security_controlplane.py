"""The wso2 control plane reads an API's endpoint security from the revision deployed to its gateway label (the
runtime artifact's APIDTO `endpointConfig.endpoint_security`, credentials in the clear: harness/apim_double.py
`_api_project_file`), keeping only what the adapter sends a backend; a product's, from the APIs it bundles as its
revision holds them, per operation. The Publisher's answer hides the credentials, as APIM's does."""

from __future__ import annotations

import json
import logging
import time

from apim_adapter.catalog import build
from apim_adapter.endpoint_security import BackendCredential, OAuthEndpoint
from harness.publisher import before_and_after_an_unreadable_revision, pull, wso2_config
from harness.sample_catalog import api_product, catalog_document

BASIC = {"enabled": True, "type": "BASIC", "username": "backend", "password": "basic-s3cret"}
DIGEST = {"enabled": True, "type": "DIGEST", "username": "backend", "password": "digest-s3cret"}
OAUTH = {"enabled": True, "type": "OAUTH", "grantType": "CLIENT_CREDENTIALS", "tokenUrl": "https://is.example.com/token",
         "clientId": "orders-backend", "clientSecret": "oauth-s3cret", "customParameters": {},
         "uniqueIdentifier": "ignored", "connectionTimeoutDuration": -1}  # fmt: skip


def secured_httpbin(**security: dict) -> dict:
    api = catalog_document()["apis"][0]
    api["_endpointConfig"] = {"endpoint_type": "http", "production_endpoints": {"url": "http://httpbin:8000"},
                              "endpoint_security": security}  # fmt: skip
    return api


def test_an_apis_endpoint_security_reaches_the_catalog_with_only_what_is_sent(apim, credentials, test_ca, tmp_path):
    api = secured_httpbin(production=BASIC, sandbox=DIGEST)
    apim.change(lambda data: data["apis"].append(api))
    document = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)).document(
        time.time()
    )
    [item] = [a for a in document["apis"] if a["uuid"] == api["uuid"]]
    sandbox = {"enabled": True, "type": "DIGEST"}
    assert item["endpointConfig"] == {"endpoint_security": {"production": BASIC, "sandbox": sandbox}}
    assert "digest-s3cret" not in json.dumps(document["apis"])  # a type not applied: its password dropped as read
    catalog = build(document, lenient=True)
    credential = catalog.apis[api["uuid"]].backend_credentials["PRODUCTION"]
    assert isinstance(credential, BackendCredential)
    assert credential.headers == (("authorization", "Basic YmFja2VuZDpiYXNpYy1zM2NyZXQ="),)
    [note] = [n for n in catalog.unenforced if "endpoint security" in n]
    assert note.endswith("DIGEST endpoint security (sandbox)")


def test_a_products_resources_get_the_endpoint_security_of_the_api_each_comes_from(
    apim, credentials, test_ca, tmp_path
):
    """APIM's product template secures each resource with its API's endpoint (api_product_template.xml): the
    product's operations taken from httpbin get httpbin's OAuth endpoint; a product has none of its own."""
    httpbin = secured_httpbin(production=OAUTH)
    bundle = api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", httpbin["urlMappings"][:2])
    bundle["_bundledApis"] = [httpbin["uuid"]]
    apim.change(lambda data: data["apis"].extend([httpbin, bundle]))
    document = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)).document(
        time.time()
    )
    [item] = [a for a in document["apis"] if a["uuid"] == "product-bundle"]
    operations = [{"verb": m["httpMethod"], "target": m["urlPattern"]} for m in httpbin["urlMappings"][:2]]
    kept = {k: v for k, v in OAUTH.items() if k not in ("uniqueIdentifier", "connectionTimeoutDuration")}
    assert item["apis"] == [{"apiId": httpbin["uuid"], "operations": operations,
                             "endpointConfig": {"endpoint_security": {"production": kept}}}]  # fmt: skip
    assert "endpointConfig" not in item
    catalog = build(document, lenient=True)
    product = catalog.apis["product-bundle"]
    assert not product.backend_credentials
    endpoints = {r.pattern: r.credential(product, "PRODUCTION") for r in product.resources}
    assert set(endpoints) == {m["urlPattern"] for m in httpbin["urlMappings"][:2]}
    assert all(isinstance(e, OAuthEndpoint) and e.client_id == "orders-backend" for e in endpoints.values())
    assert catalog.oauth_endpoints == set(endpoints.values())  # one endpoint: one token, for the API and its product


def test_the_publisher_hides_the_credentials_the_artifact_carries(apim, publisher, credentials, test_ca, tmp_path):
    config = {"endpoint_type": "http", "production_endpoints": {"url": "http://httpbin:8000"},
              "endpoint_security": {"production": OAUTH, "sandbox": BASIC}}  # fmt: skip
    api_id = publisher.create("Secured", endpointConfig=config)
    shown = publisher("GET", f"/apis/{api_id}").json()["endpointConfig"]["endpoint_security"]
    assert (shown["production"]["clientSecret"], shown["sandbox"]["password"]) == ("", "")
    publisher.deploy_new_revision(api_id)
    snapshot = pull(wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False))
    security = snapshot.apis[api_id]["endpointConfig"]["endpoint_security"]
    assert (security["production"]["clientSecret"], security["sandbox"]["password"]) == ("oauth-s3cret", "basic-s3cret")


def test_an_artifact_that_cannot_be_read_keeps_the_endpoint_security_read_before(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    config = {"endpoint_type": "http", "production_endpoints": {"url": "http://httpbin:8000"},
              "endpoint_security": {"production": BASIC}}  # fmt: skip
    api_id = publisher.create("Kept", endpointConfig=config)
    publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        first, after = before_and_after_an_unreadable_revision(cfg, apim, publisher, api_id)
    assert first["endpointConfig"] == {"endpoint_security": {"production": BASIC}}
    assert after["endpointConfig"] == first["endpointConfig"]  # the backend keeps getting its credential
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "endpoint security of an API not read; what was read before applies until its next pull" in warnings
    assert "basic-s3cret" not in caplog.text
