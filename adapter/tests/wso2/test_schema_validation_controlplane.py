"""An API with Schema Validation on (APIM's Publisher: API Configurations > Runtime) has its requests checked against
its OpenAPI definition by APIM's gateway (velocity_template.xml engages SchemaValidator), which the adapter does
not do: the wso2 control plane reads `enableSchemaValidation` from the deployed revision (the runtime artifact's
APIDTO: harness/apim_rest.py `deployed_dto_fields`), and the catalog names the API as served without it, so that an
operator sees it (the log's "catalog item not enforced as APIM configures it", apim_adapter_catalog_unenforced_items)
instead of believing the mesh validates what APIM's gateway would."""

from __future__ import annotations

import time

from apim_adapter.catalog import SCHEMA_VALIDATION_NOT_APPLIED, build
from harness.publisher import before_and_after_an_unreadable_revision, pull, wso2_config


def named(catalog, name: str) -> list[str]:
    return [n for n in catalog.unenforced if n.startswith(f"{name} 1.0.0:") and SCHEMA_VALIDATION_NOT_APPLIED in n]


def test_an_api_validated_by_apims_gateway_is_named_until_a_revision_without_it_is_deployed(
    apim, publisher, credentials, test_ca, tmp_path
):
    validated = publisher.create("Validated", enableSchemaValidation=True)
    plain = publisher.create("Plain")
    for api_id in (validated, plain):
        publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    catalog = build(pull(cfg).document(time.time()), lenient=True)
    assert named(catalog, "Validated") == [
        f"Validated 1.0.0: not applied here, only by APIM's gateway: {SCHEMA_VALIDATION_NOT_APPLIED}"
    ]
    assert not named(catalog, "Plain")
    assert validated in catalog.apis  # served, as APIM's other settings the adapter does not apply

    publisher.update(validated, enableSchemaValidation=False)
    assert named(build(pull(cfg).document(time.time()), lenient=True), "Validated")  # saved, not yet deployed
    publisher.deploy_new_revision(validated)
    assert not named(build(pull(cfg).document(time.time()), lenient=True), "Validated")


def test_an_artifact_that_cannot_be_read_keeps_the_setting_read_before(apim, publisher, credentials, test_ca, tmp_path):
    api_id = publisher.create("Kept", enableSchemaValidation=True)
    publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    first, after = before_and_after_an_unreadable_revision(cfg, apim, publisher, api_id)
    assert first["enableSchemaValidation"] is True
    assert after["enableSchemaValidation"] is True
