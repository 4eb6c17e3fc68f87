"""Every kind of revocation APIM announces, on its own: events and /revokedjwt lists in, the pure check out."""

from __future__ import annotations

import base64
import json

import pytest

from apim_adapter.revocation import BadRevocation, RevocationLimits, RevocationStore, jti_of, revoked
from apim_adapter.tokens import Principal, fingerprint
from harness import oidc

NOW = 1_800_000_000.0
HOUR = 3600.0


def principal(jti=None, consumer_key="client-a", iat=NOW - 60, **claims) -> Principal:
    return Principal("WSO2-IS-7", consumer_key, frozenset(), "sub", NOW + HOUR, jti, {"iat": iat, **claims})


def entity_event(kind: str, revocation_ms, **fields) -> dict:
    """APIM's tokenRevocation event for a consumer app or subject: revokedToken is the base64 JSON of the fields
    under APIConstants.NotificationEvent's names, expiryTime 0 (TokenRevocationNotifierImpl.sendMessageOnRealtime)."""
    body = {"revocationTime": revocation_ms, **fields}
    return {"revokedToken": base64.b64encode(json.dumps(body).encode()).decode(), "type": kind, "expiryTime": 0,
            "ttl": "0", "tenantId": -1234}  # fmt: skip


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def test_a_jwt_is_revoked_by_its_jti_until_its_expiry_and_no_other_token_is():
    store = RevocationStore()
    store.apply_event({"revokedToken": "jti-1", "type": "JWT", "expiryTime": ms(NOW + HOUR)}, NOW)
    view = store.view(NOW)
    assert revoked(view, principal("jti-1"), "h", NOW)
    assert not revoked(view, principal("jti-2"), "h", NOW)
    assert not revoked(store.view(NOW + HOUR + 1), principal("jti-1"), "h", NOW + HOUR + 1)
    assert len(store.view(NOW + HOUR + 1)) == 0  # ended entries leave memory


def test_an_opaque_token_is_kept_only_as_its_sha256_and_denied_by_it():
    raw = "c6a1d0a5-opaque-access-token"
    store = RevocationStore()
    digest = store.apply_event({"revokedToken": raw, "type": "Default", "expiryTime": ms(NOW + HOUR)}, NOW)
    assert digest == fingerprint(raw)  # for the caller to evict from the introspection cache
    view = store.view(NOW)
    assert raw not in repr(vars(store))
    assert raw not in repr(view)
    assert revoked(view, principal(), fingerprint(raw), NOW)
    assert not revoked(view, principal(), fingerprint("another-token"), NOW)


def test_a_jti_announced_with_another_type_still_revokes_that_jwt():
    store = RevocationStore()
    store.apply_event({"revokedToken": "jti-9", "type": "Default", "expiryTime": ms(NOW + HOUR)}, NOW)
    assert revoked(store.view(NOW), principal("jti-9"), fingerprint("the-jwt"), NOW)


def test_a_whole_jwt_as_revoked_token_revokes_its_jti():
    token = oidc.SigningKey("RS256").sign(oidc.claims("https://is/oauth2/token", "client", jti="the-jti"))
    assert jti_of(token) == "the-jti"
    assert jti_of("a.b.c") == "a.b.c"  # not decodable: kept as it is
    store = RevocationStore()
    store.apply_event({"revokedToken": token, "type": "JWT", "expiryTime": ms(NOW + HOUR)}, NOW)
    assert store.jtis.keys() == {"the-jti"}


def test_an_api_keys_revocation_lasts_until_its_exp_given_in_seconds():
    """The DevPortal's revoke passes the key's own `exp`, in seconds (APIUtil.getExpiryifJWT), to
    APIConsumerImpl.revokeAPIKey, which publishes it and stores it for `/revokedjwt`."""
    store = RevocationStore()
    store.apply_event({"revokedToken": "key-jti", "type": "API_KEY", "expiryTime": int(NOW + HOUR)}, NOW)
    store.load({"revokedJWTList": [{"jwt_signature": "old-key-jti", "expiry_time": int(NOW + HOUR)}]}, NOW)
    view = store.view(NOW)
    assert revoked(view, principal("key-jti"), "h", NOW)
    assert revoked(view, principal("old-key-jti"), "h", NOW)
    assert not revoked(store.view(NOW + HOUR + 1), principal("key-jti"), "h", NOW + HOUR + 1)


def test_all_tokens_of_a_consumer_key_issued_before_the_revocation_time_are_revoked():
    store = RevocationStore()
    store.apply_event(entity_event("consumer_app_revocation_event", str(ms(NOW)), consumer_key="client-a"), NOW)
    view = store.view(NOW)
    assert revoked(view, principal(iat=NOW - 1), "h", NOW)
    assert not revoked(view, principal(iat=NOW + 1), "h", NOW + 2)  # a token issued afterwards
    assert not revoked(view, principal(consumer_key="client-b", iat=NOW - 1), "h", NOW)
    assert not revoked(view, principal(iat=None), "h", NOW)  # no iat: APIM cannot tell either


def test_a_subject_revocation_applies_to_entity_id_only_on_tokens_with_azp_and_entity_id():
    store = RevocationStore()
    event = entity_event("subject_entity_revocation_event", str(ms(NOW)), entityId="user-7", entityType="USER_ID")
    store.apply_event(event, NOW)
    view = store.view(NOW)
    assert revoked(view, principal(azp="client-a", entity_id="user-7"), "h", NOW)
    assert not revoked(view, principal(entity_id="user-7"), "h", NOW)  # no azp: APIM does not apply it
    assert not revoked(view, principal(azp="client-a", entity_id="user-8"), "h", NOW)
    assert not revoked(view, principal(azp="client-a", sub="user-7"), "h", NOW)  # sub is not the subject here
    assert not revoked(view, principal(azp="client-a", entity_id="user-7", iat=NOW + 5), "h", NOW + 6)


def test_a_subject_is_a_user_or_an_application_and_each_revocation_names_only_its_kind():
    # JWTValidator.validate: an application's own token has entity_id = azp and is checked against the CLIENT_ID
    # revocations alone; a user's token (entity_id ≠ azp) against the USER_ID ones alone.
    store = RevocationStore()
    store.apply_event(entity_event("subject_entity_revocation_event", str(ms(NOW)), entityId="client-a",
                                   entityType="CLIENT_ID"), NOW)  # fmt: skip
    store.apply_event(entity_event("subject_entity_revocation_event", str(ms(NOW)), entityId="client-b",
                                   entityType="USER_ID"), NOW)  # fmt: skip
    view = store.view(NOW)
    assert (view.subject_apps, view.subjects) == ({"client-a": NOW}, {"client-b": NOW})
    assert revoked(view, principal(azp="client-a", entity_id="client-a"), "h", NOW)  # the application's own token
    assert not revoked(view, principal(azp="client-c", entity_id="client-a"), "h", NOW)  # a user so named
    assert revoked(view, principal(azp="client-c", entity_id="client-b"), "h", NOW)  # the user's token
    assert not revoked(view, principal(azp="client-b", entity_id="client-b"), "h", NOW)  # an application so named
    assert not revoked(view, principal(azp="client-a", entity_id="client-a", iat=NOW + 5), "h", NOW + 6)


def test_a_subject_revocation_of_another_or_no_entity_type_revokes_nothing():
    # GatewayTokenRevocationMessageListener needs entityType, RevokedJWTTokensRetriever.loadRevokedUsers leaves out
    # a row of another type: neither revokes a token.
    for entity_type in ({}, {"entityType": "GROUP"}):
        with pytest.raises(BadRevocation, match="entityType is neither USER_ID nor CLIENT_ID"):
            RevocationStore().apply_event(
                entity_event("subject_entity_revocation_event", str(ms(NOW)), entityId="user-7", **entity_type), NOW
            )
    store = RevocationStore()
    skipped = store.load({"revokedJWTSubjectEntityList": [
        {"entity_id": "user-7", "revocation_time": ms(NOW)},
        {"entity_id": "user-8", "entity_type": "GROUP", "revocation_time": ms(NOW)},
        {"entity_id": "user-9", "entity_type": "USER_ID", "revocation_time": ms(NOW)},
    ]}, NOW)  # fmt: skip
    why = "entity_type is neither USER_ID nor CLIENT_ID"
    assert skipped == [f"revokedJWTSubjectEntityList[0]: {why}", f"revokedJWTSubjectEntityList[1]: {why}"]
    view = store.view(NOW)
    assert len(view) == 1
    assert not revoked(view, principal(azp="client-a", entity_id="user-7"), "h", NOW)
    assert revoked(view, principal(azp="client-a", entity_id="user-9"), "h", NOW)


def test_the_three_lists_of_revokedjwt_load_and_bad_rows_are_reported_not_fatal():
    store = RevocationStore()
    skipped = store.load(
        {
            "revokedJWTList": [{"jwt_signature": "jti-1", "expiry_time": ms(NOW + HOUR)}, {"jwt_signature": 7}],
            "revokedJWTConsumerKeyList": [
                {"consumer_key": "client-a", "revocation_time": ms(NOW), "organization": "carbon.super"}
            ],
            "revokedJWTSubjectEntityList": [
                {"entity_id": "user-7", "entity_type": "USER_ID", "revocation_time": ms(NOW)}
            ],
        },
        NOW,
    )
    assert skipped == ["revokedJWTList[1]: needs jwt_signature and expiry_time"]
    view = store.view(NOW)
    assert revoked(view, principal("jti-1"), "h", NOW)
    assert revoked(view, principal(iat=NOW - 1), "h", NOW)
    assert revoked(view, principal(consumer_key="x", iat=NOW - 1, azp="x", entity_id="user-7"), "h", NOW)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "JWT"},
        {"revokedToken": "", "type": "JWT"},
        {"revokedToken": "raw-secret-token", "type": "consumer_app_revocation_event"},
        entity_event("consumer_app_revocation_event", "soon", consumer_key="client-a"),
        entity_event("consumer_app_revocation_event", str(ms(NOW)), consumerKey="client-a"),  # not APIM's name
        entity_event("subject_entity_revocation_event", str(ms(NOW)), entityType="USER_ID"),
    ],
)
def test_a_revocation_that_cannot_be_applied_is_an_error_that_names_no_token(payload):
    with pytest.raises(BadRevocation) as caught:
        RevocationStore().apply_event(payload, NOW)
    token = payload.get("revokedToken")
    assert not token or token not in str(caught.value)


def test_consumer_key_and_subject_revocations_end_after_the_longest_token_lifetime():
    store = RevocationStore(RevocationLimits(max_token_lifetime=HOUR))
    store.apply_event(entity_event("consumer_app_revocation_event", str(ms(NOW)), consumer_key="client-a"), NOW)
    store.apply_event(entity_event("subject_entity_revocation_event", str(ms(NOW)), entityId="client-a",
                                   entityType="CLIENT_ID"), NOW)  # fmt: skip
    assert len(store.view(NOW + HOUR - 1)) == 2
    assert len(store.view(NOW + HOUR + 1)) == 0  # every token issued before them has expired


def test_a_jti_without_expiry_lasts_at_most_the_longest_token_lifetime():
    store = RevocationStore(RevocationLimits(max_token_lifetime=HOUR))
    store.apply_event({"revokedToken": "jti-1", "type": "JWT", "expiryTime": ms(NOW + 10 * HOUR)}, NOW)
    store.apply_event({"revokedToken": "jti-2", "type": "JWT", "ttl": "not a number"}, NOW)
    assert store.jtis == {"jti-1": NOW + HOUR, "jti-2": NOW + HOUR}


def test_the_cap_drops_the_entries_that_end_soonest():
    store = RevocationStore(RevocationLimits(max_token_lifetime=HOUR, max_entries=2))
    for i, left in enumerate((30, 10, 20)):
        store.apply_event({"revokedToken": f"jti-{i}", "type": "JWT", "expiryTime": ms(NOW + left)}, NOW)
    assert set(store.view(NOW).jtis) == {"jti-0", "jti-2"}
