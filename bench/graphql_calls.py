"""What a GraphQL API's call costs the adapter, against a REST call's, in one process: the whole decision from
memory (valid cached JWT, subscription, scopes, tier counted), no server.

    .venv/bin/python -m bench.graphql_calls

Rows, µs per call (best of 7 runs) and each as a ratio of the REST call's:
- a REST call (the sample httpbin API's GET /ip);
- a GraphQL call whose document was read before (the API keeps 2,048 documents' answers: a hash and lookups);
- a GraphQL call of a document never seen, small (~40 tokens) and large (~1,500 tokens): parsed, validated against
  the schema, its depth and complexity counted (graphql-core, in Python);
- a document refused before it is validated (fields repeated past the overlapping-fields rule's bound).
"""

from __future__ import annotations

import itertools
import json
import timeit

from apim_adapter.decision import CheckInput, first_step
from apim_adapter.mediation import RequestBody
from harness.pipeline import InProcess, token
from harness.sample_catalog import graphql_catalog

REPEATS = 7
# Each document named anew for each call (`Q<n>`), so that none was read before.
SMALL = "query Q<n> { hero { name friends(first: 2) { name } } heroes(first: 3) { id name } }"
LARGE = "query Q<n> { " + " ".join(f"h{i}: hero {{ id name friends(first: 2) {{ name }} }}" for i in range(100)) + " }"
QUADRATIC = "query Q<n> { " + " ".join("hero { id }" for _ in range(300)) + " }"


def best_us(fn, number: int) -> float:
    return min(timeit.timeit(fn, number=number) / number * 1e6 for _ in range(REPEATS))


def main() -> int:
    p = InProcess(graphql_catalog())
    bearer = {"authorization": f"Bearer {token()}"}

    def graphql_call(document: str) -> CheckInput:
        body = json.dumps({"query": document}).encode()
        headers = {**bearer, "content-type": "application/json"}
        return CheckInput("POST", "gw", "/swapi/1.0.0", headers, body=RequestBody(body, True, "application/json", True))

    def decide(req: CheckInput):
        return first_step(p.pipeline.steps(req, p.now))

    rest = CheckInput("GET", "gw", "/httpbin/1.0.0/ip", bearer)
    assert p.check(bearer=token()).allowed
    repeated = graphql_call(SMALL.replace("<n>", "0"))
    assert decide(repeated).allowed
    counter = itertools.count(1)
    fresh = {name: (lambda d=document: decide(graphql_call(d.replace("<n>", str(next(counter))))))
             for name, document in (("small", SMALL), ("large", LARGE), ("quadratic", QUADRATIC))}  # fmt: skip
    assert fresh["small"]().error is None
    assert fresh["large"]().code == "900821"  # validated and counted, then over the sample tier's complexity
    assert fresh["quadratic"]().code == "900422"

    rows = {
        "REST call (GET /ip)": best_us(lambda: decide(rest), 2000),
        "GraphQL call, its document read before": best_us(lambda: decide(repeated), 2000),
        "GraphQL call, a new document of ~40 tokens": best_us(fresh["small"], 200),
        "GraphQL call, a new document of ~1,500 tokens": best_us(fresh["large"], 10),
        "GraphQL call, refused before validation (300 x hero)": best_us(fresh["quadratic"], 20),
    }
    baseline = rows["REST call (GET /ip)"]
    print(f"µs per call, best of {REPEATS}; ratio to the REST call")
    for name, us in rows.items():
        print(f"  {name:<56} {us:>9.1f}  {us / baseline:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
