"""Prepared allows: a warm check answered from what the previous identical check concluded.

The same token on the same method and path of the same catalog is admitted the same way until the token expires:
which API, resource, application and subscription, which counters, which upstream headers and metadata. The first
allow of such a check is kept here, keyed by (the SHA-256 of the Authorization header, method, path without the
query): the raw credential is never kept, and a header byte-for-byte equal to one that passed is not parsed again.
The next one
only counts its rate limits, re-checks the deny policies (they depend on the client address) and answers with the
prepared allow. Nothing else of the pipeline runs again, and no intermediate object (CheckInput, Decision) is
built — but on an advanced API policy with condition groups, whose counters depend on the request: the warm check
decides them again (`decision.applied`) from the client's address, the query and the claims. Where a group reads a
header, which the first read of a warm check leaves out (it reads the credential and the user agent), the
prepared allow answers `NEEDS_HEADERS`, and the transport asks again with the request's headers (gRPC: the request
parsed on the protobuf runtime; HTTP mode: the headers its whole check would have read). So does one on an API whose
CORS configuration allows some origins only: its answer echoes the caller's Origin (`cors`).

A prepared allow is not used once the catalog has changed (APIs, subscriptions, revocations and deny policies all
arrive as a new catalog version), once the token expires, or once the backend JWT in its headers must be signed
again. Revocation checks need no repeat: a token found not revoked stays so until the catalog changes (every
revocation lasts until a fixed time, or applies to tokens issued before one). Only JWTs are prepared: an opaque
token's introspection answer has its own, shorter, lifetime.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cache import Shared, TtlCache
from .catalog import Catalog
from .cors import Cors
from .decision import Admitted, Counter
from .ratelimit.local import Kept, kept_key
from .render import Allow

Key = tuple[bytes, str, str]  # SHA-256 of the Authorization header, method, path without the query


class NeedsHeaders:
    """A prepared allow exists for the check, and its counters depend on request headers it was not given."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEEDS_HEADERS"


NEEDS_HEADERS = NeedsHeaders()


@dataclass(frozen=True, slots=True, eq=False)
class PreparedAllow:
    version: int  # the catalog version it was concluded on
    until: float  # the token's expiry, or the backend JWT's if earlier
    admitted: Admitted  # what conclude() needs when a counter is over its limit
    counted: tuple[Kept, ...]  # the counters, as the local limiter counts them (`count_now`) ...
    per_request: bool  # ... or none: a condition group decides them for each request (address, query, claims, ...)
    reads_headers: bool  # ... and request headers (a header condition, or the Origin of `cors`)
    allow: Allow
    decided: tuple[Any, ...]  # this allow's key in the decision tally (metrics)
    deny_policies: bool  # the catalog has some: they depend on the client address, checked per request
    cors: Cors | None = None  # the API's where it answers each Origin apart: the allow is rendered for the caller's


def kept_counters(counters: Sequence[Counter]) -> tuple[Kept, ...]:
    """Counters as the local limiter keeps them (`LocalRateLimiter.count_now`)."""
    return tuple((kept_key(c.key, c.limit), c.limit) for c in counters)


def credential_of(authorization: str | None) -> bytes | None:
    """The SHA-256 of an Authorization header, None without one (missing or empty): how a prepared allow keys it
    (the compiled gRPC request reader, adapter/native, hashes the header's bytes the same way; `fingerprint` is
    its hex form)."""
    if not authorization:
        return None
    return hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()


def key(credential: bytes, method: str, path: str) -> Key:
    # The catalog resolves a path without its query: the same resource, the same prepared allow.
    return (credential, method, path.partition("?")[0] if "?" in path else path)


class PreparedAllows:
    def __init__(self, max_entries: int = 50_000):
        self._kept: TtlCache[Key, PreparedAllow] = TtlCache(max_entries, 64 << 20)
        # A decision's metric key is the same for every token of an application on an API: one tuple shared by
        # their prepared allows (one per label set, as the metric tallies keep; the catalog bounds them).
        self._decided: Shared[tuple[Any, ...]] = Shared(10_000)
        # Likewise the counters as the limiter keeps them: the same for every token of an application on a resource.
        self._counted: Shared[tuple[Kept, ...]] = Shared(10_000)

    def get(self, found: Key, catalog: Catalog, now: float) -> PreparedAllow | None:
        prepared = self._kept.get(found, now)
        if prepared is None or prepared.version != catalog.version:
            return None
        return prepared

    def keep(self, found: Key, catalog: Catalog, admitted: Admitted, allow: Allow, decided: tuple[Any, ...]) -> None:
        """Keep an allow concluded on `catalog` from `admitted`, the pipeline's admission (`Pipeline.admission`)."""
        assert admitted.decision.principal is not None
        # Each counts a request once: one counted more (`Counter.times`, a GraphQL call's) is never prepared, its
        # resource checking each call.
        assert all(c.times == 1 for c in admitted.counters)
        counted = self._counted(kept_counters(admitted.counters))
        until = min(admitted.decision.principal.expires_at, allow.until)
        decided = self._decided(decided)
        per_request = bool(admitted.conditional)
        deny = bool(catalog.deny_policies)
        api = admitted.decision.api
        cors = api.cors if api is not None and api.cors is not None and api.cors.per_origin else None
        reads_headers = admitted.reads_headers or cors is not None
        prepared = PreparedAllow(catalog.version, until, admitted, counted, per_request, reads_headers, allow, decided,
                                 deny, cors)  # fmt: skip
        self._kept.put(found, prepared, until, 1024)

    def __len__(self) -> int:
        return len(self._kept)
