"""Real signing keys, a real JWKS endpoint over HTTP, tokens signed with them, and an RFC 7662 introspection
endpoint for opaque tokens."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class SigningKey:
    """A private key that signs JWTs under its `kid` and publishes its public half as a JWK: a new one, or `private`
    (an existing key of `alg`'s type, such as APIM's primary keystore key)."""

    def __init__(self, alg: str = "RS256", kid: str | None = None, private: Any = None):
        self.alg, self.kid = alg, kid or uuid.uuid4().hex[:12]
        if private is not None:
            self.private = private
        elif alg.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.ECAlgorithm if self.alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
        data = json.loads(algo.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


class _JsonHandler(BaseHTTPRequestHandler):
    """JSON answers, no access log."""

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


class JwksServer:
    """An HTTP JWKS endpoint whose keys and availability the test controls; counts its fetches."""

    def __init__(self, keys: list[SigningKey]):
        self.keys = list(keys)
        self.up = True
        self.fetches = 0
        server = self

        class Handler(_JsonHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if not server.up:
                    self.send_error(503)
                    return
                self.answer(200, {"keys": [k.jwk() for k in server.keys]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/jwks"
        self.issuer = f"http://127.0.0.1:{self.port}/oauth2/token"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def claims(issuer: str, client_id: str, scope: str = "", lifetime: int = 300, **extra: Any) -> dict[str, Any]:
    """Access-token claims as WSO2 IS 7 issues them for client credentials (identity-inbound-auth-oauth
    `JWTTokenIssuer.createJWTClaimSet`: `azp` and `client_id` the consumer key, `scope` only when the token has
    scopes, `aut` the user type; Nimbus writes a one-element audience as a string)."""
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": client_id,
        "azp": client_id,
        "client_id": client_id,
        "aud": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        **({"scope": scope} if scope else {}),
        "aut": "APPLICATION",
        **extra,
    }


class IntrospectionEndpoint:
    """POST /oauth2/introspect as WSO2 IS 7 answers it (OAuth2IntrospectionEndpoint: form `token`, `{"active": false}`
    for an unknown token); `tokens` maps token → answer. `status` other than 200 makes it fail, `delay` slows every
    answer; `stop()` and `start()` take it away and back on the same port.

    Callers, as carbon-identity-framework's valves let them in: HTTP Basic with the configured pair, standing for
    whichever caller IS takes that way (by default a user granted `internal_oauth2_introspect`; a client where
    deployment.toml allows BasicClientAuthentication); or a Bearer token from POST /oauth2/token (client credentials
    with that pair, RFC 6749 §4.4), which IS issues with only the scopes the application is authorized for
    (`authorized_scopes`, the system APIs authorized to it) and its introspection takes only with
    `internal_oauth2_introspect`. An unknown caller is answered 401 (AuthenticationValve), a known one without the
    scope 403 (AuthorizationValve). `revoke_bearer_tokens()` ends the tokens issued so far, as a revocation at IS
    would."""

    SCOPE = "internal_oauth2_introspect"

    def __init__(self, client_id: str, client_secret: str, delay: float = 0.0, token_lifetime: int = 3600):
        self.tokens: dict[str, dict[str, Any]] = {}
        self.calls, self.status, self.delay = 0, 200, delay
        self.auth = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.authorized_scopes = {self.SCOPE}
        self.token_lifetime, self.token_calls = token_lifetime, 0
        self.bearer: dict[str, set[str]] = {}  # issued access token → its scopes
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None
        self.start()
        self.url = f"http://127.0.0.1:{self.port}/oauth2/introspect"
        self.token_url = f"http://127.0.0.1:{self.port}/oauth2/token"

    def revoke_bearer_tokens(self) -> None:
        self.bearer.clear()

    def _caller(self, authorization: str | None) -> int:
        """200 for a caller the introspection endpoint serves, else the status IS's valves answer."""
        if authorization == self.auth:
            return 200
        if authorization and authorization.startswith("Bearer "):
            scopes = self.bearer.get(authorization[len("Bearer ") :])
            if scopes is not None:
                return 200 if self.SCOPE in scopes else 403
        return 401

    def _issue(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """POST /oauth2/token for the client-credentials grant only: another grant is RFC 6749 §5.2's
        `unsupported_grant_type` (400), as IS's OAuth2TokenEndpoint answers it; the token lives `token_lifetime`
        seconds, 3600 by default as IS's application access tokens (identity.xml
        `ApplicationAccessTokenDefaultValidityPeriod`)."""
        self.token_calls += 1
        if (form.get("grant_type") or [""])[0] != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        asked = set((form.get("scope") or [""])[0].split())
        granted = asked & self.authorized_scopes
        token = uuid.uuid4().hex
        self.bearer[token] = granted
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        # OAuth2TokenEndpoint sets `scope` to the authorized scopes' string; Oltu's JSONUtils.buildJSON leaves an
        # empty value out, so a token granted none comes without `scope`.
        return 200, {**answer, **({"scope": " ".join(sorted(granted))} if granted else {})}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(_JsonHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if self.path == "/oauth2/token":
                    if self.headers.get("Authorization") != endpoint.auth:  # RFC 6749 §5.2, as OAuth2TokenEndpoint
                        self.answer(401, {"error": "invalid_client"})
                        return
                    self.answer(*endpoint._issue(form))
                    return
                endpoint.calls += 1
                caller = endpoint._caller(self.headers.get("Authorization"))
                if caller != 200:
                    # the valves' status is what callers read; their error body is not modelled
                    self.answer(caller, {"error": "unauthorized" if caller == 401 else "forbidden"})
                    return
                time.sleep(endpoint.delay)
                if endpoint.status != 200:
                    self.answer(endpoint.status, {"error": "server_error"})
                    return
                token = (form.get("token") or [""])[0]
                self.answer(200, endpoint.tokens.get(token, {"active": False}))

        return Handler

    def start(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
