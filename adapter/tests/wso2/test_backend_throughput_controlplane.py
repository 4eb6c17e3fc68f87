"""An API's backend throughput set in APIM's Publisher (the API's Runtime configuration, "Backend Throughput": APIDTO
`maxTps`) reaches the adapter from the deployed revision's project (`api.json`, as APIMappingUtil.fromAPItoDTO writes
it: harness/apim_rest.py `_set_max_tps`, `deployed_dto_fields`), and the catalog limits the API's calls by it."""

from __future__ import annotations

import time

from apim_adapter.catalog import Limit, build
from harness.publisher import deployed_and_pulled, pull

PER_MINUTE = {"production": 10, "productionTimeUnit": "MINUTE"}


def test_the_deployed_revisions_backend_throughput_limits_the_api(apim, publisher, credentials, test_ca, tmp_path):
    limited = publisher.create("Limited", maxTps=PER_MINUTE)
    # The Publisher answers both time units: the DTO's default, SECOND, where one was left out.
    answered = publisher("GET", f"/apis/{limited}").json()["maxTps"]
    assert {k: v for k, v in answered.items() if v is not None} == {**PER_MINUTE, "sandboxTimeUnit": "SECOND"}
    plain = publisher.create("Plain")
    cfg, document = deployed_and_pulled(apim, publisher, credentials, test_ca.ca, tmp_path, limited, plain)
    items = {a["uuid"]: a for a in document["apis"]}
    assert items[limited]["maxTps"] == {**PER_MINUTE, "sandboxTimeUnit": "SECOND"}
    assert "maxTps" not in items[plain]
    catalog = build(document, lenient=True)
    assert catalog.apis[limited].backend_limits == {"PRODUCTION": Limit(10, 60)}
    assert catalog.apis[plain].backend_limits == {}

    current = publisher("GET", f"/apis/{limited}").json()
    current.pop("maxTps")  # Backend Throughput: Unlimited
    assert publisher("PUT", f"/apis/{limited}", json=current).status_code == 200
    assert publisher("GET", f"/apis/{limited}").json().get("maxTps") is None
    saved = build(pull(cfg).document(time.time()), lenient=True)
    assert saved.apis[limited].backend_limits == {"PRODUCTION": Limit(10, 60)}  # saved, not yet deployed
    publisher.deploy_new_revision(limited)
    assert build(pull(cfg).document(time.time()), lenient=True).apis[limited].backend_limits == {}
