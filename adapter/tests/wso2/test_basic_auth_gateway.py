"""Basic authentication end to end: `apim-adapter serve` with `controlPlane.type: wso2` and `basicAuth` on, behind a
real Envoy in both ext_authz modes, fed by the APIM double over HTTPS — its internal data API (the API's
`basic_auth` scheme, the scopes' roles) and its `APIKeyMgtRemoteUserStoreMgtService` (the users) — in front of
httpbin. What a platform engineer would try with curl: a user's name and password admitted as APIM names them, the
backend never seeing them, wrong ones refused with a Basic challenge, a scope held through a role, a password
changed in APIM refused at once (its cacheInvalidation event, through the real Qpid broker), and no password (nor a
hash of one) anywhere in the adapter's log."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
import requests

from apim_adapter.http_client import basic_authorization
from harness.adapter_process import AdapterProcess
from harness.apim_double import ApimDouble, sample_data
from harness.envoy import Authz, Gateway
from harness.processes import echoed_headers, go_httpbin
from harness.qpid import PASSWORD as HUB_PASSWORD
from harness.qpid import USER as HUB_USER
from harness.sample_catalog import per_minute

API = "/httpbin/1.0.0"
PASSWORD = "pa55:wörd <&>"  # a colon, non-ASCII and XML's specials: each must reach APIM as typed
UNAUTHENTICATED_LIMIT = 30  # per user a minute: more than the other tests send
CACHE_SECONDS = 900  # the default: a change reaches the adapter by its event, not by the cache's end


@pytest.fixture(scope="module")
def stack(tmp_path_factory, test_ca, check_answers, qpid):
    workdir = tmp_path_factory.mktemp("basic-auth")
    data = sample_data(policies=(per_minute("Unauthenticated", UNAUTHENTICATED_LIMIT),))
    data["apis"][0]["securityScheme"] = "oauth2,basic_auth"
    data["scopes"] = [
        {"name": "scope_ip", "displayName": "ip", "description": "", "roles": ["reader"]},
        {"name": "scope_headers", "displayName": "headers", "description": "", "roles": ["admin"]},
    ]
    data["users"] = [
        {"username": "alice", "password": PASSWORD, "roles": ["reader"], "domain": "PRIMARY"},
        {"username": "bob", "password": "old-password", "roles": ["reader"], "domain": "PRIMARY"},
    ]
    apim = ApimDouble(data, tls=test_ca, amqp_url=qpid.url).start()
    user, password = workdir / "apim-user", workdir / "apim-password"
    user.write_text("admin\n")
    password.write_text("admin-secret\n")
    hub_user, hub_password = workdir / "hub-user", workdir / "hub-password"
    hub_user.write_text(HUB_USER + "\n")
    hub_password.write_text(HUB_PASSWORD + "\n")
    config = {
        "controlPlane": {"type": "wso2", "url": apim.url, "caBundle": str(test_ca.ca), "gatewayLabel": "Default",
                         "usernameFile": str(user), "passwordFile": str(password), "resyncSeconds": 120,
                         "eventHub": {"url": f"amqp://127.0.0.1:{qpid.port}/carbon", "usernameFile": str(hub_user),
                                      "passwordFile": str(hub_password)}},
        "basicAuth": {"enabled": True, "cacheSeconds": CACHE_SECONDS},
        "analytics": {"enabled": False},
    }  # fmt: skip
    processes = []
    try:
        bin_proc, bin_port = go_httpbin(workdir)
        processes.append(bin_proc)
        adapter = AdapterProcess(workdir, config)
        processes.append(adapter.proc)
        adapter.wait_ready()
        deadline = time.monotonic() + 30  # subscribed before any test changes a user: a topic keeps no message
        while adapter.sample("apim_adapter_controlplane_event_hub_connected") != 1.0:
            assert time.monotonic() < deadline, "the adapter did not connect to the event hub"
            time.sleep(0.1)
        gateways = {}
        for mode, port in (("grpc", adapter.grpc_port), ("http", adapter.http_port)):
            gateways[mode] = Gateway(Authz([port], mode), bin_port)
            processes.append(gateways[mode].start(workdir))
        yield apim, adapter, gateways
    finally:
        for proc in reversed(processes):
            proc.stop()
        apim.stop()
    check_answers(apim)


@pytest.fixture(params=["grpc", "http"])
def gateway(request, stack) -> Gateway:
    return stack[2][request.param]


def call(gateway: Gateway, authorization: str | None, path: str = "/anything/x") -> requests.Response:
    headers = {"authorization": authorization} if authorization else {}
    return requests.get(gateway.url + API + path, headers=headers, timeout=5)


def test_a_user_is_admitted_as_apim_names_them_and_the_backend_never_sees_the_password(gateway):
    resp = call(gateway, basic_authorization("alice", PASSWORD))
    assert resp.status_code == 200, resp.text
    seen = echoed_headers(resp)
    assert seen["x-apim-application-name"] == ["BasicAuthApplication"]
    assert seen["x-apim-tier"] == ["Unauthenticated"]
    assert "authorization" not in seen


def test_a_wrong_password_is_refused_with_a_basic_challenge(gateway):
    resp = call(gateway, basic_authorization("alice", "guess"))
    assert (resp.status_code, resp.json()["code"]) == (401, "900901")
    assert 'Basic realm="WSO2 API Manager"' in resp.headers["www-authenticate"]
    assert call(gateway, None).json()["code"] == "900902"


def test_a_scope_is_held_through_a_role(gateway):
    alice = basic_authorization("alice", PASSWORD)
    assert call(gateway, alice, "/ip").status_code == 200  # scope_ip: role reader
    resp = call(gateway, alice, "/headers")  # scope_headers: role admin
    assert (resp.status_code, resp.json()["code"]) == (403, "900910")


def test_a_password_changed_or_a_user_deleted_in_apim_is_refused_at_once(stack):
    """APIM's user store names the user on cacheInvalidation (KeyManagerUserOperationListener); the adapter drops
    what it kept for them, as APIM's gateway drops them from its username cache, well before CACHE_SECONDS."""
    apim, _, gateways = stack
    gateway = gateways["grpc"]  # bob is in the user store from the start: no event about him is on its way
    old, new = basic_authorization("bob", "old-password"), basic_authorization("bob", "new-password")
    assert call(gateway, old).status_code == 200
    asked = apim.user_store_calls
    assert call(gateway, old).status_code == 200
    assert apim.user_store_calls == asked  # answered from the cache
    apim.set_user("bob", "new-password", ("reader",))
    deadline = time.monotonic() + 5
    while call(gateway, old).status_code != 401:
        assert time.monotonic() < deadline, "the old password is still admitted"
        time.sleep(0.1)
    assert call(gateway, new).status_code == 200
    apim.remove_user("bob")
    while call(gateway, new).status_code != 401:
        assert time.monotonic() < deadline + 5, "a deleted user is still admitted"
        time.sleep(0.1)


def test_each_user_is_held_to_the_unauthenticated_tier(stack):
    apim, _, gateways = stack
    apim.set_user("carol", "c", ())
    carol = basic_authorization("carol", "c")
    codes = [call(gateways["grpc"], carol).status_code for _ in range(UNAUTHENTICATED_LIMIT + 1)]
    assert codes == [200] * UNAUTHENTICATED_LIMIT + [429]


def test_no_password_nor_a_hash_of_one_is_in_the_adapters_log(stack):
    _, adapter, gateways = stack
    for gateway in gateways.values():
        call(gateway, basic_authorization("alice", "a-wrong-password"))
    log = Path(adapter.proc.log_path).read_text(encoding="utf-8")
    assert "denied" in log  # the denials were logged ...
    for secret in (PASSWORD, "a-wrong-password"):
        header = basic_authorization("alice", secret)
        credential = header.removeprefix("Basic ")
        for kept in (secret, credential, hashlib.sha256(header.encode()).hexdigest()[:16],
                     base64.b64encode(secret.encode()).decode()):  # fmt: skip
            assert kept not in log  # ... without what would give the password away
