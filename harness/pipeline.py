"""The decision pipeline in process: a catalog, real keys and tokens, no server and no network."""

from __future__ import annotations

import asyncio
import time

from apim_adapter.catalog import build
from apim_adapter.config import KeyManager, Request
from apim_adapter.decision import CheckInput, Enforcer
from apim_adapter.ratelimit.local import LocalRateLimiter
from apim_adapter.tokens.authenticator import Authenticator

from . import oidc
from .sample_catalog import KM, catalog_document

ISSUER = "https://is.example.com/oauth2/token"
KEY = oidc.SigningKey("RS256")


def preloaded_authenticator() -> Authenticator:
    auth = Authenticator([KeyManager(name=KM, issuer=ISSUER, jwks_uri="https://is.example.com/oauth2/jwks")])
    jwks = auth.by_issuer[ISSUER].jwks
    jwks.keys = jwks._parse({"keys": [KEY.jwk()]})
    jwks.fetched_at = jwks.attempted_at = time.monotonic()
    return auth


def token(app="subscribed", scope="scope_ip scope_headers", **extra) -> str:
    return KEY.sign(oidc.claims(ISSUER, f"client-{app}", scope, **extra))


class Pipeline:
    def __init__(self, doc=None, request: Request | None = None, backend_jwt=None):
        self.catalog = build(doc or catalog_document())
        self.authenticator = preloaded_authenticator()
        self.enforcer = Enforcer(
            lambda: self.catalog, self.authenticator, LocalRateLimiter(), request or Request(), backend_jwt
        )

    def check(self, path="/httpbin/1.0.0/ip", bearer=None, method="GET", **headers):
        if bearer is not None:
            headers["authorization"] = f"Bearer {bearer}"
        return asyncio.run(self.enforcer.check(CheckInput(method, "gw", path, headers)))
