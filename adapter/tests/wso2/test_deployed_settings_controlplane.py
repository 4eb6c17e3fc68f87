"""What an API's deployed revision says, which APIM's gateway enforces, wins over what the API has saved since: its
security scheme (APIDTO `securityScheme`, handed to APIAuthenticationHandler as `apiSecurity` by
TemplateBuilderUtil), the key managers it takes (`keyManagers`, OAuthAuthenticator's list) and its audiences
(`audiences`, JWTValidator's), read from the revision's project (`api.json`) whatever the adapter's own switches;
the internal data API answers the saved scheme (SubscriptionValidationDataUtil: getSecuritySchemeOfAPI), and only
to some requests."""

from __future__ import annotations

import time

from apim_adapter.catalog import OAUTH2, build
from harness.publisher import deployed_and_pulled, pull, wso2_config
from harness.sample_catalog import KM


def deployed(cfg, api_id: str):
    return build(pull(cfg).document(time.time()), lenient=True).apis[api_id]


def test_the_deployed_revisions_security_scheme_holds_until_another_is_deployed(
    apim, publisher, credentials, test_ca, tmp_path
):
    api_id = publisher.create("Keyed", scheme=("oauth2", "api_key"))
    publisher.deploy_new_revision(api_id)
    # API keys, client certificates and basic authentication all off: the scheme is known all the same (no
    # single-API pull needed), so a full pull and an event's re-pull agree on it.
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    assert deployed(cfg, api_id).security_schemes == {OAUTH2, "api_key"}
    publisher.update(api_id, securityScheme=["api_key"])
    assert deployed(cfg, api_id).security_schemes == {OAUTH2, "api_key"}  # saved, not deployed: tokens still taken
    publisher.deploy_new_revision(api_id)
    api = deployed(cfg, api_id)
    assert (api.security_schemes, api.accepts(OAUTH2)) == ({"api_key"}, False)


def test_the_deployed_revisions_key_managers_hold_the_apis_tokens(apim, publisher, credentials, test_ca, tmp_path):
    restricted = publisher.create("Restricted", keyManagers=["Other-KM"])
    plain = publisher.create("Plain")
    cfg, document = deployed_and_pulled(apim, publisher, credentials, test_ca.ca, tmp_path, restricted, plain)
    items = {a["uuid"]: a for a in document["apis"]}
    assert (items[restricted]["keyManagers"], items[plain]["keyManagers"]) == (["Other-KM"], ["all"])
    catalog = build(document, lenient=True)
    assert (catalog.apis[restricted].key_managers, catalog.apis[plain].key_managers) == (frozenset({"Other-KM"}), None)

    publisher.update(restricted, keyManagers=["Other-KM", KM])
    assert deployed(cfg, restricted).key_managers == {"Other-KM"}
    publisher.deploy_new_revision(restricted)  # saved, then deployed: the gateway's list changes with the revision
    assert deployed(cfg, restricted).key_managers == {"Other-KM", KM}


def test_the_deployed_revisions_audiences_hold_the_apis_jwts(apim, publisher, credentials, test_ca, tmp_path):
    """APIDTO `audiences` (an empty list is stored as `all`: APIMappingUtil.fromDTOtoAPI)."""
    named = publisher.create("Audienced", audiences=["orders", "billing"])
    emptied = publisher.create("Emptied", audiences=[])
    plain = publisher.create("Unaudienced")
    _, document = deployed_and_pulled(apim, publisher, credentials, test_ca.ca, tmp_path, named, emptied, plain)
    catalog = build(document, lenient=True)
    assert [catalog.apis[a].audiences for a in (named, emptied, plain)] == [
        frozenset({"orders", "billing"}),
        None,
        None,
    ]
