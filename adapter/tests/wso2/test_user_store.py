"""APIM's user store over its SOAP admin service (getUserAuthenticationInfo), against the APIM double."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apim_adapter import config, probe, tracing
from apim_adapter.controlplane.user_store import (
    SOAP_ACTION,
    RemoteUserStore,
    SoapFault,
    UserInfo,
    UserStoreError,
    parse_answer,
    request_envelope,
)
from apim_adapter.tokens.basic_auth import UserStoreUnavailable
from harness.apim_double import USER_STORE_PATH
from harness.processes import free_port

TRICKY_PASSWORD = "p<a&s>s\"'w]]>ö€😀\r\n end"  # XML's specials, non-ASCII, a CR LF


def user_store(url: str, credentials, test_ca, tmp_path) -> RemoteUserStore:
    user, password = credentials
    raw = {"controlPlane": {"type": "wso2", "url": url, "caBundle": str(test_ca.ca), "usernameFile": str(user),
                            "passwordFile": str(password), "timeoutSeconds": 2}}  # fmt: skip
    cfg = config.parse(raw, tmp_path)
    assert isinstance(cfg.control_plane, config.ControlPlaneWso2)
    return RemoteUserStore(cfg.control_plane, cfg)


def ask(store: RemoteUserStore, username: str, password: str) -> UserInfo | None:
    async def scenario():
        try:
            return await store.authenticate(username, password)
        finally:
            await store.close()

    return asyncio.run(scenario())


@pytest.fixture
def apim(apim_factory):
    double = apim_factory()
    double.set_user("alice", "alice-secret", ("reader",))
    double.set_user("bob", TRICKY_PASSWORD, ("Internal/subscriber", "writer"), domain="SECONDARY")
    return double


@pytest.fixture
def store(apim, credentials, test_ca, tmp_path) -> RemoteUserStore:
    return user_store(apim.url, credentials, test_ca, tmp_path)


def test_an_accepted_user_is_named_as_apim_answers_with_its_roles(apim, store):
    assert ask(store, "alice@carbon.super", "alice-secret") == UserInfo(
        "alice@carbon.super", ("reader", "Internal/everyone")
    )
    assert apim.user_store_calls == 1


def test_a_password_with_xml_specials_and_non_ascii_is_sent_as_it_is(apim, store):
    user = ask(store, "bob@carbon.super", TRICKY_PASSWORD)
    assert user == UserInfo("SECONDARY/bob@carbon.super", ("Internal/subscriber", "writer", "Internal/everyone"))


def test_a_password_differing_only_in_its_line_end_is_refused(apim, store):
    """A CR the server's parser turned into a line feed would let this one in."""
    assert ask(store, "bob@carbon.super", TRICKY_PASSWORD.replace("\r\n", "\n")) is None


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice@carbon.super", "wrong"),
        ("alice@carbon.super", ""),
        ("nobody@carbon.super", "alice-secret"),
        ("alice@other.com", "alice-secret"),  # the double's one tenant has her, the other none
    ],
)
def test_a_wrong_password_or_unknown_user_is_not_authenticated(apim, store, username, password):
    assert ask(store, username, password) is None
    assert apim.user_store_calls == 1


def test_a_pair_xml_cannot_carry_is_refused_without_asking(apim, store):
    """APIM's gateway could not send it either; asking would turn a client's choice into an outage."""
    assert ask(store, "alice@carbon.super", "alice-secret\x00") is None
    assert ask(store, "alice\x1b@carbon.super", "alice-secret") is None
    assert apim.user_store_calls == 0


def test_the_data_api_base_path_in_the_url_is_dropped(apim, credentials, test_ca, tmp_path):
    store = user_store(apim.url + "/internal/data/v1/", credentials, test_ca, tmp_path)
    assert store.url == apim.url + USER_STORE_PATH
    assert ask(store, "alice@carbon.super", "alice-secret") is not None


def test_the_adapters_credentials_refused_are_an_error_not_a_refusal(apim, credentials, test_ca, tmp_path):
    credentials[1].write_text("not-the-admin-password\n")
    store = user_store(apim.url, credentials, test_ca, tmp_path)
    with pytest.raises(UserStoreError, match="HTTP 401") as raised:
        ask(store, "alice@carbon.super", "alice-secret")
    assert isinstance(raised.value, UserStoreUnavailable)  # what the basic authenticator answers as an outage


def test_a_fault_is_an_error_and_never_carries_the_password(apim, store):
    apim.user_store_failing = True
    with pytest.raises(SoapFault, match="Error occurred while retrieving user authentication info") as raised:
        ask(store, "alice@carbon.super", "alice-secret")
    assert "alice-secret" not in str(raised.value)
    assert raised.value.__suppress_context__  # a logged trace shows no inner exception with the request in it


def test_a_message_echoing_the_password_is_redacted(apim, store):
    """APIM's fault names the user: were the password in the name, it would not reach the log."""
    apim.user_store_failing = True
    with pytest.raises(SoapFault) as raised:
        ask(store, "hunter2-hunter2@carbon.super", "hunter2")
    assert "hunter2" not in str(raised.value)
    assert "***" in str(raised.value)


def test_each_call_is_a_span_naming_only_the_url_and_a_recorded_error_is_the_redacted_one(apim, store):
    exported = InMemorySpanExporter()
    t = tracing.setup(config.Tracing(enabled=True), Path, span_exporter=exported)
    assert t is not None
    try:
        assert ask(store, "alice@carbon.super", "alice-secret") is not None
        apim.user_store_failing = True
        with pytest.raises(SoapFault):
            ask(store, "hunter2-hunter2@carbon.super", "hunter2")
        t.provider.force_flush()
        spans = exported.get_finished_spans()
    finally:
        t.shutdown()
    assert [(s.name, dict(s.attributes or {})) for s in spans] == [("POST", {"url.full": store.url})] * 2
    recorded = repr([dict(e.attributes or {}) for s in spans for e in s.events])
    assert "SOAP fault" in recorded
    assert "alice-secret" not in recorded
    assert "hunter2" not in recorded


def test_apim_down_or_unreachable_is_an_error(apim, store, credentials, test_ca, tmp_path):
    apim.up = False
    with pytest.raises(UserStoreError, match="HTTP 503"):
        ask(store, "alice@carbon.super", "alice-secret")
    nowhere = user_store(f"https://127.0.0.1:{free_port()}", credentials, test_ca, tmp_path)
    with pytest.raises(UserStoreError, match=USER_STORE_PATH) as raised:
        ask(nowhere, "alice@carbon.super", TRICKY_PASSWORD)
    assert TRICKY_PASSWORD not in str(raised.value)


def test_the_double_answers_a_request_it_cannot_dispatch_with_a_fault(apim):
    """Another operation, the right one outside the service's namespace or not SOAP 1.1: Axis2 refuses them."""
    other_operation = request_envelope("alice@carbon.super", "alice-secret").replace(
        b"getUserAuthenticationInfo", b"getUserRoles"
    )
    unqualified = request_envelope("alice@carbon.super", "alice-secret").replace(b"xsd:username", b"username")
    right = request_envelope("alice@carbon.super", "alice-secret")
    soap_11 = "text/xml; charset=UTF-8"
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE or a proxy would stand between
        for body, action, content_type in (
            (other_operation, SOAP_ACTION, soap_11), (unqualified, SOAP_ACTION, soap_11),
            (b"<not-closed", SOAP_ACTION, soap_11), (right, '"urn:getUserRoles"', soap_11),
            (right, SOAP_ACTION, "application/soap+xml; charset=UTF-8"),
        ):  # fmt: skip
            answer = session.post(apim.url + USER_STORE_PATH, data=body, auth=apim.admin_credentials,
                                  headers={"Content-Type": content_type, "SOAPAction": action},
                                  verify=str(apim.tls.ca), timeout=10)  # fmt: skip
            assert answer.status_code == 500
            with pytest.raises(SoapFault):
                parse_answer(answer.content)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "true">]><e:Envelope xmlns:e="urn:e"><e:Body/></e:Envelope>',
        b"not xml",
        b"<Envelope><Header/></Envelope>",  # no Body
        b"<Envelope><Body><other/></Body></Envelope>",
        b"<Envelope><Body><getUserAuthenticationInfoResponse><return><authenticated>maybe</authenticated>"
        b"</return></getUserAuthenticationInfoResponse></Body></Envelope>",
        b"<Envelope><Body><getUserAuthenticationInfoResponse><return><authenticated>true</authenticated>"
        b"</return></getUserAuthenticationInfoResponse></Body></Envelope>",  # accepted, but who?
    ],
)
def test_an_answer_that_is_not_getUserAuthenticationInfos_is_an_error(body):
    with pytest.raises(UserStoreError) as raised:
        parse_answer(body)
    assert not isinstance(raised.value, SoapFault)


def test_an_answer_without_a_dto_or_flag_is_not_authenticated():
    """BasicAuthClient.convertToDTO: no DTO is authenticated=false; `authenticated` is optional, false by default."""
    response = (
        b"<Envelope><Body><getUserAuthenticationInfoResponse>%s</getUserAuthenticationInfoResponse></Body></Envelope>"
    )
    assert parse_answer(response % b"") is None
    assert (
        parse_answer(response % b'<return xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="1"/>') is None
    )
    assert parse_answer(response % b"<return><domainQualifiedUsername>x</domainQualifiedUsername></return>") is None


def probe_findings(apim, credentials, test_ca, tmp_path) -> dict[str, str]:
    user, password = credentials
    raw = {"controlPlane": {"type": "wso2", "url": apim.url, "caBundle": str(test_ca.ca), "gatewayLabel": "Default",
                            "usernameFile": str(user), "passwordFile": str(password)},
           "basicAuth": {"enabled": True}}  # fmt: skip
    findings = asyncio.run(probe.probe(config.parse(raw, tmp_path)))
    return {f.what.split(":")[0]: str(f) for f in findings}


def test_probe_says_whether_the_control_planes_user_may_ask_the_user_store(apim, credentials, test_ca, tmp_path):
    apim.data["apis"][0]["securityScheme"] = "oauth2,basic_auth"
    apim.data["scopes"] = [{"name": "scope_ip", "displayName": "ip", "description": "", "roles": ["reader"]}]
    found = probe_findings(apim, credentials, test_ca, tmp_path)
    assert found["basic authentication"].startswith("ok"), found
    assert "a made-up user is refused" in found["basic authentication"]
    assert "1 of them take basic authentication (1 scopes with roles)" in found["control plane"]
    credentials[1].write_text("not-the-admin-password\n")
    refused = probe_findings(apim, credentials, test_ca, tmp_path)["basic authentication"]
    assert refused.startswith("FAILED"), refused
    assert "refused the control plane's credentials" in refused
