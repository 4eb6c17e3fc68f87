"""An API with Schema Validation on (APIM's Publisher: API Configurations > Runtime) has its requests checked against
its OpenAPI definition by APIM's gateway (velocity_template.xml engages SchemaValidator): the wso2 control plane reads
`enableSchemaValidation` and, where it is on, the revision's definition (`Definitions/swagger.json`) from the deployed
revision (the runtime artifact: harness/apim_rest.py `deployed_dto_fields`, harness/apim_double.py), and the catalog
checks every resource of the API against it (apim_adapter/schema_validation.py)."""

from __future__ import annotations

import json
import logging
import time

from apim_adapter.catalog import SCHEMA_VALIDATION_NOT_APPLIED, build
from apim_adapter.mediation import SchemaCheck
from apim_adapter.schema_validation import request_of
from harness.publisher import before_and_after_an_unreadable_revision, pull, wso2_config

GET_ONLY = {"openapi": "3.0.1", "info": {"title": "Validated", "version": "1.0.0"},
            "paths": {"/get": {"get": {"parameters": [{"name": "n", "in": "query", "schema": {"type": "integer"}}],
                                       "responses": {"200": {"description": "OK"}}}}}}  # fmt: skip


def check_of(catalog, api_id: str) -> SchemaCheck | None:
    checks = [c for r in catalog.apis[api_id].resources for c in r.access_checks if isinstance(c, SchemaCheck)]
    return checks[0] if checks else None


def put_definition(publisher, api_id: str, definition: dict) -> None:
    answer = publisher("PUT", f"/apis/{api_id}/swagger", files={"apiDefinition": (None, json.dumps(definition))})
    assert answer.status_code == 200, answer.text


def test_an_apis_requests_are_checked_against_the_definition_of_its_deployed_revision(
    apim, publisher, credentials, test_ca, tmp_path
):
    validated = publisher.create("Validated", enableSchemaValidation=True)
    put_definition(publisher, validated, GET_ONLY)
    plain = publisher.create("Plain")
    for api_id in (validated, plain):
        publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    document = pull(cfg).document(time.time())
    [item] = [a for a in document["apis"] if a["uuid"] == validated]
    assert item["apiDefinition"]["paths"] == GET_ONLY["paths"]
    assert not [a for a in document["apis"] if a["uuid"] == plain and "apiDefinition" in a]  # kept only where on
    catalog = build(document, lenient=True)
    assert catalog.unenforced == ()
    check = check_of(catalog, validated)
    assert check is not None
    assert check_of(catalog, plain) is None
    assert check.definition.detail(request_of("GET", "/get?n=1", {}, None)) is None
    assert "Instance type (string)" in check.definition.detail(request_of("GET", "/get?n=x", {}, None))

    publisher.update(validated, enableSchemaValidation=False)
    assert check_of(build(pull(cfg).document(time.time()), lenient=True), validated)  # saved, not yet deployed
    publisher.deploy_new_revision(validated)
    assert check_of(build(pull(cfg).document(time.time()), lenient=True), validated) is None


def test_a_swagger_2_definition_validates_and_one_of_openapi_3_1_is_named(
    apim, publisher, credentials, test_ca, tmp_path
):
    """APIM's gateway converts a Swagger 2.0 definition to OpenAPI 3.0 and validates against it: so does the adapter.
    An OpenAPI 3.1 one, which APIM's validator reads without its types, the adapter names."""
    get = {"get": {"parameters": [{"name": "n", "in": "query", "type": "integer"}],
                   "responses": {"200": {"description": "OK"}}}}  # fmt: skip
    swagger2 = publisher.create("Swagger2", enableSchemaValidation=True)
    put_definition(
        publisher, swagger2, {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/get": get}}
    )
    newer = publisher.create("Newer", enableSchemaValidation=True)
    put_definition(publisher, newer, {**GET_ONLY, "openapi": "3.1.0"})
    for api_id in (swagger2, newer):
        publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    catalog = build(pull(cfg).document(time.time()), lenient=True)
    check = check_of(catalog, swagger2)
    assert check is not None
    assert "Instance type (string)" in check.definition.detail(request_of("GET", "/get?n=x", {}, None))
    assert catalog.unenforced == (
        f"Newer 1.0.0: not applied here, only by APIM's gateway: {SCHEMA_VALIDATION_NOT_APPLIED}: OpenAPI 3.1.0 "
        "definitions are not validated here (Swagger 2.0 and OpenAPI 3.0 only)",
    )
    assert check_of(catalog, newer) is None


def test_an_artifact_that_cannot_be_read_keeps_the_definition_read_before(
    apim, publisher, credentials, test_ca, tmp_path, caplog
):
    api_id = publisher.create("Kept", enableSchemaValidation=True)
    put_definition(publisher, api_id, GET_ONLY)
    publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.wso2"):
        first, after = before_and_after_an_unreadable_revision(cfg, apim, publisher, api_id)
    assert first["enableSchemaValidation"] is True
    assert first["apiDefinition"]["paths"] == GET_ONLY["paths"]
    assert after["apiDefinition"] == first["apiDefinition"]  # its requests are still validated
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "OpenAPI definition of an API not read; the one read before validates until its next pull" in warnings
