"""RFC 7662 introspection against a real introspection endpoint started by the test (harness.oidc; IS 7's
/oauth2/introspect answers the same way; Keycloak in the local stack has a real one too)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from apim_adapter import errors
from apim_adapter.config import Introspection, KeyManager
from apim_adapter.errors import Unavailable
from apim_adapter.http_client import HttpClient
from apim_adapter.tokens import TokenRejected, fingerprint
from apim_adapter.tokens.introspection import Introspector
from harness.oidc import IntrospectionEndpoint

SECRET = "s3cret"


def active(client_id: str = "client-a", lifetime: float = 300, **extra) -> dict:
    return {"active": True, "client_id": client_id, "scope": "scope_ip scope_headers", "sub": "alice",
            "exp": int(time.time() + lifetime), "token_type": "Bearer", **extra}  # fmt: skip


def key_manager(tmp_path: Path, url: str, secret: str = SECRET, **settings) -> KeyManager:
    (tmp_path / "client-id").write_text("adapter\n")
    (tmp_path / "client-secret").write_text(secret + "\n")
    intro = Introspection(url, str(tmp_path / "client-id"), str(tmp_path / "client-secret"), **settings)
    return KeyManager("WSO2-IS-7", "https://is/oauth2/token", introspection=intro)


class Clock:
    """The introspector's clock, moved by the tests instead of sleeping through cache lifetimes."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def run(tmp_path, scenario, delay: float = 0.0, secret: str = SECRET, clock: Clock | None = None, **settings):
    endpoint = IntrospectionEndpoint("adapter", SECRET, delay)

    async def main():
        client = HttpClient(timeout=2)
        km = key_manager(tmp_path, endpoint.url, secret, **settings)
        try:
            await scenario(endpoint, Introspector(km, client, clock=clock or time.time))
        finally:
            await client.close()

    try:
        asyncio.run(main())
    finally:
        endpoint.stop()


def test_an_active_token_becomes_a_principal_and_is_cached(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["opaque-1"] = active(jti="j-1")
        principal = await introspector.introspect("opaque-1")
        assert principal.consumer_key == "client-a"
        assert principal.scopes == {"scope_ip", "scope_headers"}
        assert principal.key_manager == "WSO2-IS-7"
        assert principal.jti == "j-1"
        assert await introspector.introspect("opaque-1") == principal
        assert endpoint.calls == 1

    run(tmp_path, scenario)


def test_the_positive_cache_ends_at_cache_seconds_even_when_the_token_lives_longer(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["opaque-1"] = active(lifetime=3600)
        await introspector.introspect("opaque-1")
        endpoint.tokens["opaque-1"] = {"active": False}  # revoked at the key manager
        clock.now += 0.9
        assert (await introspector.introspect("opaque-1")).consumer_key == "client-a"  # still the cached answer
        clock.now += 0.2
        with pytest.raises(TokenRejected) as caught:
            await introspector.introspect("opaque-1")
        assert caught.value.error == errors.INACTIVE
        assert endpoint.calls == 2

    clock = Clock()
    run(tmp_path, scenario, clock=clock, cache_seconds=1)


def test_a_token_revoked_through_apim_is_forgotten_by_its_sha256_and_asked_again(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["opaque-1"] = active(lifetime=3600)
        await introspector.introspect("opaque-1")
        endpoint.tokens["opaque-1"] = {"active": False}  # revoked at the key manager, announced by APIM
        introspector.forget(fingerprint("opaque-1"))
        with pytest.raises(TokenRejected) as caught:
            await introspector.introspect("opaque-1")
        assert caught.value.error == errors.INACTIVE
        assert endpoint.calls == 2

    run(tmp_path, scenario, cache_seconds=3600)


def test_inactive_tokens_are_rejected_and_negatively_cached_briefly(tmp_path):
    async def scenario(endpoint, introspector):
        for _ in range(3):
            with pytest.raises(TokenRejected) as caught:
                await introspector.introspect("unknown")
            assert caught.value.error == errors.INACTIVE
        assert endpoint.calls == 1
        endpoint.tokens["unknown"] = active()
        clock.now += 1.1
        assert (await introspector.introspect("unknown")).consumer_key == "client-a"
        assert endpoint.calls == 2

    clock = Clock()
    run(tmp_path, scenario, clock=clock, negative_cache_seconds=1)


def test_an_expired_answer_is_rejected_as_expired(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["old"] = active(lifetime=-10)
        with pytest.raises(TokenRejected) as caught:
            await introspector.introspect("old")
        assert caught.value.error == errors.EXPIRED

    run(tmp_path, scenario)


def test_concurrent_checks_of_one_token_make_one_call(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["hot"] = active()
        principals = await asyncio.gather(*(introspector.introspect("hot") for _ in range(20)))
        assert {p.consumer_key for p in principals} == {"client-a"}
        assert endpoint.calls == 1

    run(tmp_path, scenario, delay=0.2)


def test_an_outage_is_an_error_not_a_deny_and_cached_tokens_stay_valid(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["cached"] = active()
        await introspector.introspect("cached")
        endpoint.status = 503
        with pytest.raises(Unavailable, match=r"answered HTTP 503$"):  # an outage, not told as a refusal
            await introspector.introspect("new-token")
        endpoint.stop()  # no key manager at all
        with pytest.raises(Unavailable):
            await introspector.introspect("another-token")
        assert (await introspector.introspect("cached")).consumer_key == "client-a"
        endpoint.start()
        endpoint.status = 200
        endpoint.tokens["new-token"] = active("client-b")
        assert (await introspector.introspect("new-token")).consumer_key == "client-b"  # errors are not cached

    run(tmp_path, scenario)


def test_refused_credentials_are_an_error_that_says_which_credentials_is_takes(tmp_path):
    """IS 7 refuses a client's id and secret on /oauth2/introspect unless its deployment.toml allows client
    authentication there: the operator reads in the log that the credentials, not IS, are the problem."""

    async def scenario(endpoint, introspector):
        endpoint.tokens["t"] = active()
        with pytest.raises(
            Unavailable, match=r"refused the adapter's credentials \(HTTP 401\).*internal_oauth2_introspect"
        ):
            await introspector.introspect("t")
        assert endpoint.calls == 1

    run(tmp_path, scenario, secret="wrong")
