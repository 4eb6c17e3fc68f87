"""`apim-adapter probe --config FILE`: reach, once, every dependency the config names, and say what each answers.

What `validate` cannot tell, because it reads files only: whether, from where the adapter runs, each key manager's
JWKS loads, each introspection endpoint accepts the adapter's credentials, APIM's internal data API serves the
catalog to its user, APIM's event hub takes the adapter's subscriptions, and Redis answers. Each is asked with the
client the adapter serves with (the same TLS, credentials and timeouts), so a line that says `ok` here is a
dependency the adapter can use, and one that says `FAILED` carries the error the adapter would log. Nothing is
changed anywhere: a made-up token is introspected (inactive is the answer that proves the credentials), the event
hub's queues are the probe's own and go when it closes, Redis is sent PING.

For the on-call engineer (docs/operations.md): `kubectl exec deploy/apim-adapter -- apim-adapter probe --config
/etc/apim-adapter/config.yaml`. Exit status 0 when every dependency answered, 1 when one did not.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import Config, KeyManager
from .http_client import HttpClient
from .tokens import TokenRejected

PROBE_SECONDS = 30.0  # each dependency's own timeouts apply first; this bounds a probe whatever they are


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAILED':<7} {self.what}: {self.detail}"


async def probe(config: Config) -> list[Finding]:
    """Every dependency of `config`, asked at once; one finding each, in the config's order."""
    probes: list[tuple[str, Callable[[], Awaitable[str]]]] = []
    clients: list[HttpClient] = []
    for km in config.key_managers:
        client = HttpClient(km.ca_bundle)
        clients.append(client)
        if km.jwks_uri:
            probes.append((f"key manager {km.name}: JWKS {_address(km.jwks_uri)}", _jwks(km, client)))
        if km.introspection is not None:
            what = f"key manager {km.name}: introspection {_address(km.introspection.url)}"
            probes.append((what, _introspection(km, client)))
    cp = config.control_plane
    if cp.type == "wso2":
        from .controlplane.wso2 import Wso2ControlPlane

        plane = Wso2ControlPlane(cp, config)
        probes.append((f"control plane: APIM's internal data API {_address(cp.url)}", _data_api(plane)))
        if cp.event_hub is not None:
            probes.append((f"control plane: APIM's event hub {_address(cp.event_hub.url)}", _event_hub(plane)))
    redis = config.rate_limit.redis if config.rate_limit.backend == "redis" else None
    if redis is not None:
        probes.append((f"rate limits: Redis {_address(redis.url)}", _redis(config)))
    try:
        answers = await asyncio.gather(*(_asked(ask) for _, ask in probes))
    finally:
        for client in clients:
            await client.close()
    return [Finding(what, ok, detail) for (what, _), (ok, detail) in zip(probes, answers, strict=True)]


async def _asked(ask: Callable[[], Awaitable[str]]) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            return True, await ask()
    except TimeoutError:
        return False, f"no answer within {PROBE_SECONDS:.0f} s"
    except Exception as exc:  # what failed is the finding, whatever it is
        return False, str(exc) or type(exc).__name__


def _address(url: str) -> str:
    """A URL as it can be printed: without the user, password and query it may carry (a Redis URL's password)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path


def _jwks(km: KeyManager, client: HttpClient) -> Callable[[], Awaitable[str]]:
    async def ask() -> str:
        from .tokens.jwks import JwksCache

        assert km.jwks_uri is not None
        keys = await JwksCache(km.name, km.jwks_uri, client).load()
        return f"{len(keys)} signing key(s) ({', '.join(sorted(str(kid) for kid in keys))})"

    return ask


def _introspection(km: KeyManager, client: HttpClient) -> Callable[[], Awaitable[str]]:
    async def ask() -> str:
        from .tokens.introspection import Introspector

        made_up = "apim-adapter-probe-" + secrets.token_urlsafe(24)
        try:
            await Introspector(km, client).introspect(made_up)
        except TokenRejected:
            return "the adapter's credentials are accepted (a made-up token is answered inactive)"
        raise RuntimeError("a made-up token was answered active: is this an introspection endpoint?")

    return ask


def _data_api(plane) -> Callable[[], Awaitable[str]]:
    async def ask() -> str:
        try:
            snapshot = await plane.pull()
        finally:
            await plane.api.close()
        return (f"{len(snapshot.apis)} APIs, {len(snapshot.applications)} applications, "
                f"{len(snapshot.subscriptions)} subscriptions")  # fmt: skip

    return ask


def _event_hub(plane) -> Callable[[], Awaitable[str]]:
    async def ask() -> str:
        listener = plane.listener()
        await listener.probe()
        return f"subscribed to {', '.join(listener.topics)}"

    return ask


def _redis(config: Config) -> Callable[[], Awaitable[str]]:
    async def ask() -> str:
        from .ratelimit.redis import RedisRateLimiter

        assert config.rate_limit.redis is not None
        limiter = RedisRateLimiter(config.rate_limit.redis, config)
        try:
            await limiter.client.ping()
        finally:
            await limiter.close()
        return "PING answered"

    return ask
