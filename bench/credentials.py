"""What each kind of credential costs the adapter, against a bearer token, in process (no sockets).

    .venv/bin/python -m bench.credentials

µs per call, best of several repeats, of the whole decision from memory (the pipeline's `first_step`; checks with a
client certificate or a user name and password are never prepared allows): a request admitted by its client
certificate alone; one carrying the certificate and a cached JWT on an API that needs both; a cached JWT on an API
without certificates; a user name and password APIM's user store accepted, cached (its HMAC computed per check).
The certificate arrives as an Istio gateway describes it in `x-forwarded-client-cert` (harness/certificates.py);
the user store is one in memory (harness/pipeline.py `Users`): a pair not cached waits for APIM, which no figure
here stands for.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from apim_adapter.decision import CheckInput, first_step
from apim_adapter.http_client import basic_authorization
from harness.certificates import CertificateAuthority, xfcc
from harness.pipeline import PATH, InProcess, Users, token
from harness.sample_catalog import catalog_document

from .hotpath import best_us, print_rows

REPEATS, NUMBER = 5, 2000


def in_process(scheme: str | None, pem: bytes) -> InProcess:
    doc = catalog_document()
    if scheme is not None:
        doc["apis"][0]["securityScheme"] = scheme
        doc["apis"][0]["clientCertificates"] = [{"alias": "partner", "tier": "Gold", "certificate": pem.decode()}]
    return InProcess(doc, mutual_tls=True)


def with_users() -> InProcess:
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = "oauth2,basic_auth"
    doc["scopes"] = [{"name": "scope_ip", "roles": ["reader"]}]
    return InProcess(doc, users=Users(alice=("s3cret", ("reader",))))


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        pem = CertificateAuthority(Path(workdir), "ca").issue("partner", "partner.example").cert.read_bytes()
    described, bearer = xfcc(pem), f"Bearer {token()}"
    cases = {
        "decision from memory, certificate alone": (
            in_process("oauth2,mutualssl,mutualssl_mandatory", pem), {"x-forwarded-client-cert": described}),
        "decision from memory, certificate and cached JWT": (
            in_process("oauth2,mutualssl,mutualssl_mandatory,oauth_basic_auth_api_key_mandatory", pem),
            {"x-forwarded-client-cert": described, "authorization": bearer}),
        "decision from memory, cached JWT (no certificates)": (in_process(None, pem), {"authorization": bearer}),
        "decision from memory, cached user and password": (
            with_users(), {"authorization": basic_authorization("alice", "s3cret")}),
    }  # fmt: skip
    rows = {}
    for name, (p, headers) in cases.items():
        req = CheckInput("GET", "gw", PATH, headers)
        assert p.check(PATH, **headers).allowed  # validated and admitted once (asking the user store): now warm
        rows[name] = best_us(
            lambda p=p, req=req: first_step(p.pipeline.steps(req, time.time())), repeats=REPEATS, number=NUMBER
        )
    print(f"µs per call, best of {REPEATS} x {NUMBER}")
    print_rows(rows, 52)
    return 0


if __name__ == "__main__":
    sys.exit(main())
