"""The backend verifies who called it, as a backend in the mesh does: the adapter signs the backend JWT, istiod
reads the adapter's `/jwks` for the backend's RequestAuthentication and inlines it into the backend sidecar's
jwt_authn filter. Here a real Envoy stands for that sidecar, between the gateway and httpbin."""

from __future__ import annotations

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from harness.envoy import HEADER_ALLOWLIST, Authz, Gateway, jwt_authn
from harness.processes import echoed_headers

API = "/httpbin/1.0.0"
ISSUER = "wso2.org/products/am"  # backendJwt.issuer's default, APIM's gateway's own


@pytest.fixture(scope="module")
def chain(stack):
    """(the gateway, the backend's sidecar) in front of httpbin, the gateway calling the stack's adapter."""
    published = requests.get(stack.adapter.admin + "/jwks", timeout=5)  # what istiod fetches for a jwksUri
    assert published.status_code == 200
    assert published.headers["content-type"].startswith("application/json")
    verify = jwt_authn(
        ISSUER,
        published.text,
        from_headers=[{"name": "x-jwt-assertion"}],
        forward=True,  # the rule's forwardOriginalToken: httpbin shows what it was given
        # Envoy reads a dot in a claim's name as nesting: WSO2's URI-named claims cannot be headers; a copied one can.
        claim_to_headers=[{"header_name": "x-caller-email", "claim_name": "email"}],
    )
    sidecar = Gateway(None, stack.gateways["grpc"].upstream_port, contexts=(), filters_before=(verify,))
    gateway = Gateway(Authz([stack.adapter.grpc_port], "grpc"), sidecar.port, ext_authz_patch=HEADER_ALLOWLIST)
    started = []
    try:
        for envoy in (sidecar, gateway):
            started.append(envoy.start(stack.workdir / "backend-jwt"))
        yield gateway, sidecar
    finally:
        for proc in reversed(started):
            proc.stop()


def test_the_backends_sidecar_verifies_the_adapters_assertion_with_its_jwks(stack, chain):
    gateway, _ = chain
    token = stack.token(email="alice@example.com")
    resp = requests.get(gateway.url + API + "/headers", headers={"authorization": "Bearer " + token}, timeout=10)
    assert resp.status_code == 200, resp.text
    seen = echoed_headers(resp)
    # The token's claim, read by Envoy from the verified assertion.
    assert seen["x-caller-email"] == ["alice@example.com"]
    [assertion] = seen["x-jwt-assertion"]
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["http://wso2.org/claims/applicationname"] == "subscribed"
    assert claims["http://wso2.org/claims/enduser"] == "admin@carbon.super"


def test_the_sidecar_refuses_an_assertion_the_adapter_did_not_sign(stack, chain):
    _, sidecar = chain
    answer = requests.get(
        chain[0].url + API + "/headers", headers={"authorization": "Bearer " + stack.token()}, timeout=10
    )
    [genuine] = echoed_headers(answer)["x-jwt-assertion"]
    claims = jwt.decode(genuine, options={"verify_signature": False})
    claims["http://wso2.org/claims/tier"] = "Unlimited"
    kid = jwt.get_unverified_header(genuine)["kid"]
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid})
    for assertion in (forged, None):  # a client that goes round the gateway, with a forged assertion or none
        headers = {"x-jwt-assertion": assertion} if assertion else {}
        resp = requests.get(sidecar.url + "/headers", headers=headers, timeout=10)
        assert resp.status_code == 401, resp.text
