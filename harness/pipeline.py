"""The decision pipeline in process: a catalog, real keys and tokens, no server and no network."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from envoy.service.auth.v3 import external_auth_pb2 as pb

from apim_adapter.app import Adapter
from apim_adapter.catalog import build
from apim_adapter.config import KeyManager, Request, parse
from apim_adapter.cors import Settings as CorsSettings
from apim_adapter.decision import ApiKeyPlaces, CheckInput, Decision, Pipeline
from apim_adapter.prepared import credential_of
from apim_adapter.ratelimit.local import LocalRateLimiter
from apim_adapter.render import Renderer
from apim_adapter.tokens.api_key import ApiKeyValidator
from apim_adapter.tokens.authenticator import Authenticator
from apim_adapter.tokens.basic_auth import BasicAuthenticator, UserStore, UserStoreUnavailable
from apim_adapter.transport.grpc import to_input

from . import oidc
from .api_keys import ApiKeySigner
from .sample_catalog import KM, catalog_document

ISSUER = "https://is.example.com/oauth2/token"
KEY = oidc.SigningKey("RS256")
PATH = "/httpbin/1.0.0/ip"


def preloaded_authenticator(api_keys: ApiKeyValidator | None = None) -> Authenticator:
    km = KeyManager(name=KM, issuer=ISSUER, jwks_uri="https://is.example.com/oauth2/jwks")
    auth = Authenticator([km], api_keys=api_keys)
    jwks = auth.by_issuer[ISSUER].jwks
    jwks.keys = jwks._parse({"keys": [KEY.jwk()]})
    jwks.fetched_at = jwks.attempted_at = time.monotonic()
    return auth


def token(app="subscribed", scope="scope_ip scope_headers", **extra) -> str:
    return KEY.sign(oidc.claims(ISSUER, f"client-{app}", scope, **extra))


@dataclass(frozen=True)
class User:
    username: str
    roles: tuple[str, ...]


class Users:
    """A user store in memory, standing for `RemoteUserStore` where APIM's SOAP exchange is not the point: it
    answers as getUserAuthenticationInfo does (the tenant-qualified name it was asked about and the user's roles;
    nothing for a wrong password or an unknown user). `asked` counts the questions; `down` makes it unreachable."""

    def __init__(self, **users: tuple[str, tuple[str, ...]]):
        self.users, self.asked, self.down = users, 0, False

    async def authenticate(self, username: str, password: str) -> User | None:
        self.asked += 1
        await asyncio.sleep(0)  # a real answer comes later: concurrent checks overlap
        if self.down:
            raise UserStoreUnavailable("connection refused")
        found = self.users.get(username.removesuffix("@carbon.super"))
        return User(username, found[1]) if found is not None and found[0] == password else None

    async def close(self) -> None:
        pass


class InProcess:
    """The pipeline and the renderer over one catalog, with a clock the test moves (`now`; real time at start).
    With `api_keys`, APIM's API keys signed by it are taken in the `apikey` header and query parameter; with
    `mutual_tls`, client certificates as the gateway describes them in `x-forwarded-client-cert`; with `users` (a
    user store: `RemoteUserStore`, or one in memory), user names and passwords on the APIs that take them."""

    def __init__(
        self,
        doc=None,
        request: Request | None = None,
        backend_jwt=None,
        limiter=None,
        api_keys: ApiKeySigner | None = None,
        mutual_tls: bool = False,
        users: UserStore | None = None,
        cors: CorsSettings | None = None,  # the global CORS configuration; None: off
    ):
        self.catalog = build(doc or catalog_document(), cors_settings=cors)
        validator = None
        if api_keys is not None:
            validator = ApiKeyValidator({api_keys.alias: api_keys.certificate.public_key()})
        self.authenticator = preloaded_authenticator(validator)
        self.now = time.time()
        request = request or Request()
        places = ApiKeyPlaces("apikey", "apikey") if api_keys is not None else None
        self.users = BasicAuthenticator(users, clock=lambda: self.now) if users is not None else None
        self.pipeline = Pipeline(
            lambda: self.catalog, self.authenticator, limiter or LocalRateLimiter(), request.max_token_bytes,
            api_keys=places, certificate_header="x-forwarded-client-cert" if mutual_tls else None, users=self.users,
        )  # fmt: skip
        self.renderer = Renderer(request, backend_jwt, api_keys=places, basic_auth=users is not None)

    @staticmethod
    def request(path="/httpbin/1.0.0/ip", bearer=None, method="GET", **headers) -> CheckInput:
        if bearer is not None:
            headers["authorization"] = f"Bearer {bearer}"
        return CheckInput(method, "gw", path, headers)

    async def decide(self, req: CheckInput) -> Decision:
        return await self.pipeline.decide(req, self.now)

    def check(self, path="/httpbin/1.0.0/ip", bearer=None, method="GET", **headers) -> Decision:
        return asyncio.run(self.decide(self.request(path, bearer, method, **headers)))


def in_process_adapter(doc: dict | None = None, mutual_tls: bool = False) -> Adapter:
    """An adapter as `serve` builds it (analytics off), its key manager's keys already fetched, a catalog loaded."""
    config = parse(
        {
            "keyManagers": [{"name": KM, "issuer": ISSUER, "jwksUri": "https://is.example.com/oauth2/jwks"}],
            "controlPlane": {"type": "file", "path": "catalog.yaml"},
            "analytics": {"enabled": False},
            "mutualTls": {"enabled": mutual_tls},
        }
    )
    a = Adapter(config)
    jwks = a.authenticator.by_issuer[ISSUER].jwks
    jwks.keys = jwks._parse({"keys": [KEY.jwk()]})
    jwks.fetched_at = jwks.attempted_at = time.monotonic()
    assert a.publish(doc or catalog_document())
    return a


def check_request(
    bearer: str, path: str = PATH, client: str = "198.51.100.7", headers: dict[str, str] | None = None
) -> pb.CheckRequest:
    request = pb.CheckRequest()
    request.attributes.source.address.socket_address.address = "127.0.0.1"
    http = request.attributes.request.http
    http.method, http.host, http.path = "GET", "gw", path
    http.headers.update(
        {"authorization": f"Bearer {bearer}", "x-request-id": "r-1", "user-agent": "t", "x-forwarded-for": client}
    )
    http.headers.update(headers or {})
    return request


def whole(a: Adapter, bearer: str, path: str = PATH, client: str = "198.51.100.7") -> Decision:
    """The whole check of a gRPC request with this token, as a check thread runs it."""
    return a.check_on_thread(to_input(check_request(bearer, path, client)))


def warm(a: Adapter, bearer: str, path: str = PATH, client_ip: str = "198.51.100.7", headers: dict | None = None):
    """The same check answered from its prepared allow: None when there is none (NEEDS_HEADERS: with `headers`)."""
    credential = credential_of(f"Bearer {bearer}")
    return a.check_prepared(credential, "GET", path, "gw", "t", "r-1", client_ip, "grpc", headers)
