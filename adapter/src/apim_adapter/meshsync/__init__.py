"""mesh-sync: APIs published in WSO2 API Manager become Istio routing on the ingress gateway.

`core` is pure (APIM's data in, the desired Istio objects and the report of what cannot be routed out);
`artifacts` reads the endpoint out of a gateway runtime artifact; `kube` applies and garbage-collects the objects
and holds the leader Lease; `run` is the loop (`apim-adapter mesh-sync --config FILE`); `health` its probes.

The other direction (`meshSync.exportServices`): `export` is its pure core (a Service's annotations, its OpenAPI
document and our API in APIM in; the Publisher API calls out), `publisher` the Publisher API v4 client, `services`
the Service watch, the OpenAPI reads, the Events and the pass.
"""
