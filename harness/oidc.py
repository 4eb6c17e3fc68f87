"""Real signing keys, a real JWKS endpoint over HTTP, and tokens signed with them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class SigningKey:
    def __init__(self, alg: str = "RS256", kid: str | None = None):
        self.alg, self.kid = alg, kid or uuid.uuid4().hex[:12]
        if alg.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.ECAlgorithm if self.alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
        data = json.loads(algo.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


class JwksServer:
    """An HTTP JWKS endpoint whose keys and availability the test controls; counts its fetches."""

    def __init__(self, keys: list[SigningKey]):
        self.keys = list(keys)
        self.up = True
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if not server.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [k.jwk() for k in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

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
    """Access-token claims as WSO2 IS 7 issues them for client credentials."""
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
        "scope": scope,
        "aut": "APPLICATION",
        **extra,
    }
