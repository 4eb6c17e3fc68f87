"""Client certificates through the decision pipeline: an API's scheme listing `mutualssl` admits callers by the
certificates uploaded to it, as APIM's gateway weighs them against tokens (APIAuthenticationHandler
.initializeAuthenticators / isAuthenticate, MutualSSLAuthenticator), the certificate read from the
`x-forwarded-client-cert` an Istio gateway writes (harness/certificates.py `xfcc`)."""

from __future__ import annotations

import pytest

from apim_adapter import errors
from apim_adapter.catalog import CatalogError, build
from apim_adapter.config import ConfigError, parse
from apim_adapter.tokens import client_certificate
from apim_adapter.transport.grpc import to_input
from harness.certificates import CertificateAuthority, xfcc
from harness.pipeline import InProcess, check_request, in_process_adapter, token, warm, whole
from harness.sample_catalog import TINY_LIMIT, advanced_policy, catalog_document, requests_per_minute

HEADER = "x-forwarded-client-cert"


@pytest.fixture(scope="module")
def pems(tmp_path_factory) -> dict[str, bytes]:
    """Three client certificates: two uploaded to the API (partner on Tiny, sandbox-partner on Gold for the sandbox),
    one never uploaded, all from the CA the gateway trusts."""
    ca = CertificateAuthority(tmp_path_factory.mktemp("pki"), "clients-ca")
    return {
        name: ca.issue(name, common_name, organization="Partners").cert.read_bytes()
        for name, common_name in (("partner", "partner.example"), ("sandbox", "sandbox.example"),
                                  ("stranger", "stranger.example"))
    }  # fmt: skip


def catalog(pems: dict[str, bytes], scheme: str) -> dict:
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = scheme
    doc["apis"][0]["clientCertificates"] = [
        {"alias": "partner", "tier": "Tiny", "certificate": pems["partner"].decode()},
        {"alias": "sandbox", "tier": "Gold", "keyType": "SANDBOX", "certificate": pems["sandbox"].decode()},
    ]
    return doc


def pipeline(pems, scheme: str, mutual_tls: bool = True) -> InProcess:
    return InProcess(catalog(pems, scheme), mutual_tls=mutual_tls)


def check(p: InProcess, pem: bytes | None = None, bearer: str | None = None):
    headers = {HEADER: xfcc(pem)} if pem is not None else {}
    return p.check(bearer=bearer, **headers)


MANDATORY = "oauth2,mutualssl,mutualssl_mandatory"


def test_a_mandatory_certificate_admits_its_holder_on_its_tier_and_key_type(pems):
    p = pipeline(pems, MANDATORY)
    d = check(p, pems["partner"])
    assert d.allowed, d.reason
    assert (d.application.name, d.principal.subject, d.tier, d.key_mapping.key_type) == (
        "MutualSSLAuthApplication", "partner.example", "Tiny", "PRODUCTION"
    )  # fmt: skip
    sandbox = check(p, pems["sandbox"])
    assert (sandbox.code, sandbox.tier, sandbox.key_mapping.key_type) == ("", "Gold", "SANDBOX")


def test_a_mandatory_certificate_refuses_a_valid_token_without_it(pems):
    p = pipeline(pems, MANDATORY)
    for pem in (None, pems["stranger"]):  # none, or one the CA signed but nobody uploaded to the API
        d = check(p, pem, bearer=token())
        assert (d.status, d.code) == (401, "900901"), d.reason


def test_beside_a_certificate_a_valid_token_admits_as_itself_and_a_bad_one_changes_nothing(pems):
    p = pipeline(pems, MANDATORY)
    by_token = check(p, pems["partner"], bearer=token())
    assert (by_token.code, by_token.application.name, by_token.tier) == ("", "subscribed", "Gold")
    for bad in ("not-a-jwt", token(app="unsubscribed")):  # refused by the key manager / admitted nowhere
        d = check(p, pems["partner"], bearer=bad)
        assert (d.code, d.application.name) == ("", "MutualSSLAuthApplication"), d.reason


def test_with_both_mandatory_the_certificate_and_a_token_are_needed(pems):
    p = pipeline(pems, MANDATORY + ",oauth_basic_auth_api_key_mandatory")
    assert check(p, pems["partner"]).code == "900902"  # the token's absence, as APIM's getError reports it
    assert check(p, None, bearer=token()).code == "900901"
    assert check(p, pems["partner"], bearer=token(app="unsubscribed")).code == "900908"
    d = check(p, pems["partner"], bearer=token())
    assert (d.code, d.application.name) == ("", "subscribed")


def test_optional_certificates_and_tokens_each_admit_alone(pems):
    p = pipeline(pems, "oauth2,mutualssl")
    assert check(p, pems["partner"]).allowed
    assert check(p, None, bearer=token()).allowed
    assert check(p, pems["stranger"], bearer=token()).allowed
    # Neither: the certificate's failure is the answer (APIM's first failure that is not "missing").
    assert check(p).code == "900901"


def test_an_optional_certificate_beside_a_mandatory_token_decides_nothing(pems):
    p = pipeline(pems, "oauth2,mutualssl,oauth_basic_auth_api_key_mandatory")
    assert check(p, pems["partner"]).code == "900902"
    d = check(p, None, bearer=token())
    assert (d.code, d.application.name) == ("", "subscribed")


def test_an_api_taking_only_certificates_reads_no_token(pems):
    p = pipeline(pems, "mutualssl")
    assert check(p, None, bearer=token()).code == "900901"
    assert check(p, pems["partner"]).allowed


def test_each_certificate_has_its_own_quota_on_its_tier(pems):
    doc = catalog(pems, MANDATORY)
    doc["apis"][0]["clientCertificates"][1]["tier"] = "Tiny"
    p = InProcess(doc, mutual_tls=True)
    for _ in range(TINY_LIMIT):
        assert check(p, pems["partner"]).allowed
    over = check(p, pems["partner"])
    assert (over.status, over.code) == (429, errors.THROTTLED_SUBSCRIPTION.code)
    assert check(p, pems["sandbox"]).allowed  # the same tier, another certificate: counted apart


def test_a_certificate_is_stopped_at_its_quota_and_never_spike_arrested_as_apim_holds_it(pems):
    """MutualSSLAuthenticator.setAuthenticationContext sets stopOnQuotaReach and no spike arrest limit, which only the
    contexts of tokens and API keys carry (ThrottleHandler checks a subscription's spike arrest only above 0): on a
    tier with burst control a certificate's holder passes the burst and stops at the quota, while a token of an
    application on the same tier is arrested by the burst; on a soft tier the holder stops at the quota all the same."""
    doc = catalog(pems, "oauth2,mutualssl")  # either admits alone
    doc["subscriptionPolicies"] += [
        {"name": "Bursty", "stopOnQuotaReach": True, "defaultLimit": requests_per_minute(4), "rateLimitCount": 2,
         "rateLimitTimeUnit": "sec"},
        {"name": "Soft", "stopOnQuotaReach": False, "defaultLimit": requests_per_minute(2)},
    ]  # fmt: skip
    doc["apis"][0]["clientCertificates"][0]["tier"] = "Bursty"
    doc["apis"][0]["clientCertificates"][1]["tier"] = "Soft"
    doc["subscriptions"][0]["policyId"] = "Bursty"  # the subscribed application's
    p = InProcess(doc, mutual_tls=True)
    p.now = float(int(p.now)) + 0.1  # the start of a second: every request below is in it
    assert [check(p, pems["partner"]).code for _ in range(5)] == ["", "", "", "", errors.THROTTLED_SUBSCRIPTION.code]
    assert [check(p, bearer=token()).code for _ in range(3)] == ["", "", errors.BURST_SUBSCRIPTION.code]
    assert [check(p, pems["sandbox"]).code for _ in range(3)] == ["", "", errors.THROTTLED_SUBSCRIPTION.code]


def test_with_mutual_tls_off_a_certificate_admits_no_one(pems):
    p = pipeline(pems, "oauth2,mutualssl", mutual_tls=False)
    assert check(p, pems["partner"]).code == "900902"
    assert check(p, None, bearer=token()).allowed  # as before the feature: the token alone


@pytest.mark.parametrize(
    "header",
    [
        'Subject="CN=partner.example";Hash={digest}',  # a hash after a field the caller's certificate fills
        "URI=spiffe://x;Hash={digest}",
        "Hash={digest}0",  # not a SHA-256
        "By=spiffe://gw,Hash={digest}",  # an element boundary before the hash
        "",
    ],
)
def test_only_the_hash_where_the_gateway_writes_it_names_a_certificate(pems, header):
    digest = xfcc(pems["partner"]).split(";")[0].removeprefix("Hash=")
    assert client_certificate.presented(header.format(digest=digest)) is None


def test_the_hash_is_read_after_the_gateways_own_names(pems):
    written = xfcc(pems["partner"], by="spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway")
    digest = written.split(";")[1].removeprefix("Hash=")
    assert client_certificate.presented(written) == digest
    assert client_certificate.presented("By=spiffe://a;By=spiffe://b;Hash=" + digest.upper()) == digest


def test_a_token_allowed_beside_a_certificate_is_not_kept_for_the_next_check_without_it(pems):
    adapter = in_process_adapter(catalog(pems, MANDATORY), mutual_tls=True)
    bearer = token()
    with_cert = adapter.check_on_thread(to_input(check_request(bearer, headers={HEADER: xfcc(pems["partner"])})))
    assert with_cert.allowed
    assert warm(adapter, bearer) is None  # no prepared allow: the next check is whole
    assert whole(adapter, bearer).code == "900901"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"certificate": "not a certificate"}, "clientCertificates[0].certificate: not a PEM certificate"),
        ({"tier": "Platinum"}, "clientCertificates[0].tier: no subscription policy named 'Platinum'"),
        ({"keyType": "STAGING"}, "clientCertificates[0].keyType: must be PRODUCTION or SANDBOX"),
        ({"alias": None}, "clientCertificates[0].alias: required"),
    ],
)
def test_a_bad_certificate_entry_is_refused_with_its_place(pems, change, message):
    doc = catalog(pems, MANDATORY)
    doc["apis"][0]["clientCertificates"][0].update(change)
    with pytest.raises(CatalogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build(doc)


def test_mutual_tls_with_apim_needs_a_gateway_label():
    raw = {
        "controlPlane": {"type": "wso2", "url": "https://apim:9443", "usernameFile": "u", "passwordFile": "p"},
        "mutualTls": {"enabled": True},
    }
    with pytest.raises(ConfigError, match=r"mutualTls\.enabled: needs controlPlane\.gatewayLabel"):
        parse(raw)


def test_what_apim_serves_loses_only_the_certificate_with_a_stale_tier(pems):
    """APIM does not check the tier a certificate is uploaded with: a lenient build leaves out that certificate,
    reported, not the API."""
    doc = catalog(pems, MANDATORY)
    doc["apis"][0]["clientCertificates"][0]["tier"] = "Retired"
    built = build(doc, lenient=True)
    (api,) = built.apis.values()
    assert [c.alias for c in api.client_certificates.values()] == ["sandbox"]
    assert any("clientCertificates[0].tier" in why for why in built.skipped)


def test_scheme_names_are_matched_in_any_case_as_apim_matches_them(pems):
    p = pipeline(pems, "OAuth2, MutualSSL, MutualSSL_Mandatory")
    assert check(p, None, bearer=token()).code == "900901"
    assert check(p, pems["partner"]).allowed


def test_a_header_naming_two_hashes_names_none(pems):
    """Under APPEND_FORWARD Envoy appends its element to what the caller sent: a caller's element before it, with
    a hash of its own, refuses the whole header."""
    caller, gateway = xfcc(pems["partner"]), xfcc(pems["stranger"])
    assert client_certificate.presented(caller + "," + gateway) is None
    assert client_certificate.presented("By=spiffe://x," + gateway) is None


def test_a_resource_tier_holds_tokens_but_not_certificates_as_apim_holds_them(pems):
    """MutualSSLAuthenticator sets the resource tier Unlimited for the callers it admits; a token's application,
    whatever it is called, stays on it."""
    doc = catalog(pems, "oauth2,mutualssl")
    doc["apiPolicies"] = [advanced_policy("TwoPerMinute", 2)]
    doc["apis"][0]["urlMappings"][0]["throttlingPolicy"] = "TwoPerMinute"  # GET /ip
    doc["applications"][0]["name"] = "MutualSSLAuthApplication"  # a developer's choice of name changes nothing
    p = InProcess(doc, mutual_tls=True)
    assert [check(p, None, bearer=token()).code for _ in range(3)] == ["", "", errors.THROTTLED_RESOURCE.code]
    assert all(check(p, pems["sandbox"]).allowed for _ in range(3))
