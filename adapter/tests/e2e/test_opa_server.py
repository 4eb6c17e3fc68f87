"""The real OPA server the "Validate Request with OPA" tests decide with (harness/opa.py): it answers a Rego rule's
decision over its data API, takes a changed policy without a restart, and with a token refuses callers without it."""

from __future__ import annotations

import pytest
import requests

from harness.opa import OpaServer

HTTPBIN = """package httpbin

default allow := false

allow if input.method == "GET"
"""


def decide(opa: OpaServer, method: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{opa.url}/httpbin/allow",
        json={"input": {"method": method}},
        headers=opa.auth_headers if headers is None else headers,
        timeout=5,
    )


@pytest.fixture
def opa(tmp_path):
    server = OpaServer().start(tmp_path, {"httpbin.rego": HTTPBIN})
    yield server
    server.stop()


@pytest.fixture
def opa_with_token(tmp_path):
    server = OpaServer(token="opa-test-token").start(tmp_path, {"httpbin.rego": HTTPBIN})
    yield server
    server.stop()


def test_a_rule_decides_on_the_input(opa):
    assert decide(opa, "GET").json() == {"result": True}
    assert decide(opa, "POST").json() == {"result": False}


def test_a_replaced_policy_decides_the_next_request(opa):
    opa.put_policy("httpbin.rego", HTTPBIN.replace('"GET"', '"POST"'))
    assert decide(opa, "POST").json() == {"result": True}
    assert decide(opa, "GET").json() == {"result": False}


def test_a_policy_that_does_not_compile_is_refused_and_the_old_one_kept(opa):
    with pytest.raises(RuntimeError, match="HTTP 400"):
        opa.put_policy("httpbin.rego", "package httpbin\n\nallow if input.method ==\n")
    assert decide(opa, "GET").json() == {"result": True}


def test_with_a_token_only_its_bearer_is_let_in(opa_with_token):
    assert decide(opa_with_token, "GET", headers={}).status_code == 401
    assert decide(opa_with_token, "GET", headers={"Authorization": "Bearer another-token"}).status_code == 401
    answer = decide(opa_with_token, "GET")
    assert answer.status_code == 200
    assert answer.json() == {"result": True}
    opa_with_token.put_policy("httpbin.rego", HTTPBIN.replace('"GET"', '"POST"'))
    assert decide(opa_with_token, "GET").json() == {"result": False}
