"""The OPA the local stack runs (roles/local_opa, from inventories/local): its Rego decides what the secured flow's
OPA row expects, asked by the pinned OPA with APIM's input as the adapter sends it (apim_adapter/opa.py), and its own
authorization policy lets in only the bearer of the token the adapter's catalog sends."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from harness.opa import opa_bin


def _part(doc: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def _jwt(**claims: object) -> str:
    """A JWT as io.jwt.decode reads it (it checks no signature: the adapter has checked it)."""
    return f"{_part({'alg': 'RS256', 'typ': 'JWT'})}.{_part(claims)}.c2ln"


# What the adapter asks about the secured flow's allowed call: the subscribed application's token, GET, the header.
ALLOWED = {
    "apiContext": {
        "apiName": "HttpbinAPI", "apiVersion": "1.0.0", "isAuthenticated": True, "apiPublisher": "admin",
        "subscriberOrganization": "carbon.super", "subscriber": "admin", "applicationName": "SubscribedApp",
        "keyType": "PRODUCTION", "consumerKey": "httpbin-subscribed-app",
        "issuer": "http://127.0.0.1:18430/realms/apim", "accessToken": _jwt(azp="httpbin-subscribed-app"),
    },
    "method": "GET",
    "path": "/httpbin/1.0.0/anything/opa",
    "transportHeaders": {"x-department": "engineering", "host": "127.0.0.1:18400"},
    "electedResource": "/anything/{segment}",
    "requestOrigin": "127.0.0.1",
}  # fmt: skip


def _eval(module: Path, query: str, asked: dict) -> object:
    """`query`'s value with `module` loaded and `asked` as the input document (undefined: None)."""
    result = subprocess.run(
        [opa_bin(), "eval", "--format=json", "--stdin-input", "-d", module, query],
        input=json.dumps(asked), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answers = json.loads(result.stdout).get("result", [])
    return answers[0]["expressions"][0]["value"] if answers else None


def _changed(**fields: object) -> dict:
    return {**ALLOWED, **fields}


@pytest.mark.parametrize(
    ("asked", "allowed"),
    [
        (ALLOWED, True),
        (_changed(transportHeaders={"x-department": "marketing"}), False),  # the row's refused value
        (_changed(transportHeaders={}), False),
        (_changed(method="POST"), False),
        (_changed(apiContext={**ALLOWED["apiContext"], "applicationName": "StandardApp"}), False),
        (_changed(apiContext={**ALLOWED["apiContext"], "accessToken": _jwt(azp="httpbin-standard-app")}), False),
    ],
    ids=["allowed", "refused-value", "no-header", "post", "another-application", "another-clients-token"],
)
def test_the_policy_lets_in_the_subscribed_application_on_get_with_the_header(rendered: Path, asked, allowed):
    assert _eval(rendered / "opa/policies/httpbin.rego", "data.apim.httpbin.allow", asked) is allowed


def test_opa_lets_in_only_the_catalogs_token_and_keeps_it_from_other_users(rendered: Path, catalog: dict) -> None:
    authz = rendered / "opa/system/authz.rego"
    [opa] = [p for p in catalog["apis"][0]["operationPolicies"] if p["policyName"] == "opaPolicy"]
    token = opa["parameters"]["accessKey"].removeprefix("Bearer ")
    asked = {"path": ["v1", "data", "apim", "httpbin", "allow"], "method": "POST"}
    assert _eval(authz, "data.system.authz.allow", {**asked, "identity": token}) is True
    assert _eval(authz, "data.system.authz.allow", {**asked, "identity": token + "x"}) is False
    assert _eval(authz, "data.system.authz.allow", asked) is False
    assert _eval(authz, "data.system.authz.allow", {"path": ["health"], "method": "GET"}) is True
    for path in (authz, authz.parent, rendered / "opa"):
        assert path.stat().st_mode & 0o077 == 0, path
