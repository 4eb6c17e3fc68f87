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


async def refused(introspector: Introspector, token: str) -> TokenRejected:
    """The introspector's refusal of `token` (the test fails where it admits it)."""
    with pytest.raises(TokenRejected) as caught:
        await introspector.introspect(token)
    return caught.value


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
    """The scenario against an introspection endpoint (and its IS's token endpoint) whose client has SECRET; the
    adapter's files hold `secret`."""
    endpoint = IntrospectionEndpoint("adapter", SECRET, delay)

    async def main():
        client = HttpClient(timeout=2)
        if settings.get("authentication") == "bearer":
            settings.setdefault("token_url", endpoint.token_url)
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


def test_the_end_user_is_the_answers_username_as_apims_key_manager_takes_it(tmp_path):
    """AMDefaultKeyManagerImpl.getTokenMetaData names the end user by the answer's `username` (the user the gateway
    throttles and the backend JWT names), whatever `sub` holds (IS may answer a user ID); `sub` only without one."""

    async def scenario(endpoint, introspector):
        endpoint.tokens["named"] = active(sub="8f2c-user-id", username="alice@carbon.super")
        endpoint.tokens["unnamed"] = active(sub="8f2c-user-id")
        assert (await introspector.introspect("named")).subject == "alice@carbon.super"
        assert (await introspector.introspect("unnamed")).subject == "8f2c-user-id"

    run(tmp_path, scenario)


def test_the_positive_cache_ends_at_cache_seconds_even_when_the_token_lives_longer(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["opaque-1"] = active(lifetime=3600)
        await introspector.introspect("opaque-1")
        endpoint.tokens["opaque-1"] = {"active": False}  # revoked at the key manager
        clock.now += 0.9
        assert (await introspector.introspect("opaque-1")).consumer_key == "client-a"  # still the cached answer
        clock.now += 0.2
        caught = await refused(introspector, "opaque-1")
        assert (caught.error, caught.access_failure) == (errors.INVALID, True)
        assert endpoint.calls == 2

    clock = Clock()
    run(tmp_path, scenario, clock=clock, cache_seconds=1)


def test_a_token_revoked_through_apim_is_forgotten_by_its_sha256_and_asked_again(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["opaque-1"] = active(lifetime=3600)
        await introspector.introspect("opaque-1")
        endpoint.tokens["opaque-1"] = {"active": False}  # revoked at the key manager, announced by APIM
        introspector.forget(fingerprint("opaque-1"))
        caught = await refused(introspector, "opaque-1")
        assert (caught.error, caught.access_failure) == (errors.INVALID, True)
        assert endpoint.calls == 2

    run(tmp_path, scenario, cache_seconds=3600)


def test_inactive_tokens_are_rejected_and_negatively_cached_briefly(tmp_path):
    async def scenario(endpoint, introspector):
        for _ in range(3):
            caught = await refused(introspector, "unknown")
            assert (caught.error, caught.access_failure) == (errors.INVALID, True)
        assert endpoint.calls == 1
        endpoint.tokens["unknown"] = active()
        clock.now += 1.1
        assert (await introspector.introspect("unknown")).consumer_key == "client-a"
        assert endpoint.calls == 2

    clock = Clock()
    run(tmp_path, scenario, clock=clock, negative_cache_seconds=1)


def test_an_expired_answer_is_rejected_as_the_key_managers_validation_rejects_it(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["old"] = active(lifetime=-10)
        caught = await refused(introspector, "old")
        # DefaultKeyValidationHandler: a token found expired is API_AUTH_INVALID_CREDENTIALS, as an inactive one
        assert (caught.error, caught.reason, caught.access_failure) == (
            errors.INVALID,
            "expired",
            True,
        )

    run(tmp_path, scenario)


@pytest.mark.parametrize("token_type", ["Refresh", "refresh", "REFRESH"])
def test_a_refresh_token_is_refused_as_an_inactive_one(tmp_path, token_type):
    """AMDefaultKeyManagerImpl.getTokenMetaData: IS answers a valid refresh token active, with token_type Refresh
    (equalsIgnoreCase), and the key manager's validation refuses it as an inactive token."""

    async def scenario(endpoint, introspector):
        endpoint.tokens["refresh-1"] = active(lifetime=86400, token_type=token_type)
        endpoint.tokens["access-1"] = active(lifetime=86400)  # the same answer, token_type Bearer
        caught = await refused(introspector, "refresh-1")
        assert (caught.error, caught.reason, caught.access_failure) == (
            errors.INVALID,
            "a refresh token",
            True,
        )
        assert caught.error.code == "900901"
        assert (await introspector.introspect("access-1")).consumer_key == "client-a"

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


def bearer(tmp_path, scenario, clock: Clock | None = None, secret: str = SECRET, **settings):
    """`run` with `authentication: bearer`: the adapter's own client-credentials token from the endpoint's IS."""
    run(tmp_path, scenario, secret=secret, clock=clock, authentication="bearer", **settings)


def test_bearer_asks_one_client_credentials_token_for_every_introspection_until_it_nears_its_end(tmp_path):
    clock = Clock()

    async def scenario(endpoint, introspector):
        for n in range(3):
            endpoint.tokens[f"t{n}"] = active()
        await asyncio.gather(*(introspector.introspect(f"t{n}") for n in range(3)))
        assert (endpoint.calls, endpoint.token_calls) == (3, 1)  # concurrent first calls share one token request
        clock.now += 3600 - 61  # a minute before it ends, the token is still used ...
        endpoint.tokens["t3"] = active(lifetime=7200)
        await introspector.introspect("t3")
        assert endpoint.token_calls == 1
        clock.now += 2  # ... and renewed within its last minute
        endpoint.tokens["t4"] = active(lifetime=7200)
        await introspector.introspect("t4")
        assert endpoint.token_calls == 2

    bearer(tmp_path, scenario, clock)


def test_bearer_renews_a_token_is_revoked_and_answers_the_check(tmp_path):
    clock = Clock()

    async def scenario(endpoint, introspector):
        endpoint.tokens["a"], endpoint.tokens["c"] = active(), active(lifetime=3600)
        endpoint.tokens["b"] = active("client-b", lifetime=3600)
        await introspector.introspect("a")
        clock.now += 600
        endpoint.revoke_bearer_tokens()  # revoked at IS after ten minutes in use: renewed at once, the check answered
        assert (await introspector.introspect("b")).consumer_key == "client-b"
        assert endpoint.token_calls == 2
        endpoint.revoke_bearer_tokens()  # refused again right after it was issued: a new token would not help
        with pytest.raises(Unavailable, match=r"refused the adapter's token \(HTTP 401\): IS does not know it"):
            await introspector.introspect("c")
        assert endpoint.token_calls == 2

    bearer(tmp_path, scenario, clock)


def test_bearer_without_the_scope_says_to_authorize_the_application(tmp_path):
    """An application not authorized for IS's OAuth2 Introspection API gets a token without
    internal_oauth2_introspect (its answer then carries no `scope`), which the introspection endpoint answers 403;
    a token granted other scopes only is caught before it is sent."""

    clock = Clock()

    async def scenario(endpoint, introspector):
        endpoint.authorized_scopes = set()
        endpoint.tokens["t"] = active()
        for _ in range(3):
            with pytest.raises(Unavailable, match=r"HTTP 403.*authorize the application for IS's OAuth2 Introspection"):
                await introspector.introspect("t")
        assert endpoint.token_calls == 1  # a refused token is not renewed on every check ...
        endpoint.authorized_scopes = {IntrospectionEndpoint.SCOPE}  # authorized in IS's console
        clock.now += 10  # ... but every 10 s: the next check then gets a token with the scope
        with pytest.raises(Unavailable, match="HTTP 403"):
            await introspector.introspect("t")
        assert (await introspector.introspect("t")).consumer_key == "client-a"
        assert endpoint.token_calls == 2

    bearer(tmp_path, scenario, clock)


def test_bearer_token_granted_other_scopes_only_is_not_sent(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.authorized_scopes = {"internal_user_mgt_view"}
        endpoint.tokens["t"] = active()
        with pytest.raises(Unavailable, match="issued without internal_oauth2_introspect: authorize the application"):
            await introspector.introspect("t")
        assert endpoint.calls == 0

    bearer(tmp_path, scenario, token_scope="internal_oauth2_introspect internal_user_mgt_view")


def test_bearer_with_a_wrong_client_secret_names_the_token_endpoint(tmp_path):
    async def scenario(endpoint, introspector):
        endpoint.tokens["t"] = active()
        with pytest.raises(Unavailable, match=r"token endpoint answered HTTP 401 to the client in clientIdFile"):
            await introspector.introspect("t")
        assert endpoint.calls == 0

    bearer(tmp_path, scenario, secret="not-" + SECRET)


def test_bearer_token_is_asked_for_at_start_and_a_refusal_is_logged_then(tmp_path, caplog):
    async def scenario(endpoint, introspector):
        assert await introspector.warm_up(2)
        endpoint.tokens["t"] = active()
        await introspector.introspect("t")
        assert endpoint.token_calls == 1  # the check used the token asked for at start

    bearer(tmp_path, scenario)

    async def refused(endpoint, introspector):
        with caplog.at_level("WARNING", logger="apim_adapter.tokens.introspection"):
            assert not await introspector.warm_up(2)
        (record,) = [r for r in caplog.records if r.name.endswith("introspection") and r.levelname == "WARNING"]
        assert record.getMessage().startswith("introspection token not obtained at start")
        assert "HTTP 401 to the client in clientIdFile" in record.error

    bearer(tmp_path, refused, secret="not-" + SECRET)

    async def basic(endpoint, introspector):
        assert await introspector.warm_up(2)  # basic has nothing to ask for before a call
        assert endpoint.token_calls == 0

    run(tmp_path, basic)
