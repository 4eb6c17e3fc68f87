"""APIM's "Validate Request with OPA" operation policy in the pipeline, without a server: the policy's parameters as
APIM's mediator reads them (mediation.opa_check), the input APIM's gateway sends OPA (opa.question,
`APIMOPARequestGenerator`), how OPA's answer is read (opa.verdict, `OPAClient` / `handleResponse`), and where the
pipeline asks (after the limits; an allow there is never prepared). The real OPA answers in
adapter/tests/e2e/test_opa_policy_gateway.py."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import threading

import pytest

from apim_adapter import errors
from apim_adapter.catalog import CatalogError, build
from apim_adapter.decision import AskOpa, CheckInput, checked, first_step
from apim_adapter.mediation import AttachedPolicy, OpaCheck, PolicyError, opa_check
from apim_adapter.opa import MAX_POOLS, OpaClient, verdict
from harness.pipeline import InProcess, in_process_adapter, token, warm, whole
from harness.sample_catalog import TINY_LIMIT, catalog_document
from harness.sample_catalog import operation_policy as policy

HEADERS = "/httpbin/1.0.0/headers"
OPA = "http://opa.opa.svc:8181/v1/data"


def opa_policy(where: str = "GET /headers", **parameters) -> dict:
    return policy("request", "opaPolicy", "v1", where, **{"serverUrl": OPA, "policy": "httpbin", **parameters})


def with_policies(*policies: dict) -> dict:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = list(policies)
    return doc


def check_of(**parameters) -> OpaCheck:
    return opa_check(AttachedPolicy("request", "opaPolicy", "v1", {"serverUrl": OPA, "policy": "httpbin",
                                                                   **parameters}))  # fmt: skip


# ---- the policy's parameters ----


def test_the_url_is_the_server_the_policy_and_the_rule_allow_by_default():
    assert check_of().url == f"{OPA}/httpbin/allow"
    assert check_of(rule="permit", policy="apim/httpbin").url == f"{OPA}/apim/httpbin/permit"
    defaults = check_of()
    assert (defaults.connect_timeout, defaults.max_connections, defaults.send_access_token) == (30.0, 500, False)
    assert check_of(sendAccessToken="true").send_access_token  # as the template renders a boolean
    assert check_of(connectionTimeout="5", maxOpenConnections=20).connect_timeout == 5.0


def test_the_access_key_is_kept_but_never_shown():
    check = check_of(accessKey="Bearer s3cret")
    assert check.access_key == "Bearer s3cret"  # sent as OPAClient sends it: the whole header value
    assert "s3cret" not in repr(check)


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"serverUrl": "opa:8181/v1/data"}, "must be an http:// or https:// URL"),  # java.net.URL refuses it
        ({"policy": "../admin"}, "is not an OPA package path"),
        ({"rule": "allow?x=1"}, "is not an OPA package path or rule name"),
        ({"connectionTimeout": "ten"}, "connectionTimeout must be a whole number"),
        ({"accessKey": "Bearer a\r\nX-Injected: 1"}, "accessKey must be one printable line"),
    ],
)
def test_parameters_apims_gateway_could_not_deploy_are_refused(parameters, why):
    with pytest.raises(PolicyError, match=why):
        check_of(**parameters)


def test_a_file_refuses_an_unusable_opa_policy_and_apims_catalog_keeps_it_failing_every_call():
    bad = opa_policy(serverUrl="opa:8181")
    with pytest.raises(CatalogError, match="serverUrl must be an http"):
        build(with_policies(bad))
    lenient = build(with_policies(bad), lenient=True)  # what the wso2 control plane builds
    [note] = [n for n in lenient.unenforced if "operation policies" in n]
    assert "every call it guards fails" in note
    p = InProcess()
    p.catalog = lenient
    d = p.check(HEADERS, bearer=token())  # asks nothing: there is no OPA to ask
    assert (d.code, d.status) == ("902011", 500)
    assert p.check("/httpbin/1.0.0/ip", bearer=token()).allowed  # another operation is not guarded


# ---- what APIM's gateway asks ----


def test_the_question_is_apims_input_with_the_caller_and_without_its_credential():
    a = in_process_adapter(with_policies(opa_policy()))  # wired as `serve` wires it: what the backend never gets
    jwt = token()
    req = CheckInput("GET", "gw", HEADERS + "?q=1", {"authorization": f"Bearer {jwt}", "x-apim-api": "forged",
                                                     "x-team": "payments", ":authority": "api.example.com",
                                                     "x-envoy-auth-partial-body": "false"},  # Envoy's, to the adapter
                     client_ip="198.51.100.7")  # fmt: skip
    steps = a.pipeline.steps(req, a.clock())
    ask = first_step(steps)
    assert isinstance(ask, AskOpa)
    assert ask.check.url == f"{OPA}/httpbin/allow"
    context = ask.question["input"]["apiContext"]
    assert context == {
        "apiName": "HttpbinAPI", "apiVersion": "1.0.0", "isAuthenticated": True, "apiPublisher": "admin",
        "subscriberOrganization": "carbon.super", "subscriber": "admin", "applicationUUID": context["applicationUUID"],
        "applicationName": "subscribed", "username": context["username"], "keyType": "PRODUCTION",
        "consumerKey": "client-subscribed", "issuer": "https://is.example.com/oauth2/token",
    }  # fmt: skip
    assert "accessToken" not in context  # sendAccessToken is off
    assert ask.question["input"] | {"apiContext": None} == {
        "apiContext": None, "method": "GET", "path": HEADERS + "?q=1", "requestOrigin": "198.51.100.7",
        "electedResource": "/headers",
        # lower case, as Envoy hands them; the credential, the adapter's own headers and Envoy's word to the adapter
        # left out; Host from HTTP/2
        "transportHeaders": {"x-team": "payments", "host": "api.example.com"},
    }  # fmt: skip
    steps.close()


def test_the_access_token_is_sent_where_the_policy_says_so_and_only_a_jwt():
    p = InProcess(with_policies(opa_policy(sendAccessToken="true")))
    jwt = token()
    req = p.request(HEADERS, bearer=jwt)
    ask = first_step(p.pipeline.steps(req, p.now))
    assert isinstance(ask, AskOpa)
    assert ask.question["input"]["apiContext"]["accessToken"] == jwt

    async def allow(check, ask):
        return None

    p.pipeline.opa.ask = allow
    d = p.check(HEADERS, bearer=jwt)
    assert d.allowed
    opaque = dataclasses.replace(d, principal=dataclasses.replace(d.principal, introspected=True))
    ask = next(
        checked(opaque, req, "an-opaque-token", frozenset({"authorization"}), p.catalog)
    )  # APIM sets none for an opaque token
    assert isinstance(ask, AskOpa)
    assert "accessToken" not in ask.question["input"]["apiContext"]


def test_opa_is_asked_after_the_limits_so_a_throttled_call_never_reaches_it():
    p = InProcess(with_policies(opa_policy()))
    asked = []

    async def answer(check, ask):
        asked.append(ask)

    p.pipeline.opa.ask = answer  # OPA lets every call through
    codes = [p.check(HEADERS, bearer=token("throttled-grpc")).code for _ in range(TINY_LIMIT + 2)]
    assert codes == [""] * TINY_LIMIT + ["900804"] * 2  # the subscription's tier, before OPA
    assert len(asked) == TINY_LIMIT  # only the calls that passed the limits were asked about


# ---- what OPA's answer means ----


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"result": true, "decision_id": "d-1"}', None),
        (200, b'{"result": "TRUE"}', None),  # org.json's getBoolean reads the string too
        (200, b'{"result": false}', errors.OPA_REFUSED),
        (200, b"{}", errors.OPA_FAILED),  # the rule is not defined
        (200, b'{"result": {"allow": true}}', errors.OPA_FAILED),  # not a boolean
        (200, b"not json", errors.OPA_FAILED),
        (401, b'{"code": "unauthorized"}', errors.OPA_FAILED),  # OPA refused the access key
        (500, b"", errors.OPA_FAILED),
    ],
)
def test_opas_answer_is_read_as_apims_gateway_reads_it(status, body, expected):
    assert verdict(status, body) is expected


def test_an_unreachable_opa_fails_the_call_and_is_logged_without_the_access_key(caplog):
    check = check_of(serverUrl="http://127.0.0.1:9", accessKey="Bearer s3cret")  # the discard port: refused

    async def ask():
        client = OpaClient()
        try:
            return await client.ask(check, {"input": {}})
        finally:
            await client.close()

    with caplog.at_level(logging.WARNING, logger="apim_adapter"):
        assert asyncio.run(ask()) is errors.OPA_FAILED
    assert "OPA not asked" in caplog.text
    assert all("s3cret" not in str(r.__dict__) for r in caplog.records)


# ---- where the pipeline asks ----


def test_an_allow_opa_decides_is_never_prepared():
    a = in_process_adapter(with_policies(opa_policy("GET /ip")))
    asked = []

    async def allow(check, ask):
        asked.append(ask)

    a.opa.ask = allow
    a.loop = asyncio.new_event_loop()  # where a check thread hands its question to OPA
    runner = threading.Thread(target=a.loop.run_forever, daemon=True)
    runner.start()
    try:
        jwt = token()
        for _ in range(2):
            assert whole(a, jwt).allowed
            assert warm(a, jwt) is None  # no prepared allow: the next call is a whole check too ...
        assert len(asked) == 2  # ... and OPA is asked about each
    finally:
        a.loop.call_soon_threadsafe(a.loop.stop)
        runner.join(5)
        a.loop.close()


def test_the_connection_pools_kept_are_bounded_whatever_the_catalog_names():
    client = OpaClient()
    servers = [check_of(serverUrl=f"http://127.0.0.{i}:9") for i in range(1, MAX_POOLS + 11)]  # nothing listens

    async def ask_each():
        try:
            for check in servers:
                assert await client.ask(check, {"input": {}}) is errors.OPA_FAILED
                assert len(client._pools) <= MAX_POOLS
        finally:
            await client.close()

    asyncio.run(ask_each())
