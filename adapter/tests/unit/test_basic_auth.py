"""User names and passwords through the decision pipeline, as APIM's gateway takes them on an API whose security
scheme lists `basic_auth` (BasicAuthAuthenticator, BasicAuthCredentialValidator): asked of APIM's user store, the
resource's scopes held through the user's roles, the `Unauthenticated` tier per user. The user store here is one in
memory standing for `RemoteUserStore` (harness/pipeline.py `Users`); its SOAP exchange with APIM is tested against
the APIM double in adapter/tests/wso2."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest

from apim_adapter.config import ConfigError, parse
from apim_adapter.decision import Decision, VerifyUser, first_step
from apim_adapter.errors import Unavailable
from apim_adapter.http_client import basic_authorization as basic
from apim_adapter.tokens import basic_auth
from apim_adapter.tokens.basic_auth import credential_of, decoded, tenant_qualified
from harness.pipeline import InProcess, User, Users, token
from harness.sample_catalog import catalog_document, per_minute

UNAUTHENTICATED_LIMIT = 3


def catalog(scheme: str = "oauth2,basic_auth", unauthenticated: bool = True) -> dict:
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = scheme
    doc["scopes"] = [
        {"name": "scope_ip", "roles": ["reader"]},
        {"name": "scope_headers", "roles": ["Internal/subscriber"]},
        {"name": "scope_open", "roles": []},
    ]
    if unauthenticated:
        doc["subscriptionPolicies"].append(per_minute("Unauthenticated", UNAUTHENTICATED_LIMIT))
    return doc


def users() -> Users:
    return Users(alice=("s3cret:with colon", ("reader", "Internal/everyone")), bob=("pw", ("INTERNAL/Subscriber",)))


def pipeline(store: Users | None = None, **kw) -> InProcess:
    return InProcess(catalog(**kw), users=store or users())


def check(p: InProcess, authorization: str, path: str = "/httpbin/1.0.0/ip"):
    return p.check(path, authorization=authorization)


def test_a_user_apim_accepts_is_admitted_as_apim_names_them():
    d = check(pipeline(), basic("alice", "s3cret:with colon"))  # the password is all after the first colon
    assert d.allowed, d.reason
    assert (d.application.name, d.principal.subject, d.tier, d.key_mapping.key_type) == (
        "BasicAuthApplication", "alice@carbon.super", "Unauthenticated", "PRODUCTION"
    )  # fmt: skip


def test_a_bearer_token_still_works_where_the_scheme_lists_oauth2_too():
    d = pipeline().check(bearer=token())
    assert (d.code, d.application.name) == ("", "subscribed")


def test_a_wrong_password_is_refused_with_both_challenges():
    p = pipeline()
    d = check(p, basic("alice", "guess"))
    assert (d.status, d.code) == (401, "900901")
    challenges = [v for k, v in p.renderer.deny(d, p.now).headers if k == "www-authenticate"]
    assert challenges == ['Bearer realm="apim", error="invalid_token"', 'Basic realm="WSO2 API Manager"']


def test_a_refusal_is_remembered_ten_seconds_an_acceptance_cache_seconds():
    store = users()
    p = pipeline(store)
    for _ in range(3):
        assert check(p, basic("alice", "guess")).code == "900901"
    assert store.asked == 1
    p.now += basic_auth.REFUSED_SECONDS
    check(p, basic("alice", "guess"))
    assert store.asked == 2
    for _ in range(3):
        assert check(p, basic("bob", "pw"), "/httpbin/1.0.0/headers").allowed
    assert store.asked == 3
    p.now += 900  # basicAuth.cacheSeconds' default: APIM is asked again
    check(p, basic("bob", "pw"), "/httpbin/1.0.0/headers")
    assert store.asked == 4


def test_users_apim_names_as_changed_are_asked_again_and_no_one_else():
    """APIM's gatewayUsernameCache invalidation names `user@tenant` (KeyManagerUserOperationListener); the user
    store's answer may name a secondary store's user `DOMAIN/user@tenant`."""
    store = users()
    p = pipeline(store)
    assert check(p, basic("alice", "s3cret:with colon")).allowed
    assert check(p, basic("bob", "pw"), "/httpbin/1.0.0/headers").allowed
    assert store.asked == 2
    assert p.users.forget_users(["alice@carbon.super"]) == 1
    assert check(p, basic("bob", "pw"), "/httpbin/1.0.0/headers").allowed
    assert store.asked == 2  # bob's admission kept
    store.users["alice"] = ("changed", ("reader",))
    assert check(p, basic("alice", "s3cret:with colon")).code == "900901"  # asked again: the old password refused
    assert store.asked == 3


class SecondaryStore(Users):
    """A secondary user store's users, as APIM's answer names them: `DOMAIN/user@tenant`."""

    async def authenticate(self, username: str, password: str) -> User | None:
        user = await super().authenticate(username, password)
        return None if user is None else User(f"SECONDARY/{user.username}", user.roles)


def test_a_secondary_stores_user_is_known_by_the_name_apims_listener_gives():
    p = pipeline(SecondaryStore(bob=("pw", ("INTERNAL/Subscriber",))))
    assert check(p, basic("bob", "pw"), "/httpbin/1.0.0/headers").principal.subject == "SECONDARY/bob@carbon.super"
    assert p.users.forget_users(["bob"]) == 1  # `bob` is the super tenant's; the store's domain is not compared


def test_concurrent_checks_of_one_pair_ask_apim_once():
    store = users()
    p = pipeline(store, unauthenticated=False)  # ten checks: over the Unauthenticated tier here

    async def many():
        return await asyncio.gather(*(p.decide(p.request(authorization=basic("alice", "s3cret:with colon")))
                                      for _ in range(10)))  # fmt: skip

    assert all(d.allowed for d in asyncio.run(many()))
    assert store.asked == 1


def test_a_user_of_another_tenant_is_forbidden_without_asking_apim():
    store = users()
    d = check(pipeline(store), basic("alice@wso2.com", "s3cret:with colon"))
    assert (d.status, d.code, store.asked) == (403, "900908", 0)


def test_a_credential_without_a_colon_or_too_long_is_invalid():
    store = users()
    p = pipeline(store)
    no_colon = "Basic " + base64.b64encode(b"alice").decode()
    assert check(p, no_colon).code == "900901"
    assert check(p, basic("alice", "x" * 9000)).code == "900901"  # over request.maxTokenBytes
    assert store.asked == 0


def test_scopes_are_held_through_roles_as_apim_validates_them():
    p = pipeline()
    alice, bob = basic("alice", "s3cret:with colon"), basic("bob", "pw")
    assert check(p, alice, "/httpbin/1.0.0/ip").allowed  # `reader`, spelt as the scope's role
    refused = check(p, alice, "/httpbin/1.0.0/headers")
    assert (refused.code, refused.error.description) == ("900910", "Scope validation failed")  # BasicAuthAuthenticator
    assert check(p, bob, "/httpbin/1.0.0/headers").allowed  # an Internal/ role matches in any case
    assert check(p, bob, "/httpbin/1.0.0/ip").code == "900910"


def test_a_scope_apim_does_not_know_grants_nothing_and_one_without_roles_grants_everyone():
    doc = catalog()
    doc["apis"][0]["urlMappings"][0]["scopes"] = ["scope_gone"]
    doc["apis"][0]["urlMappings"][1]["scopes"] = ["scope_open"]
    p = InProcess(doc, users=users())
    bob = basic("bob", "pw")
    assert check(p, bob, "/httpbin/1.0.0/ip").code == "900910"
    assert check(p, bob, "/httpbin/1.0.0/headers").allowed


def test_each_user_has_the_unauthenticated_tier_on_each_api():
    p = pipeline()
    alice = basic("alice", "s3cret:with colon")
    codes = [check(p, alice, "/httpbin/1.0.0/delay/1").code for _ in range(UNAUTHENTICATED_LIMIT + 1)]
    assert codes == [""] * UNAUTHENTICATED_LIMIT + ["900804"]
    assert check(p, basic("bob", "pw"), "/httpbin/1.0.0/delay/1").allowed  # a quota of their own


def test_without_an_unauthenticated_tier_in_the_catalog_no_subscription_quota_applies():
    p = pipeline(unauthenticated=False)
    alice = basic("alice", "s3cret:with colon")
    assert all(check(p, alice, "/httpbin/1.0.0/delay/1").allowed for _ in range(UNAUTHENTICATED_LIMIT + 2))


def test_a_user_is_stopped_at_the_unauthenticated_quota_and_never_spike_arrested_as_apim_holds_them():
    """BasicAuthAuthenticator.authenticate sets stopOnQuotaReach ("we don't have details on unauthenticated tier") and
    no spike arrest limit, which ThrottleHandler needs above 0 to check one: burst control and a soft quota on the
    `Unauthenticated` tier change nothing for a user."""
    doc = catalog()
    tier = next(t for t in doc["subscriptionPolicies"] if t["name"] == "Unauthenticated")
    tier.update(stopOnQuotaReach=False, rateLimitCount=1, rateLimitTimeUnit="sec")
    p = InProcess(doc, users=users())
    alice = basic("alice", "s3cret:with colon")
    codes = [check(p, alice, "/httpbin/1.0.0/delay/1").code for _ in range(UNAUTHENTICATED_LIMIT + 1)]
    assert codes == [""] * UNAUTHENTICATED_LIMIT + ["900804"]


def test_an_api_not_taking_basic_auth_does_not_read_it():
    store = users()
    d = check(pipeline(store, scheme="oauth2"), basic("alice", "s3cret:with colon"))
    assert (d.status, store.asked) == (401, 0)


def test_apim_not_answering_is_an_error_never_a_refusal():
    store = users()
    store.down = True
    with pytest.raises(Unavailable):
        check(pipeline(store), basic("alice", "s3cret:with colon"))


def test_made_up_pairs_cannot_grow_memory():
    store = users()
    p = InProcess(catalog(), users=store)
    assert p.users is not None
    p.users.refused.max_entries = 100  # basicAuth.maxEntries
    for i in range(1000):
        check(p, basic(f"u{i}", f"p{i}"))
    assert len(p.users.refused) <= 100


def test_a_credential_is_known_by_a_keyed_hash_no_one_can_try_passwords_against():
    p, q = pipeline(), pipeline()
    assert p.users is not None
    assert q.users is not None
    credential = credential_of(basic("alice", "s3cret:with colon"))
    assert credential is not None
    plain = hashlib.sha256(credential.encode()).hexdigest()
    assert p.users.digest(credential) not in (plain, q.users.digest(credential))


def test_the_basic_segment_is_read_as_apim_reads_it():
    assert credential_of("Bearer x, Basic YTpi") == "YTpi"
    assert credential_of("basic YTpi") is None  # `Basic`, as spelt
    assert credential_of("Bearer x") is None
    assert decoded("YTpi") == ("a", "b")
    assert decoded("YTpi!!") == ("a", "b")  # what is not base64 is skipped, padding or not
    assert decoded("YWI") is None  # "ab": no colon


@pytest.mark.parametrize(
    ("username", "email_user_names", "qualified"),
    [
        ("alice", False, "alice@carbon.super"),
        ("alice@wso2.com", False, "alice@wso2.com"),
        ("alice@WSO2.com", False, "alice@wso2.com"),  # getTenantDomain lower-cases the tenant
        ("alice@", False, "alice@carbon.super"),  # nothing after the `@`: the super tenant
        ("a@b.com@wso2.com", False, "a@b.com@wso2.com"),
        ("alice", True, "alice@carbon.super"),
        ("alice@example.com", True, "alice@example.com@carbon.super"),  # an e-mail address, not a tenant
        ("alice@Carbon.Super", True, "alice@carbon.super"),
        ("alice@example.com@WSO2.com", True, "alice@example.com@wso2.com"),
    ],
)
def test_the_tenant_is_read_from_the_user_name_as_carbons_multitenant_utils_read_it(
    username, email_user_names, qualified
):
    """BasicAuthAuthenticator.getEndUserName: MultitenantUtils.getTenantAwareUsername + "@" + getTenantDomain, with
    APIM's EnableEmailUserName off or on."""
    assert tenant_qualified(username, email_user_names) == (qualified, qualified.rpartition("@")[2])


def test_with_email_user_names_an_address_is_asked_of_apim_as_the_super_tenants_user():
    store = Users(**{"alice@example.com": ("pw", ("reader",))})
    doc = catalog()
    p = InProcess(doc, users=store)
    assert check(p, basic("alice@example.com", "pw")).code == "900908"  # read as a user of tenant example.com
    assert store.asked == 0  # refused without asking APIM
    p.users.email_user_names = True
    d = check(p, basic("alice@example.com", "pw"))
    assert d.allowed, d.reason
    assert d.principal.subject == "alice@example.com@carbon.super"


WSO2_WITHOUT_LABEL = {"type": "wso2", "url": "https://apim:9443", "usernameFile": "u", "passwordFile": "p"}


@pytest.mark.parametrize("control_plane", [{"type": "file", "path": "c.yaml"}, WSO2_WITHOUT_LABEL])
def test_basic_auth_needs_the_wso2_control_plane_with_a_gateway_label(control_plane):
    with pytest.raises(ConfigError, match=r"basicAuth\.enabled"):
        parse({"controlPlane": control_plane, "basicAuth": {"enabled": True}})


def test_what_apim_refuses_unasked_is_decided_from_memory_without_waiting_on_the_event_loop():
    p = pipeline()
    for authorization in ("Basic " + base64.b64encode(b"alice").decode(), basic("alice@wso2.com", "x")):
        step = first_step(p.pipeline.steps(p.request(authorization=authorization), p.now))
        assert isinstance(step, Decision), authorization
        assert step.code in ("900901", "900908")
    assert isinstance(first_step(p.pipeline.steps(p.request(authorization=basic("alice", "x")), p.now)), VerifyUser)
