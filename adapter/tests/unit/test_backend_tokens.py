"""The tokens of OAuth-secured backends (backend_tokens.py): asked for as APIM's OAuthClient asks (its form), got
ahead for every endpoint the catalog names, again at 80% of their lifetime, after a failure with a doubling backoff
while the token held is kept until it expires; forgotten with the endpoint. A clock the test moves, a token URL the
test answers for."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest

from apim_adapter.backend_tokens import BackendTokens, Token, TokenRefused, read_answer, token_form
from apim_adapter.endpoint_security import CLIENT_CREDENTIALS, PASSWORD, OAuthEndpoint

CLIENT = OAuthEndpoint("https://is.example.com/oauth2/token", "backend-app", "s3cret", CLIENT_CREDENTIALS,
                       custom_parameters=(("scope", "orders:read write"),))  # fmt: skip
USER = OAuthEndpoint("https://is.example.com/oauth2/token", "backend-app", "s3cret", PASSWORD, "svc@carbon.super",
                     "p&ss=word")  # fmt: skip


def form(body: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(body, keep_blank_values=True)


def test_each_grant_is_asked_for_as_apims_oauth_client_asks():
    assert form(token_form(CLIENT, None)) == [("grant_type", "client_credentials"), ("scope", "orders:read write")]
    assert form(token_form(CLIENT, "ignored")) == form(token_form(CLIENT, None))  # no refresh for this grant
    assert form(token_form(USER, None)) == [("grant_type", "password"), ("username", "svc@carbon.super"),
                                            ("password", "p&ss=word")]  # fmt: skip
    assert form(token_form(USER, "r-1")) == [("grant_type", "refresh_token"), ("refresh_token", "r-1")]


def test_an_answer_gives_its_token_and_its_lifetime():
    token = read_answer(json.dumps({"access_token": "t", "expires_in": "3600", "refresh_token": "r"}).encode(), 100.0)
    assert token == Token("t", 3700.0, 100.0 + 2880.0, "r")
    unstated = read_answer(b'{"access_token": "t"}', 100.0)
    assert (unstated.expires_at, unstated.refresh_at) == (160.0, 148.0)
    for instant in (b'{"access_token": "t", "expires_in": 0}', b'{"access_token": "t", "expires_in": "-5"}'):
        kept = read_answer(instant, 100.0)  # not asked for again and again: kept for a second
        assert (kept.expires_at, kept.refresh_at) == (101.0, 100.8)


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"<html/>", "not JSON"), (b'{"error": "invalid_client"}', "no access_token"), (b"[]", "no access_token"),
     (b'{"access_token": "t", "expires_in": "soon"}', "not a whole number"),
     (b'{"access_token": "t\\r\\nX-Injected: 1"}', "not one printable line")],
)  # fmt: skip
def test_an_answer_without_a_usable_token_is_refused(body, why):
    with pytest.raises(TokenRefused, match=why):
        read_answer(body, 0.0)


class TokenUrl:
    """Answers the keeper's requests as the test says: a token of `lifetime` seconds, or an error."""

    def __init__(self, lifetime: float = 100.0):
        self.lifetime, self.failing, self.asked = lifetime, False, []

    async def __call__(self, endpoint: OAuthEndpoint, refresh: str | None, now: float) -> Token:
        self.asked.append((endpoint.grant_type, refresh, now))
        if self.failing:
            raise TokenRefused("HTTP 503", 503)
        n = len(self.asked)
        return Token(f"token-{n}", now + self.lifetime, now + self.lifetime * 0.8, f"refresh-{n}")


def keeper(url: TokenUrl) -> tuple[BackendTokens, list[float]]:
    clock = [1000.0]
    return BackendTokens(url, clock=lambda: clock[0]), clock


def run(tokens: BackendTokens, *endpoints: OAuthEndpoint) -> None:
    """Ask for what is due now, as one round of `run` does."""
    due, _ = tokens.due(tokens.clock())

    async def asked() -> None:
        await asyncio.gather(*(tokens.get(e) for e in due if e in endpoints or not endpoints))

    asyncio.run(asyncio.wait_for(asked(), 5))


def test_a_token_is_got_for_each_endpoint_named_and_again_at_80_percent_of_its_lifetime():
    url = TokenUrl()
    tokens, clock = keeper(url)
    tokens.want([CLIENT, USER])
    due, later = tokens.due(clock[0])
    assert (set(due), later) == ({CLIENT, USER}, float("inf"))
    run(tokens)
    assert {tokens.current(CLIENT, clock[0]).access, tokens.current(USER, clock[0]).access} == {"token-1", "token-2"}
    assert tokens.due(clock[0]) == ([], 1080.0)
    clock[0] = 1080.0
    run(tokens)
    assert [(grant, refresh) for grant, refresh, _ in url.asked[2:]] in (
        [(CLIENT_CREDENTIALS, None), (PASSWORD, "refresh-2")], [(PASSWORD, "refresh-1"), (CLIENT_CREDENTIALS, None)],
    )  # the client credentials grant keeps no refresh token; the password grant refreshes  # fmt: skip
    assert tokens.current(CLIENT, clock[0]).access in ("token-3", "token-4")


def test_after_a_failure_the_token_held_is_sent_until_it_expires_and_attempts_back_off():
    url = TokenUrl()
    tokens, clock = keeper(url)
    tokens.want([CLIENT])
    run(tokens)
    url.failing = True
    clock[0] = 1080.0
    waits = []
    for _ in range(7):
        run(tokens)
        _, at = tokens.due(clock[0])
        waits.append(at - clock[0])
        clock[0] = at
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert tokens.current(CLIENT, 1099.0).access == "token-1"  # held until its expiry
    assert tokens.current(CLIENT, 1100.0) is None  # then calls go without one
    url.failing = False
    run(tokens)
    assert tokens.current(CLIENT, clock[0]).access.startswith("token-")
    assert tokens.due(clock[0])[1] == clock[0] + 80.0  # the backoff ends with a token


def test_an_endpoint_no_longer_named_is_forgotten_with_its_token():
    url = TokenUrl()
    tokens, clock = keeper(url)
    tokens.want([CLIENT])
    run(tokens)
    tokens.want([USER])
    assert tokens.current(CLIENT, clock[0]) is None
    assert tokens.due(clock[0]) == ([USER], float("inf"))


def test_the_first_round_ends_once_each_endpoint_of_the_first_catalog_was_asked_once():
    url = TokenUrl()
    tokens, _ = keeper(url)
    rounds = []
    tokens.on_first_round = lambda: rounds.append(True)
    assert not tokens.first_round_done  # no catalog yet
    url.failing = True
    tokens.want([CLIENT, USER])
    run(tokens, CLIENT)
    assert not tokens.first_round_done
    run(tokens, USER)  # a failure counts: the adapter turns ready, and calls go without until a token comes
    assert tokens.first_round_done
    assert rounds == [True]
    none = BackendTokens(url)
    none.want([])
    assert none.first_round_done


def test_the_keeper_asks_when_a_new_catalog_wakes_it_and_not_before_a_token_is_due():
    async def until(condition, what: str) -> None:
        for _ in range(500):  # the keeper runs on this loop: it has had its turns long before
            if condition():
                return
            await asyncio.sleep(0.001)
        raise AssertionError(what)

    async def scenario() -> list[str]:
        url = TokenUrl(lifetime=3600.0)
        tokens = BackendTokens(url)
        task = asyncio.ensure_future(tokens.run())
        await asyncio.sleep(0)
        tokens.want([CLIENT])  # a catalog: the sleeping keeper wakes
        await until(lambda: len(url.asked) == 1, "the keeper did not ask for the first catalog's token")
        tokens.want([CLIENT, USER])  # another: only the new endpoint is asked
        await until(lambda: len(url.asked) == 2, "the keeper did not ask for the new endpoint's token")
        for _ in range(50):
            await asyncio.sleep(0)
        task.cancel()
        return [grant for grant, _, _ in url.asked]

    assert asyncio.run(scenario()) == [CLIENT_CREDENTIALS, PASSWORD]  # nothing else was due for an hour
