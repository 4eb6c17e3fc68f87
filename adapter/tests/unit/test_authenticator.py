"""The authenticator: `lookup` answers from memory (with the check's `now`), `verify` does the work and remembers
what is worth remembering. A validated token is served from memory until it expires; a costly rejection for
NEGATIVE_TTL seconds; a cheap one never, so that made-up tokens cannot fill the negative cache."""

from __future__ import annotations

import asyncio
import time

from apim_adapter import errors
from apim_adapter.config import Introspection, KeyManager
from apim_adapter.tokens import Principal, Rejection, TokenRejected, fingerprint
from apim_adapter.tokens.authenticator import NEGATIVE_TTL, Authenticator
from harness import oidc
from harness.pipeline import ISSUER, KEY, preloaded_authenticator, token
from harness.sample_catalog import KM


def verify(auth: Authenticator, bearer: str) -> Principal | Rejection:
    return asyncio.run(auth.verify(bearer, fingerprint(bearer)))


def test_a_verified_token_is_answered_from_memory_until_it_expires_then_900901():
    auth, bearer = preloaded_authenticator(), token(lifetime=120)
    sha, now = fingerprint(bearer), time.time()
    principal = auth.lookup(bearer, sha, now)  # its signing key is known: verified on the spot, no I/O
    assert isinstance(principal, Principal)
    assert auth.lookup(bearer, sha, now + 1) is principal  # the same object: from memory, not verified again
    assert auth.lookup(bearer, sha, principal.expires_at - 0.5) is principal
    expired = auth.lookup(bearer, sha, principal.expires_at)
    # JWTValidator.checkTokenExpiration: API_AUTH_INVALID_CREDENTIALS, in getAuthenticationFailureMessage's words
    assert expired == Rejection(errors.INVALID, "expired")
    assert (expired.error.code, expired.error.status, expired.error.description) == (
        "900901",
        401,
        "Invalid Credentials. Make sure you have provided the correct security credentials",
    )
    assert len(auth.cache.valid) == 0  # an expired principal does not stay in memory


def test_a_token_already_expired_when_verified_is_900901_and_not_kept():
    auth, bearer = preloaded_authenticator(), token(lifetime=-31)  # one second beyond the 30 s skew
    for answer in (auth.lookup(bearer, fingerprint(bearer), time.time()), verify(auth, bearer)):
        assert answer == Rejection(errors.INVALID, "expired")  # JWTValidatorImpl.validateToken
        assert answer.error.code == "900901"
    assert len(auth.cache.valid) == 0


def test_a_token_whose_key_is_not_here_yet_must_be_verified_by_the_key_manager():
    auth, bearer = preloaded_authenticator(), oidc.SigningKey("RS256").sign(oidc.claims(ISSUER, "client-subscribed"))
    assert auth.lookup(bearer, fingerprint(bearer), time.time()) is None


def test_a_costly_rejection_is_remembered_for_the_negative_ttl_only():
    auth = preloaded_authenticator()
    forged = oidc.SigningKey("RS256", kid=KEY.kid).sign(oidc.claims(ISSUER, "client-subscribed"))
    sha, now = fingerprint(forged), time.time()
    rejection = auth.lookup(forged, sha, now)  # the signature was checked: worth remembering
    assert isinstance(rejection, Rejection)
    assert rejection.error.code == "900901"

    def remembered_until() -> float:  # rejections are shared values: when it was checked tells the lookups apart
        entry = auth.cache.rejected.entry(sha)
        assert entry is not None
        return entry[0]

    assert remembered_until() == now + NEGATIVE_TTL
    assert auth.lookup(forged, sha, now + 1) == rejection
    assert auth.lookup(forged, sha, now + NEGATIVE_TTL - 1) == rejection
    assert remembered_until() == now + NEGATIVE_TTL  # not checked a second time
    again = auth.lookup(forged, sha, now + NEGATIVE_TTL + 1)  # forgotten: checked again, remembered anew
    assert again == rejection
    assert remembered_until() == now + NEGATIVE_TTL + 1 + NEGATIVE_TTL
    assert verify(auth, forged) == rejection  # the key manager's path remembers it too
    assert len(auth.cache.rejected) == 1


def test_cheap_rejections_are_not_remembered():
    auth = preloaded_authenticator()
    cheap = {
        "unknown issuer": oidc.SigningKey().sign(oidc.claims("https://evil.example/token", "client-subscribed")),
        "malformed token": "not.a-jwt.at-all",
        "algorithm 'none' not allowed": "eyJhbGciOiJub25lIn0." + token().split(".")[1] + ".c2ln",
        # An unsecured JWT as RFC 7519 writes it (empty signature) is two parts to Java's split: OAuthAuthenticator
        # refuses it before reading its algorithm.
        "a JWT not in three parts": "eyJhbGciOiJub25lIn0." + token().split(".")[1] + ".",
    }
    for reason, bearer in cheap.items():
        sha = fingerprint(bearer)
        assert auth.lookup(bearer, sha, time.time()) == Rejection(errors.INVALID, reason)
        assert verify(auth, bearer) == Rejection(errors.INVALID, reason)
    assert len(auth.cache) == 0


class OpaqueTokens:
    """An introspection endpoint's answers (its HTTP side has its own tests): which opaque tokens are active."""

    def __init__(self, km: KeyManager, active: dict[str, Principal]):
        self.km, self.active, self.asked = km, active, []

    def cached(self, token_sha256: str, now: float) -> Principal | None:
        return None

    async def introspect(self, bearer: str) -> Principal:
        self.asked.append(fingerprint(bearer))
        if bearer not in self.active:
            raise TokenRejected(errors.INACTIVE, "inactive")
        return self.active[bearer]


def with_introspection(*names: str, active: dict[str, dict[str, Principal]]) -> tuple[Authenticator, dict]:
    made: dict[str, OpaqueTokens] = {}

    def factory(km: KeyManager, client) -> OpaqueTokens:
        made[km.name] = OpaqueTokens(km, active.get(km.name, {}))
        return made[km.name]

    url = "https://is.example.com/oauth2/introspect"
    settings = Introspection(url=url, client_id_file="id", client_secret_file="secret")
    kms = [KeyManager(name=n, issuer=f"https://{n}.example.com/token", introspection=settings) for n in names]
    return Authenticator(kms, factory), made


def opaque_principal(km: str) -> Principal:
    return Principal(km, "client-subscribed", frozenset(), "alice", time.time() + 300)


def test_an_opaque_token_goes_to_introspection_and_a_jwt_does_not():
    opaque = "c2f1e0d8-5b7a-3c4e-9f10-aa11bb22cc33"
    principal = opaque_principal(KM)
    auth, introspectors = with_introspection(KM, active={KM: {opaque: principal}})
    assert auth.lookup(opaque, fingerprint(opaque), time.time()) is None
    assert verify(auth, opaque) is principal
    assert introspectors[KM].asked == [fingerprint(opaque)]
    assert len(auth.cache) == 0  # introspected answers are cached by the introspector, with its own bounds
    unknown_jwt = token()
    assert verify(auth, unknown_jwt) == Rejection(errors.INVALID, "unknown issuer")
    assert introspectors[KM].asked == [fingerprint(opaque)]


def test_a_token_with_a_dot_but_not_three_parts_is_refused_before_any_key_manager_is_asked():
    """OAuthAuthenticator takes a token with a dot for a JWT and refuses it, 900901, where Java's split does not cut
    it into three parts (trailing empty parts dropped): it is never introspected, as it was here before. One with
    three parts that is no JWT stays APIM's to introspect (its parse failure falls back to the opaque path)."""
    auth, introspectors = with_introspection(KM, active={KM: {}})
    for malformed in ("a.b", "header.payload.", "a.b..", "a.b.c.d", "....", "."):
        rejection = auth.lookup(malformed, fingerprint(malformed), time.time())
        assert (rejection, rejection.error.code) == (Rejection(errors.INVALID, "a JWT not in three parts"), "900901")
    assert introspectors[KM].asked == []
    assert auth.lookup("a.b.c.", fingerprint("a.b.c."), time.time()) is None  # three parts to Java: introspected
    assert verify(auth, "a.b.c.") == Rejection(errors.INACTIVE, "inactive")


def test_an_opaque_token_inactive_at_one_key_manager_may_be_active_at_another():
    opaque = "opaque-token-of-the-second-key-manager"
    auth, introspectors = with_introspection("first", "second", active={"second": {opaque: opaque_principal("second")}})
    assert verify(auth, opaque).key_manager == "second"
    assert introspectors["first"].asked == introspectors["second"].asked == [fingerprint(opaque)]
    inactive = verify(auth, "nobody-knows-this-one")
    assert inactive == Rejection(errors.INACTIVE, "inactive")
    assert inactive.error.code == "900904"
    assert len(auth.cache.rejected) == 0


def test_a_principal_that_expired_while_being_verified_is_900901_in_the_key_managers_words():
    """As the introspector refuses an answer already expired: the key manager's validation (900901), worded by
    OAuthAuthenticator for the API called."""
    opaque = "opaque-token-that-expired-on-the-way"
    gone = Principal(KM, "client-subscribed", frozenset(), "alice", time.time() - 1, introspected=True)
    auth, _ = with_introspection(KM, active={KM: {opaque: gone}})
    assert verify(auth, opaque) == Rejection(errors.INVALID, "expired", access_failure=True)


def test_without_introspection_an_opaque_token_is_malformed():
    assert verify(preloaded_authenticator(), "opaque-but-nobody-introspects") == Rejection(
        errors.INVALID, "malformed token"
    )


def test_a_warm_up_that_crashes_does_not_keep_the_adapter_from_turning_ready(tmp_path, caplog):
    """Readiness waits for the key managers' warm-ups, bounded; a bug in one (not a key manager that does not
    answer, which each warm-up logs itself) is logged, and the adapter turns ready all the same."""
    from apim_adapter.app import Adapter
    from apim_adapter.config import parse

    config = {"controlPlane": {"type": "file", "path": str(tmp_path / "catalog.yaml")},
              "keyManagers": [{"name": "k", "issuer": "https://is", "jwksUri": "http://127.0.0.1:9/jwks"}],
              "server": {"keysWarmUpSeconds": 0}}  # fmt: skip
    adapter = Adapter(parse(config))

    class Crashing:
        async def warm_up(self, within: float) -> bool:
            raise RuntimeError("a bug")

    adapter.authenticator.introspectors = lambda: [Crashing()]  # type: ignore[method-assign]

    async def warm() -> None:
        try:
            await adapter._warm_keys()
        finally:
            await adapter.authenticator.close()

    asyncio.run(warm())
    assert adapter.keys_warmed
    assert "warm-up crashed; turning ready without it" in caplog.text
