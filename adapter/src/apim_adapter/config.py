"""The adapter's configuration file: YAML in, frozen dataclasses out, errors that name the bad key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
DEFAULT_ALGORITHMS = ("RS256", "PS256", "ES256")


class ConfigError(ValueError):
    """A configuration problem, with the dotted path of the offending key."""


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    path_prefix: str = ""


@dataclass(frozen=True)
class Server:
    grpc: Listener = Listener("0.0.0.0", 8081)  # noqa: S104 - a server in a pod listens on all interfaces
    http: Listener | None = Listener("0.0.0.0", 8080)  # noqa: S104
    admin: Listener = Listener("0.0.0.0", 9090)  # noqa: S104
    workers: int = 1
    grpc_threads: int = 8


@dataclass(frozen=True)
class Introspection:
    url: str
    client_id_file: str
    client_secret_file: str
    cache_seconds: int = 300
    negative_cache_seconds: int = 10


@dataclass(frozen=True)
class KeyManager:
    name: str
    issuer: str
    jwks_uri: str | None = None
    consumer_key_claim: str = "azp"
    scopes_claim: str = "scope"
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    audiences: tuple[str, ...] = ()
    clock_skew_seconds: int = 30
    ca_bundle: str | None = None
    jwks_refresh_seconds: int = 600
    jwks_min_refetch_seconds: int = 10
    introspection: Introspection | None = None


@dataclass(frozen=True)
class EventHub:
    url: str
    username_file: str | None = None
    password_file: str | None = None


@dataclass(frozen=True)
class ControlPlane:
    type: str = "file"
    path: str | None = None
    poll_seconds: float = 1.0
    url: str | None = None
    ca_bundle: str | None = None
    username_file: str | None = None
    password_file: str | None = None
    tenant: str = "carbon.super"
    gateway_label: str | None = None
    key_managers_from_control_plane: bool = False
    event_hub: EventHub | None = None
    resync_seconds: int = 300
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Redis:
    url: str
    password_file: str | None = None
    on_error: str = "local"
    timeout_seconds: float = 0.05


@dataclass(frozen=True)
class RateLimit:
    backend: str = "local"
    redis: Redis | None = None


@dataclass(frozen=True)
class Request:
    keep_authorization_header: bool = False
    max_token_bytes: int = 8192
    max_header_bytes: int = 65536
    header_prefix: str = "x-apim-"


@dataclass(frozen=True)
class BackendJwt:
    enabled: bool = False
    header: str = "X-JWT-Assertion"
    algorithm: str = "ES256"
    key_file: str | None = None
    issuer: str = "wso2.org/products/am"
    ttl_seconds: int = 900


@dataclass(frozen=True)
class Analytics:
    enabled: bool = True
    output: str = "stdout"


@dataclass(frozen=True)
class Logging:
    level: str = "INFO"


@dataclass(frozen=True)
class MeshSync:
    """`apim-adapter mesh-sync`: APIs deployed to `controlPlane.gatewayLabel` routed on Istio's ingress gateway."""

    namespace: str
    gateways: tuple[str, ...]
    hosts: tuple[str, ...] = ("*",)
    cluster_domain: str = "cluster.local"
    traffic_policy: Mapping[str, Any] | None = None
    resync_seconds: int = 60
    lease_name: str = "apim-mesh-sync"
    lease_duration_seconds: int = 15
    kubeconfig: str | None = None
    metrics_port: int = 9091


@dataclass(frozen=True)
class Config:
    server: Server = field(default_factory=Server)
    key_managers: tuple[KeyManager, ...] = ()
    control_plane: ControlPlane = field(default_factory=ControlPlane)
    rate_limit: RateLimit = field(default_factory=RateLimit)
    request: Request = field(default_factory=Request)
    backend_jwt: BackendJwt = field(default_factory=BackendJwt)
    analytics: Analytics = field(default_factory=Analytics)
    logging: Logging = field(default_factory=Logging)
    mesh_sync: MeshSync | None = None
    base_dir: Path = Path()

    def resolve(self, path: str) -> Path:
        """Relative paths in the config file are relative to the file itself."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


class _Section:
    """Reads one mapping of the YAML file, remembering its path for error messages."""

    def __init__(self, raw: Any, path: str):
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path or 'config'}: must be a mapping, got {type(raw).__name__}")
        self.raw, self.path, self.seen = raw, path, set()

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.raw or self.raw[key] is None:
            if required:
                raise ConfigError(f"{self._where(key)}: required")
            return default
        value = self.raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(f"{self._where(key)}: expected {_names(kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise ConfigError(f"{self._where(key)}: expected {_names(kinds)}, got {type(value).__name__}")
        return value

    def text(self, key: str, default: str | None = None, required: bool = False) -> Any:
        value = self.get(key, str, default, required)
        if required and not value:
            raise ConfigError(f"{self._where(key)}: must not be empty")
        return value

    def number(self, key: str, default: float, minimum: float = 0, kind: type = int) -> Any:
        value = self.get(key, kind, default)
        if value < minimum:
            raise ConfigError(f"{self._where(key)}: must be at least {minimum}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise ConfigError(f"{self._where(key)}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(key, list, None)
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self._where(key)}: must be a list of strings")
        return tuple(value)

    def section(self, key: str) -> _Section | None:
        self.seen.add(key)
        if self.raw.get(key) is None:
            return None
        return _Section(self.raw[key], self._where(key))

    def done(self) -> None:
        unknown = sorted(set(map(str, self.raw)) - self.seen)
        if unknown:
            raise ConfigError(f"{self._where(unknown[0])}: unknown key")


def _names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _listener(s: _Section | None, default: Listener, with_prefix: bool = False) -> Listener:
    if s is None:
        return default
    prefix = s.text("pathPrefix", "") if with_prefix else ""
    if prefix and not prefix.startswith("/"):
        raise ConfigError(f"{s.path}.pathPrefix: must start with '/'")
    port = s.number("port", default.port, minimum=0)
    if port > 65535:
        raise ConfigError(f"{s.path}.port: must be at most 65535")
    listener = Listener(s.text("host", default.host), port, prefix.rstrip("/"))
    s.done()
    return listener


def _server(s: _Section | None) -> Server:
    if s is None:
        return Server()
    d = Server()
    http = s.section("http")
    http_enabled = http is None or http.get("enabled", bool, True)
    server = Server(
        grpc=_listener(s.section("grpc"), d.grpc),
        http=_listener(http, d.http, with_prefix=True) if http_enabled else None,
        admin=_listener(s.section("admin"), d.admin),
        workers=s.number("workers", 1, minimum=1),
        grpc_threads=s.number("grpcThreads", 8, minimum=1),
    )
    s.done()
    return server


def _key_manager(s: _Section) -> KeyManager:
    algorithms = s.strings("algorithms", DEFAULT_ALGORITHMS)
    bad = [a for a in algorithms if a not in ALLOWED_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigError(
            f"{s.path}.algorithms: {bad[0] if bad else 'empty'} is not allowed "
            f"(asymmetric algorithms only: {', '.join(sorted(ALLOWED_ALGORITHMS))})"
        )
    intro = s.section("introspection")
    introspection = None
    if intro is not None:
        introspection = Introspection(
            url=intro.text("url", required=True),
            client_id_file=intro.text("clientIdFile", required=True),
            client_secret_file=intro.text("clientSecretFile", required=True),
            cache_seconds=intro.number("cacheSeconds", 300),
            negative_cache_seconds=intro.number("negativeCacheSeconds", 10),
        )
        intro.done()
    km = KeyManager(
        name=s.text("name", required=True),
        issuer=s.text("issuer", required=True),
        jwks_uri=s.text("jwksUri"),
        consumer_key_claim=s.text("consumerKeyClaim", "azp"),
        scopes_claim=s.text("scopesClaim", "scope"),
        algorithms=algorithms,
        audiences=s.strings("audiences"),
        clock_skew_seconds=s.number("clockSkewSeconds", 30),
        ca_bundle=s.text("caBundle"),
        jwks_refresh_seconds=s.number("jwksRefreshSeconds", 600, minimum=1),
        jwks_min_refetch_seconds=s.number("jwksMinRefetchSeconds", 10),
        introspection=introspection,
    )
    if km.jwks_uri is None and km.introspection is None:
        raise ConfigError(f"{s.path}: needs jwksUri (JWTs) or introspection (opaque tokens)")
    s.done()
    return km


def _control_plane(s: _Section | None) -> ControlPlane:
    if s is None:
        raise ConfigError("controlPlane: required")
    kind = s.choice("type", ("file", "wso2"), "file")
    hub = s.section("eventHub")
    event_hub = None
    if hub is not None:
        event_hub = EventHub(
            url=hub.text("url", required=True),
            username_file=hub.text("usernameFile"),
            password_file=hub.text("passwordFile"),
        )
        hub.done()
    cp = ControlPlane(
        type=kind,
        path=s.text("path", required=kind == "file"),
        poll_seconds=s.number("pollSeconds", 1.0, minimum=0.05, kind=float),
        url=s.text("url", required=kind == "wso2"),
        ca_bundle=s.text("caBundle"),
        username_file=s.text("usernameFile", required=kind == "wso2"),
        password_file=s.text("passwordFile", required=kind == "wso2"),
        tenant=s.text("tenant", "carbon.super"),
        gateway_label=s.text("gatewayLabel"),
        key_managers_from_control_plane=s.get("keyManagersFromControlPlane", bool, False),
        event_hub=event_hub,
        resync_seconds=s.number("resyncSeconds", 300, minimum=1),
        timeout_seconds=s.number("timeoutSeconds", 10.0, minimum=0.1, kind=float),
    )
    s.done()
    return cp


def _rate_limit(s: _Section | None) -> RateLimit:
    if s is None:
        return RateLimit()
    backend = s.choice("backend", ("local", "redis"), "local")
    r = s.section("redis")
    redis = None
    if r is not None:
        redis = Redis(
            url=r.text("url", required=True),
            password_file=r.text("passwordFile"),
            on_error=r.choice("onError", ("local", "deny"), "local"),
            timeout_seconds=r.number("timeoutSeconds", 0.05, minimum=0.001, kind=float),
        )
        r.done()
    if backend == "redis" and redis is None:
        raise ConfigError("rateLimit.redis: required when rateLimit.backend is redis")
    s.done()
    return RateLimit(backend, redis)


def _mesh_sync(s: _Section | None) -> MeshSync | None:
    if s is None:
        return None
    gateways = s.strings("gateways")
    if not gateways:
        raise ConfigError(f"{s.path}.gateways: required (e.g. istio-system/istio-ingressgateway)")
    port = s.number("metricsPort", 9091)
    if port > 65535:
        raise ConfigError(f"{s.path}.metricsPort: must be at most 65535")
    mesh = MeshSync(
        namespace=s.text("namespace", required=True),
        gateways=gateways,
        hosts=s.strings("hosts", ("*",)) or ("*",),
        cluster_domain=s.text("clusterDomain", "cluster.local"),
        traffic_policy=s.get("trafficPolicy", dict),
        resync_seconds=s.number("resyncSeconds", 60, minimum=1),
        lease_name=s.text("leaseName", "apim-mesh-sync"),
        lease_duration_seconds=s.number("leaseDurationSeconds", 15, minimum=3),
        kubeconfig=s.text("kubeconfig"),
        metrics_port=port,
    )
    s.done()
    return mesh


def _simple(s: _Section | None, cls: type, fields: dict[str, tuple[str, type]]) -> Any:
    """Sections made only of scalars: camelCase key → (dataclass field, type)."""
    if s is None:
        return cls()
    defaults = cls()
    values = {attr: s.get(key, kind, getattr(defaults, attr)) for key, (attr, kind) in fields.items()}
    s.done()
    return cls(**values)


def parse(raw: Any, base_dir: Path = Path()) -> Config:
    top = _Section(raw, "")
    kms = top.get("keyManagers", list, [])
    key_managers = tuple(_key_manager(_Section(km, f"keyManagers[{i}]")) for i, km in enumerate(kms))
    names = [km.name for km in key_managers]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"keyManagers: duplicate name {sorted(dupes)[0]!r}")
    config = Config(
        server=_server(top.section("server")),
        key_managers=key_managers,
        control_plane=_control_plane(top.section("controlPlane")),
        rate_limit=_rate_limit(top.section("rateLimit")),
        request=_simple(
            top.section("request"),
            Request,
            {
                "keepAuthorizationHeader": ("keep_authorization_header", bool),
                "maxTokenBytes": ("max_token_bytes", int),
                "maxHeaderBytes": ("max_header_bytes", int),
                "headerPrefix": ("header_prefix", str),
            },
        ),
        backend_jwt=_simple(
            top.section("backendJwt"),
            BackendJwt,
            {
                "enabled": ("enabled", bool),
                "header": ("header", str),
                "algorithm": ("algorithm", str),
                "keyFile": ("key_file", str),
                "issuer": ("issuer", str),
                "ttlSeconds": ("ttl_seconds", int),
            },
        ),
        analytics=_simple(
            top.section("analytics"), Analytics, {"enabled": ("enabled", bool), "output": ("output", str)}
        ),
        logging=_simple(top.section("logging"), Logging, {"level": ("level", str)}),
        mesh_sync=_mesh_sync(top.section("meshSync")),
        base_dir=base_dir,
    )
    top.done()
    for where, value in (
        ("request.maxTokenBytes", config.request.max_token_bytes),
        ("request.maxHeaderBytes", config.request.max_header_bytes),
        ("backendJwt.ttlSeconds", config.backend_jwt.ttl_seconds),
    ):
        if value < 1:
            raise ConfigError(f"{where}: must be at least 1")
    jwt_cfg = config.backend_jwt
    if jwt_cfg.enabled and not jwt_cfg.key_file:
        raise ConfigError("backendJwt.keyFile: required when backendJwt.enabled is true")
    if jwt_cfg.algorithm not in ALLOWED_ALGORITHMS:
        raise ConfigError(f"backendJwt.algorithm: {jwt_cfg.algorithm} is not allowed")
    if config.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("logging.level: must be one of DEBUG, INFO, WARNING, ERROR")
    return config


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse(raw, path.parent)
