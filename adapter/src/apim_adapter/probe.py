"""`apim-adapter probe --config FILE`: reach, once, every dependency the config names, and say what each answers.

What `validate` cannot tell, because it reads files only: whether, from where the adapter runs, each key manager's
JWKS loads, each introspection endpoint accepts the adapter's credentials, APIM's internal data API serves the
catalog to its user, APIM's event hub takes the adapter's subscriptions, APIM's user store answers that user (basic
authentication), and Redis answers. Each is asked with the client the adapter serves with (the same TLS,
credentials and timeouts), so a line that says `ok` here is a dependency the adapter can use, and one that says
`FAILED` carries the error the adapter would log. Nothing is changed anywhere: a made-up token is introspected
(inactive is the answer that proves the credentials), a made-up user asked of the user store (refused is that
answer), the event hub's queues are the probe's own and go when it closes, Redis is sent PING.

With `--mesh-sync`, what `apim-adapter mesh-sync` depends on instead, from its pod: APIM's internal data API and
event hub as above, and the Kubernetes API server with mesh-sync's identity (its kubeconfig, or the pod's
ServiceAccount): whether it may do each thing mesh-sync does there (as `kubectl auth can-i` asks), and whether the
kinds it writes are served (their CRDs installed). Where it exports Services (`exportServices.enabled`), APIM's
Publisher API too: a token with the scopes export needs (APIM drops the ones the user's roles lack without an error),
the gateway environment and vhost revisions go to, and the API list. Only reads, except that the token comes from the
client mesh-sync registers (DCR) with the control plane's user, registered here if mesh-sync has not yet done so.

For the on-call engineer (docs/operations.md): `kubectl exec deploy/apim-adapter -- apim-adapter probe --config
/etc/apim-adapter/config.yaml`. Exit status 0 when every dependency answered, 1 when one did not.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .catalog import API_KEY, BASIC_AUTH, MUTUAL_SSL, security_schemes
from .config import Config, ControlPlaneWso2, KeyManager
from .http_client import HttpClient
from .tokens import TokenRejected

if TYPE_CHECKING:
    from .controlplane.wso2 import Wso2ControlPlane

PROBE_SECONDS = 30.0  # each dependency's own timeouts apply first; this bounds a probe whatever they are


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAILED':<7} {self.what}: {self.detail}"


async def probe(config: Config, mesh_sync: bool = False) -> list[Finding]:
    """Every dependency of `config` (of its meshSync section with `mesh_sync`), asked at once; one finding each, in
    the config's order."""
    cp = config.control_plane
    plane = None
    if cp.type == "wso2":  # made first: it reads its secret files, and a missing one is a ConfigError
        from .controlplane.wso2 import Wso2ControlPlane

        plane = Wso2ControlPlane(cp, config)
    asks: list[tuple[str, Coroutine[Any, Any, str]]] = []
    clients: list[HttpClient] = []
    for km in () if mesh_sync else config.key_managers:
        client = HttpClient(km.ca_bundle)
        clients.append(client)
        if km.jwks_uri:
            asks.append((f"key manager {km.name}: JWKS {_address(km.jwks_uri)}", _jwks(km, km.jwks_uri, client)))
        if km.introspection is not None:
            what = f"key manager {km.name}: introspection {_address(km.introspection.url)}"
            asks.append((what, _introspection(km, client)))
    if plane is not None and cp.type == "wso2":
        asks.append((f"control plane: APIM's internal data API {_address(cp.url)}", _data_api(plane)))
        if cp.event_hub is not None:
            asks.append((f"control plane: APIM's event hub {_address(cp.event_hub.url)}", _event_hub(plane)))
        if config.basic_auth.enabled and not mesh_sync:
            asks.append((f"basic authentication: APIM's user store {_address(cp.url)}", _user_store(cp, config)))
    redis = config.rate_limit.redis if config.rate_limit.backend == "redis" else None
    if redis is not None and not mesh_sync:
        asks.append((f"rate limits: Redis {_address(redis.url)}", _redis(config)))
    if mesh_sync and config.mesh_sync is not None:
        asks.append(("mesh-sync: the Kubernetes API server", _kubernetes(config)))
        export = config.mesh_sync.export_services
        if export.enabled and cp.type == "wso2":
            asks.append((f"mesh-sync: APIM's Publisher API {_address(export.publisher_url or cp.url)}",
                         _publisher_api(config)))  # fmt: skip
    try:
        answers = await asyncio.gather(*(_asked(ask) for _, ask in asks))
    finally:
        for client in clients:
            await client.close()
    return [Finding(what, ok, detail) for (what, _), (ok, detail) in zip(asks, answers, strict=True)]


async def _asked(ask: Coroutine[Any, Any, str]) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            return True, await ask
    except TimeoutError:
        return False, f"no answer within {PROBE_SECONDS:.0f} s"
    except Exception as exc:  # what failed is the finding, whatever it is
        return False, str(exc) or type(exc).__name__


def _address(url: str) -> str:
    """A URL as it can be printed: without the user, password and query it may carry (a Redis URL's password)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path


async def _jwks(km: KeyManager, uri: str, client: HttpClient) -> str:
    from .tokens.jwks import JwksCache

    keys = await JwksCache(km.name, uri, client).load()
    return f"{len(keys)} signing key(s) ({', '.join(sorted(str(kid) for kid in keys))})"


async def _introspection(km: KeyManager, client: HttpClient) -> str:
    from .tokens.introspection import Introspector

    made_up = "apim-adapter-probe-" + secrets.token_urlsafe(24)
    try:
        await Introspector(km, client).introspect(made_up)
    except TokenRejected:
        return "the adapter's credentials are accepted (a made-up token is answered inactive)"
    raise RuntimeError("a made-up token was answered active: is this an introspection endpoint?")


async def _data_api(plane: Wso2ControlPlane) -> str:
    try:
        snapshot = await plane.pull()
    finally:
        await plane.api.close()
    detail = (f"{len(snapshot.apis)} APIs, {len(snapshot.applications)} applications, "
              f"{len(snapshot.subscriptions)} subscriptions")  # fmt: skip
    # The schemes the full pull learnt: where API keys, user names and passwords, and client certificates are taken.
    schemes = [security_schemes(s) for s in (api.get("securityScheme") for api in snapshot.apis.values())
               if isinstance(s, str | list)]  # the data API's string, or the deployed revision's list  # fmt: skip
    if plane.config.api_keys.enabled:
        detail += f"; {sum(API_KEY in s for s in schemes)} of them take API keys"
    if plane.config.basic_auth.enabled:  # and the scopes' roles
        taking = sum(BASIC_AUTH in s for s in schemes)
        with_roles = sum(bool(scope.get("roles")) for scope in (snapshot.scopes or {}).values())
        detail += f"; {taking} of them take basic authentication ({with_roles} scopes with roles)"
    if plane.config.mutual_tls.enabled:  # and how many certificates APIM gave
        taking = sum(MUTUAL_SSL in s for s in schemes)
        certificates = sum(len(api.get("clientCertificates") or ()) for api in snapshot.apis.values())
        detail += f"; {taking} of them take client certificates ({certificates} uploaded)"
    return detail


async def _user_store(cp: ControlPlaneWso2, config: Config) -> str:
    from .controlplane.user_store import RemoteUserStore

    store = RemoteUserStore(cp, config)
    made_up = f"apim-adapter-probe-{secrets.token_hex(8)}@{cp.tenant}"
    try:
        accepted = await store.authenticate(made_up, secrets.token_urlsafe(24))
    finally:
        await store.close()
    if accepted is not None:
        raise RuntimeError("a made-up user was accepted: is this APIM's user store?")
    return "the adapter's user may ask it (a made-up user is refused)"


async def _event_hub(plane: Wso2ControlPlane) -> str:
    listener = plane.listener()
    assert listener is not None  # the config names an event hub
    await listener.probe()
    return f"subscribed to {', '.join(listener.topics)}"


async def _redis(config: Config) -> str:
    from .ratelimit.redis import RedisRateLimiter

    assert config.rate_limit.redis is not None
    limiter = RedisRateLimiter(config.rate_limit.redis, config)
    try:
        await limiter.client.ping()
    finally:
        await limiter.close()
    return "PING answered"


async def _publisher_api(config: Config) -> str:
    from .meshsync.publisher import Publisher, export_environment

    assert config.mesh_sync is not None
    publisher = Publisher.from_config(config)
    try:
        return await publisher.check(export_environment(config), config.mesh_sync.export_services.vhost)
    finally:
        await publisher.close()


async def _kubernetes(config: Config) -> str:
    from .meshsync import kube

    mesh = config.mesh_sync
    assert mesh is not None
    client = kube.client(config)
    try:
        other_route_kinds = {"VirtualService": "httproutes", "HTTPRoute": "virtualservices"}
        # The other route kind is only cleaned up after a switch, and skipped where it is not granted.
        written = [p for p in kube.PERMISSIONS if p[1] != other_route_kinds[mesh.route_kind]]
        checks: list[tuple[str | None, kube.Permissions]] = [(mesh.namespace, written)]
        export = mesh.export_services
        if export.enabled:
            checks += [(namespace, kube.EXPORT_PERMISSIONS) for namespace in export.namespaces or [None]]
        refused = await asyncio.gather(*(kube.denied(client, namespace, asked) for namespace, asked in checks))
        missing = [f"{', '.join(names)} in {namespace or 'every namespace'}"
                   for (namespace, _), names in zip(checks, refused, strict=True) if names]  # fmt: skip
        if missing:
            raise RuntimeError(f"its identity may not {'; '.join(missing)} (the chart's Roles grant them)")
        for kind in (mesh.route_kind, "DestinationRule"):
            await kube.served(client, mesh.namespace, kind)
        asked = sum(len(verbs) for _, permissions in checks for _, _, verbs in permissions)
        where = ", ".join(namespace or "every namespace" for namespace, _ in checks)
        return f"may do the {asked} things mesh-sync does ({where}); {mesh.route_kind} and DestinationRule served"
    finally:
        await client.close()
