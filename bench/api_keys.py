"""What an APIM API key costs the adapter, against a bearer token on the same API, in process (no sockets).

    .venv/bin/python -m bench.api_keys

µs per call, best of several repeats: a key's first verification (RSA signature, claims), its cached lookup, and
the whole decision from memory for a request carrying a key and for one carrying a cached JWT (the pipeline's
`first_step`; a key's check is never a prepared allow, which keys on the Authorization header). Keys are minted
as APIM mints them (harness/api_keys.py).
"""

from __future__ import annotations

import sys
import time

from apim_adapter.decision import CheckInput, first_step
from apim_adapter.tokens import fingerprint
from harness.api_keys import ApiKeySigner
from harness.pipeline import PATH, InProcess, token
from harness.sample_catalog import catalog_document

from .hotpath import best_us, print_rows

REPEATS, NUMBER = 5, 2000
APPLICATION = {"id": 1, "uuid": "app-subscribed", "name": "subscribed", "tier": "Unlimited", "owner": "admin"}


def main() -> int:
    signer = ApiKeySigner()
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = "oauth2,api_key"
    p = InProcess(doc, api_keys=signer)
    validator = p.authenticator.api_keys
    assert validator is not None
    fresh = iter([signer.mint(APPLICATION) for _ in range(REPEATS * NUMBER)])
    key, bearer = signer.mint(APPLICATION), token()
    by_key = CheckInput("GET", "gw", PATH, {"apikey": key})
    by_token = CheckInput("GET", "gw", PATH, {"authorization": f"Bearer {bearer}"})
    for req in (by_key, by_token):  # validated and admitted once: what follows is warm
        assert first_step(p.pipeline.steps(req, time.time())).allowed
    digest = fingerprint(key)

    def best(fn) -> float:
        return best_us(fn, repeats=REPEATS, number=NUMBER)

    rows = {
        "API key, first verification (RS256, claims)": best(lambda: validator.validate(next(fresh), time.time())),
        "API key, cached lookup": best(lambda: p.authenticator.lookup_api_key(key, digest, time.time())),
        "decision from memory, API key": best(lambda: first_step(p.pipeline.steps(by_key, time.time()))),
        "decision from memory, cached JWT": best(lambda: first_step(p.pipeline.steps(by_token, time.time()))),
    }
    print(f"µs per call, best of {REPEATS} x {NUMBER}")
    print_rows(rows, 48)
    return 0


if __name__ == "__main__":
    sys.exit(main())
