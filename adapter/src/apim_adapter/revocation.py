"""Token revocations as APIM 4.5 announces them, and the pure check of a token against them.

Four kinds (reference/wso2-istio-runtime-facts.md, "Revocation"; carbon-apimgt 9.31.86
`gateway/listeners/GatewayTokenRevocationMessageListener.java`, `RevokedJWTDataHolder.java`, `JWTValidator.java`):
- one JWT, by its `jti` (`revokedToken` of a `tokenRevocation` event of type `JWT`; `revokedJWTList[].jwt_signature`);
  an API key likewise, by its `jti` under type `API_KEY` (`APIConsumerImpl.revokeAPIKey`, which also stores it in
  the list `/revokedjwt` serves);
- one opaque token: IS sends the raw token (`type` `Default`). Only its SHA-256 (`tokens.fingerprint`) is kept,
  so no raw token ever sits in memory, logs or the catalog; the caller also evicts it from the introspection cache;
- every token of a consumer key issued (`iat`) before a revocation time (`consumer_app_revocation_event`,
  `revokedJWTConsumerKeyList`);
- every token of a subject issued before a revocation time (`subject_entity_revocation_event`,
  `revokedJWTSubjectEntityList`). As APIM's gateway does, the subject is the token's `entity_id` claim and the
  check applies only to tokens carrying both `azp` and `entity_id`; a subject is a user (`entityType` `USER_ID`),
  whose revocation applies where `entity_id` differs from `azp`, or an application (`CLIENT_ID`), whose revocation
  applies to its own tokens, where `entity_id` is `azp` (`RevokedJWTDataHolder`'s two subject maps, read by
  `JWTValidator.validate`). Another or no `entityType` revokes nothing, as there.

Memory stays bounded: a token revocation lasts until the token's expiry, a consumer-key or subject revocation
until no token issued before it can still be valid (`max_token_lifetime` after it), and `max_entries` caps the
total (the entries closest to their end are dropped first).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .encoding import base64_json_object
from .tokens import Principal, fingerprint

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKEN_LIFETIME = 86_400.0  # seconds; IS 7's default access token lifetime is 3600
DEFAULT_MAX_ENTRIES = 100_000
CONSUMER_APP_EVENT = "consumer_app_revocation_event"  # APIConstants.NotificationEvent
SUBJECT_ENTITY_EVENT = "subject_entity_revocation_event"
JWT_TYPE = "JWT"
API_KEY_TYPE = "API_KEY"  # APIConstants.API_KEY_AUTH_TYPE
USER_ID = "USER_ID"  # APIConstants.NotificationEvent.ENTITY_TYPE_USER_ID
CLIENT_ID = "CLIENT_ID"  # ENTITY_TYPE_CLIENT_ID


@dataclass(frozen=True)
class Revocations:
    """An immutable view for the decision: each key → until when (jti, token hash) or before when (consumer key,
    subject) it applies, in epoch seconds."""

    jtis: Mapping[str, float] = field(default_factory=dict)
    token_hashes: Mapping[str, float] = field(default_factory=dict)
    consumer_keys: Mapping[str, float] = field(default_factory=dict)  # revoked before this time
    subjects: Mapping[str, float] = field(default_factory=dict)  # a user's entity_id → revoked before this time
    subject_apps: Mapping[str, float] = field(default_factory=dict)  # an application's (entity_id = azp) → likewise

    def __len__(self) -> int:
        return sum(len(getattr(self, kind.name)) for kind in fields(self))


NONE = Revocations()


def _issued_at(claims: Mapping[str, Any]) -> float | None:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        return None
    return float(iat)


def revoked(revocations: Revocations, principal: Principal, token_sha256: str, now: float) -> bool:
    """Whether a validated token is revoked: `token_sha256` is `tokens.fingerprint(token)`."""
    if not revocations:
        return False
    jti = principal.jti
    if jti is not None and revocations.jtis.get(jti, 0.0) > now:
        return True
    if revocations.token_hashes:
        if revocations.token_hashes.get(token_sha256, 0.0) > now:
            return True
        # IS names a JWT app's token by its jti; APIM's event type says JWT, but a jti announced with another type
        # ended up hashed like an opaque token: match it the same way.
        if jti is not None and revocations.token_hashes.get(fingerprint(jti), 0.0) > now:
            return True
    if revocations.consumer_keys or revocations.subjects or revocations.subject_apps:
        iat = _issued_at(principal.claims)
        if iat is None:
            return False
        before = revocations.consumer_keys.get(principal.consumer_key)
        if before is not None and iat < before:
            return True
        entity, azp = principal.claims.get("entity_id"), principal.claims.get("azp")
        if isinstance(entity, str) and isinstance(azp, str):
            # an application's own token names it in both claims; a user's token names the user in entity_id
            before = (revocations.subject_apps if entity == azp else revocations.subjects).get(entity)
            if before is not None and iat < before:
                return True
    return False


class BadRevocation(ValueError):
    """A revocation message or list entry that cannot be applied; the message never contains a token."""


# An API key's revocation carries its expiry in seconds, every other one in milliseconds: the DevPortal's revoke
# passes the key's own `exp` (ApplicationsApiServiceImpl → APIUtil.getExpiryifJWT → APIConsumerImpl.revokeAPIKey,
# which both publishes it and stores it for `/revokedjwt`), the key manager's events and revocation times
# System.currentTimeMillis()-style values. Nothing in milliseconds falls before 1973, nothing in seconds after
# year 5138: below this, a time is in seconds.
_SECONDS_BELOW = 100_000_000_000


def _epoch_seconds(value: Any) -> float | None:
    """One of APIM's revocation times, as a number or (revocationTime) a string: epoch milliseconds, or seconds for
    an API key's expiry (_SECONDS_BELOW)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value) if value < _SECONDS_BELOW else value / 1000.0


def jti_of(revoked_token: str) -> str:
    """The jti of a whole JWT (accepted as well as a bare jti); the value itself otherwise."""
    if revoked_token.count(".") != 2:
        return revoked_token
    try:
        part = revoked_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return revoked_token
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if isinstance(jti, str) and jti else revoked_token


@dataclass(frozen=True)
class RevocationLimits:
    """`controlPlane.revocationMaxTokenLifetimeSeconds` and `revocationMaxEntries`."""

    max_token_lifetime: float = DEFAULT_MAX_TOKEN_LIFETIME
    max_entries: int = DEFAULT_MAX_ENTRIES


DEFAULT_LIMITS = RevocationLimits()


class RevocationStore:
    """What the control plane learnt, from `/revokedjwt` and the `tokenRevocation` topic; `view()` snapshots it."""

    def __init__(self, limits: RevocationLimits = DEFAULT_LIMITS):
        self.limits = limits
        self.jtis: dict[str, float] = {}
        self.token_hashes: dict[str, float] = {}
        self.consumer_keys: dict[str, float] = {}
        self.subjects: dict[str, float] = {}
        self.subject_apps: dict[str, float] = {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RevocationStore):
            return NotImplemented
        return self._tables() == other._tables()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _tables(self) -> tuple[dict[str, float], ...]:
        return self.jtis, self.token_hashes, self.consumer_keys, self.subjects, self.subject_apps

    def copy(self) -> RevocationStore:
        """An independent store with the same entries (the control plane's snapshots never share one)."""
        other = RevocationStore(self.limits)
        for mine, theirs in zip(self._tables(), other._tables(), strict=True):
            theirs.update(mine)
        return other

    def merged(self, other: RevocationStore) -> RevocationStore:
        """A copy of this store with `other`'s entries added (each key keeps the later time)."""
        out = self.copy()
        for mine, theirs in zip(out._tables(), other._tables(), strict=True):
            for key, at in theirs.items():
                _extend(mine, key, at)
        return out

    # -- sources --------------------------------------------------------------------------------------------

    def apply_event(self, payload: Mapping[str, Any], now: float) -> str | None:
        """A `tokenRevocation` event's fields (`TokenRevocationNotifierImpl`: eventId, revokedToken, ttl,
        expiryTime, type, tenantId). Returns the SHA-256 of an opaque token it revoked (for the caller to evict
        from the introspection cache), else None. Raises BadRevocation."""
        kind, token = payload.get("type"), payload.get("revokedToken")
        if not isinstance(token, str) or not token:
            raise BadRevocation("tokenRevocation without revokedToken")
        if kind in (CONSUMER_APP_EVENT, SUBJECT_ENTITY_EVENT):
            self._apply_entity_event(kind, token, now)
            return None
        until = _epoch_seconds(payload.get("expiryTime")) or now + self._ttl(payload.get("ttl"))
        until = min(until, now + self.limits.max_token_lifetime)
        jti = jti_of(token) if token.count(".") == 2 else None
        if (jti is not None and jti != token) or (kind in (JWT_TYPE, API_KEY_TYPE) and "." not in token):
            _extend(self.jtis, jti or token, until)  # a jti, or the jti of a whole JWT
            return None
        digest = fingerprint(token)  # an opaque token (or a jti under another type): never keep it raw
        _extend(self.token_hashes, digest, until)
        return digest

    def _apply_entity_event(self, kind: str, encoded: str, now: float) -> None:
        # `revokedToken` is base64 JSON (event/ConsumerAppRevocationEvent.java, SubjectEntityRevocationEvent.java).
        try:
            event = base64_json_object(encoded)
        except ValueError as exc:
            raise BadRevocation(f"{kind}: revokedToken is {exc}") from exc
        at = _epoch_seconds(event.get("revocationTime"))
        if at is None:
            raise BadRevocation(f"{kind}: no revocationTime")
        # The map's keys are APIConstants.NotificationEvent's: CONSUMER_KEY is "consumer_key", ENTITY_ID "entityId",
        # ENTITY_TYPE "entityType" (TokenRevocationNotifierImpl.sendMessageOnRealtime writes them,
        # GatewayTokenRevocationMessageListener.handleRevokedTokenMessage reads them).
        if kind == CONSUMER_APP_EVENT:
            name, table = "consumer_key", self.consumer_keys
        else:
            subjects = self._subject_table(event.get("entityType"))
            if subjects is None:
                raise BadRevocation(f"{kind}: entityType is neither {USER_ID} nor {CLIENT_ID}")
            name, table = "entityId", subjects
        key = event.get(name)
        if not isinstance(key, str) or not key:
            raise BadRevocation(f"{kind}: no {name}")
        _extend(table, key, at)

    def load(self, body: Any, now: float) -> list[str]:
        """`GET /revokedjwt` (`RevokedEventsDTO`): merged into what events already told. Returns why entries were
        left out (bad shapes), so that one bad row does not lose the others."""
        if not isinstance(body, Mapping):
            raise BadRevocation("revokedjwt: not an object")
        skipped: list[str] = []
        lists = (
            ("revokedJWTList", "jwt_signature", "expiry_time", lambda _: self.jtis),
            ("revokedJWTConsumerKeyList", "consumer_key", "revocation_time", lambda _: self.consumer_keys),
            # RevokedJWTTokensRetriever.loadRevokedUsers: a row of another entity_type is left out
            ("revokedJWTSubjectEntityList", "entity_id", "revocation_time",
             lambda entry: self._subject_table(entry.get("entity_type"))),
        )  # fmt: skip
        for name, key_field, time_field, table_of in lists:
            for i, entry in enumerate(_list(body.get(name))):
                key = entry.get(key_field) if isinstance(entry, Mapping) else None
                at = _epoch_seconds(entry.get(time_field)) if isinstance(entry, Mapping) else None
                if not isinstance(key, str) or not key or at is None:
                    skipped.append(f"{name}[{i}]: needs {key_field} and {time_field}")
                    continue
                table = table_of(entry)
                if table is None:
                    skipped.append(f"{name}[{i}]: entity_type is neither {USER_ID} nor {CLIENT_ID}")
                    continue
                if table is self.jtis:
                    at = min(at, now + self.limits.max_token_lifetime)
                _extend(table, key, at)
        return skipped

    def _subject_table(self, entity_type: Any) -> dict[str, float] | None:
        return {USER_ID: self.subjects, CLIENT_ID: self.subject_apps}.get(entity_type)

    # -- the view -------------------------------------------------------------------------------------------

    def view(self, now: float) -> Revocations:
        """Expired entries dropped, the cap enforced, and a frozen copy for the catalog."""
        horizon = now - self.limits.max_token_lifetime
        self.jtis = {k: t for k, t in self.jtis.items() if t > now}
        self.token_hashes = {k: t for k, t in self.token_hashes.items() if t > now}
        self.consumer_keys = {k: t for k, t in self.consumer_keys.items() if t > horizon}
        self.subjects = {k: t for k, t in self.subjects.items() if t > horizon}
        self.subject_apps = {k: t for k, t in self.subject_apps.items() if t > horizon}
        excess = sum(map(len, self._tables())) - self.limits.max_entries
        if excess > 0:
            self._drop(excess, now)
        return Revocations(*(dict(table) for table in self._tables()))

    def _drop(self, count: int, now: float) -> None:
        """Drop the `count` entries that would end soonest; each kind's end on one time line."""
        lifetime = self.limits.max_token_lifetime
        ends = [(t, k, self.jtis) for k, t in self.jtis.items()]
        ends += [(t, k, self.token_hashes) for k, t in self.token_hashes.items()]
        for table in (self.consumer_keys, self.subjects, self.subject_apps):  # revoked before: end a lifetime later
            ends += [(t + lifetime, k, table) for k, t in table.items()]
        ends.sort(key=lambda e: e[0])
        for _, key, table in ends[:count]:
            del table[key]
        log.warning("revocations over their cap: the entries ending soonest were dropped", extra={"dropped": count})

    def _ttl(self, value: Any) -> float:
        try:
            ttl = float(value)
        except (TypeError, ValueError):
            return self.limits.max_token_lifetime
        return ttl if 0 < ttl < self.limits.max_token_lifetime else self.limits.max_token_lifetime


def _extend(table: dict[str, float], key: str, at: float) -> None:
    """Keep the later time: a later revocation of a consumer key covers more tokens; a jti lives to its end."""
    if at > table.get(key, 0.0):
        table[key] = at


def _list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()
