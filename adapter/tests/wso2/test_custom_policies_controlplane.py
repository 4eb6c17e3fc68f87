"""APIM's custom (global) throttling policies: a Siddhi query APIM's traffic manager runs over every request, and a
key template its gateways check (ThrottleHandler.validateCustomPolicy). The adapter runs no Siddhi: the wso2 control
plane pulls them from the data API (`/global-policies`, GlobalPoliciesApiServiceImpl) and the catalog names each as
not enforced, so that an operator moving APIs off APIM's gateway sees what is no longer applied."""

from __future__ import annotations

import time

from apim_adapter.catalog import CUSTOM_POLICY_NOT_ENFORCED, build
from harness.publisher import pull, wso2_config

# The admin portal's sample custom policy (a user's requests across every API, 5 a minute), as the data API answers
# it (SubscriptionValidationDataUtil.fromGlobalPolicyToGlobalPolicyListDTO).
SIDDHI = """FROM RequestStream
SELECT userId, ( userId == 'admin@carbon.super' ) AS isEligible , str:concat('admin@carbon.super','') as throttleKey
INSERT INTO EligibilityStream;
FROM EligibilityStream[isEligible==true]#throttler:timeBatch(1 min)
SELECT throttleKey, (count(userId) >= 5) as isThrottled, expiryTimeStamp group by throttleKey
INSERT ALL EVENTS into ResultStream;"""
CUSTOM = {"id": 1, "tenantId": -1234, "tenantDomain": "carbon.super", "name": "FivePerUser",
          "siddhiQuery": SIDDHI, "keyTemplate": "$userId"}  # fmt: skip


def test_a_custom_policy_is_pulled_and_named_as_not_enforced(apim, credentials, test_ca, tmp_path):
    apim.data["globalPolicies"].append(dict(CUSTOM))
    try:
        cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
        document = pull(cfg).document(time.time())
        assert [p["name"] for p in document["globalPolicies"]] == ["FivePerUser"]
        catalog = build(document, lenient=True)
        [note] = [n for n in catalog.unenforced if CUSTOM_POLICY_NOT_ENFORCED in n]
        assert note.startswith("globalPolicies 'FivePerUser' (key template '$userId')")
        assert "admin@carbon.super" not in note  # the query is not repeated: it may name users
    finally:
        apim.data["globalPolicies"].clear()
