"""The key managers an API takes, set in APIM's Publisher (the API's Runtime configuration, "Key Managers": APIDTO
`keyManagers`, `all` by default), reach the adapter from the deployed revision's project (`api.json`), and a token
of any other key manager is refused as OAuthAuthenticator refuses it."""

from __future__ import annotations

import time

from apim_adapter.catalog import build
from harness.publisher import pull, wso2_config
from harness.sample_catalog import KM


def test_the_deployed_revisions_key_managers_hold_the_apis_tokens(apim, publisher, credentials, test_ca, tmp_path):
    restricted = publisher.create("Restricted", keyManagers=["Other-KM"])
    plain = publisher.create("Plain")
    for api_id in (restricted, plain):
        publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    document = pull(cfg).document(time.time())
    items = {a["uuid"]: a for a in document["apis"]}
    assert (items[restricted]["keyManagers"], items[plain]["keyManagers"]) == (["Other-KM"], ["all"])
    catalog = build(document, lenient=True)
    assert (catalog.apis[restricted].key_managers, catalog.apis[plain].key_managers) == (frozenset({"Other-KM"}), None)

    publisher.update(restricted, keyManagers=["Other-KM", KM])
    assert build(pull(cfg).document(time.time()), lenient=True).apis[restricted].key_managers == {"Other-KM"}
    publisher.deploy_new_revision(restricted)  # saved, then deployed: the gateway's list changes with the revision
    assert build(pull(cfg).document(time.time()), lenient=True).apis[restricted].key_managers == {"Other-KM", KM}
