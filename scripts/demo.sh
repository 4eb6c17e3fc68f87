#!/usr/bin/env bash
# make demo: bring the local stack up (Keycloak, httpbin v1 and v2, Open Policy Agent, apim-adapter, Envoy
# configured as istiod configures Istio's ingress gateway), run the secured flow and print its table (with the
# tier-routing rows: which httpbin version answered a Gold and a Silver consumer; APIM's operation policies, OPA's
# and the Regex Policy's among them), then explain how to call the gateway yourself.
# Re-running leaves healthy processes alone.
set -euo pipefail
cd "$(dirname "$0")/.."
# ansible.cfg sets YAML results, which keep the flow table readable.
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
.venv/bin/ansible-playbook site.yml -i inventories/local "$@"

# shellcheck source=/dev/null
source .state/local/endpoints.env
cat <<MSG

The secured httpbin flow runs on this machine: Envoy (configured as istiod configures Istio's ingress gateway)
at $GATEWAY_URL asks apim-adapter (ext_authz gRPC) about every call; Keycloak issues the tokens; httpbin answers.
Tier routing: the adapter sets x-apim-tier, the gateway's ext_authz filter clears the route cache (what the
apim-adapter chart's EnvoyFilter does behind istiod), and Gold consumers reach httpbin v2, the others v1
(go-httpbin, as the httpbin chart runs it; /hostname names the version that answered).

Call it yourself. Get a token for the subscribed application (client credentials, asking for scope_ip):

  TOKEN=\$(curl -s $TOKEN_URL \\
      -d grant_type=client_credentials -d client_id=$CLIENT_ID \\
      -d client_secret="\$(cat $CLIENT_SECRET_FILE)" -d scope=scope_ip \\
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

  curl -i -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL$API_CONTEXT/ip        # 200
  curl -i -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL$API_CONTEXT/headers   # 403: token without scope_headers
  curl -i $GATEWAY_URL$API_CONTEXT/ip                                          # 401: no credentials
  curl -s -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL$API_CONTEXT/hostname  # "httpbin-v2": Gold tier
  curl -i -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL$PRODUCT_CONTEXT/ip        # 403 (900908): an API Product
                                                                   # bundling httpbin's /ip, not subscribed to
  curl -i -X OPTIONS -H "Origin: https://app.example.com" -H "Access-Control-Request-Method: GET" \\
      $GATEWAY_URL$API_CONTEXT/ip               # 200: a browser's CORS preflight, answered without a token

With a token asking for scope_headers too (-d scope="scope_ip scope_headers"), /headers shows APIM's operation
policies on that operation (inventories/local/group_vars/local_stack/catalog.yml), applied by the gateway:

  curl -s -H "Authorization: Bearer \$TOKEN" -H "X-Debug: 1" -H "X-Env: forged" $GATEWAY_URL$API_CONTEXT/headers
                                     # httpbin saw X-Env: mesh (Add Header), and no X-Debug (Remove Header)

APIM's Rewrite Resource Path and Change HTTP Method move GET /legacy/orders to the backend's POST /anything/orders,
the client's query kept (Envoy sets the path and the method on the adapter's word):

  curl -s -H "Authorization: Bearer \$TOKEN" "$GATEWAY_URL$API_CONTEXT/legacy/orders?page=2"
                                     # httpbin was asked "method": "POST", "url": ".../anything/orders?page=2"

The OrdersAPI is httpbin again, whose production endpoint has APIM's OAuth endpoint security: the adapter gets its
token from Keycloak with the orders-backend client (ahead, and again before it expires) and sends it instead of yours:

  curl -s -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL/orders/1.0.0/anything/orders
                                     # httpbin saw "Authorization": ["Bearer ..."], a token issued to orders-backend

The OrdersAPI has APIM's Schema Validation on: each request is checked against its OpenAPI definition (in
inventories/local/group_vars/local_stack/catalog.yml) as APIM's validator checks it, so an order must be an integer:

  curl -s -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \
      -d '{"order": 42}' $GATEWAY_URL/orders/1.0.0/anything/orders     # 200, httpbin echoes the body
  curl -s -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \
      -d '{"order": "forty-two"}' $GATEWAY_URL/orders/1.0.0/anything/orders
                                     # 400: Schema validation failed in the Request: [Path '/order'] Instance type ...

APIM's "Validate Request with OPA" policy guards /anything/{segment}: the adapter asks the stack's OPA (its Rego in
inventories/local/group_vars/local_stack/opa.yml), which lets the subscribed application in only on a GET with
X-Department: engineering (the gateway passes the adapter that header: local_gateway_extra_check_headers):

  curl -i -H "Authorization: Bearer \$TOKEN" -H "X-Department: engineering" $GATEWAY_URL$API_CONTEXT/anything/opa  # 200
  curl -i -H "Authorization: Bearer \$TOKEN" -H "X-Department: marketing" $GATEWAY_URL$API_CONTEXT/anything/opa
                                     # 403 (902012): OPA answered false

APIM's Regex Policy (its SQL-injection guard) guards POST /anything/{segment}: the gateway includes request bodies in
the check (local_gateway_ext_authz_include_request_body), and the adapter searches APIM's pattern in the body as
APIM's message builder reads it (JSON escapes decoded: \u0027 is an apostrophe), then in the headers, path and query:

  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"note": "leave it at the door"}' $GATEWAY_URL$API_CONTEXT/anything/regex   # 200, httpbin echoes the body
  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"note": "x\u0027 or 1=1"}' $GATEWAY_URL$API_CONTEXT/anything/regex
                                     # 400: SQL-Injection Threat detected in Payload

Then APIM's JSON Validator (its JSON threat protection) on the same operation: a JSON body past one of its limits is
refused, here a string longer than 64 characters (its other limits are APIM's defaults, 100):

  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"note": "leave it at the door"}' $GATEWAY_URL$API_CONTEXT/anything/json    # 200, httpbin echoes the body
  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"note": "leave it at the door, the one on the left, past the stairs, by the lamp"}' \\
      $GATEWAY_URL$API_CONTEXT/anything/json
                                     # 400: ... JSON schema validation failure: Max String Length [64] Reached

And its XML Validator (XML threat protection): an XML body is read as APIM's gateway reads it, without a DTD, so an
entity a body declares there (an XXE attempt: here one reading a file) is never expanded, and its use is refused:

  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/xml" \\
      -d '<order><note>leave it at the door</note></order>' $GATEWAY_URL$API_CONTEXT/anything/xml   # 200
  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/xml" \\
      -d '<!DOCTYPE order [<!ENTITY x SYSTEM "file:///etc/passwd">]><order><note>&x;</note></order>' \\
      $GATEWAY_URL$API_CONTEXT/anything/xml
                                     # 400: XML Validation Failed: due to Undeclared general entity "x"

A GraphQL API, StarWarsAPI at /anything/starwars/1.0.0 (served where httpbin echoes what reaches it): the adapter
reads each call's document from its body, holds each root field to its operation's scopes and the document to the
subscription tier's depth (3 here; docs/wso2-control-plane.md, "GraphQL APIs"):

  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"query": "{ hero(id: 1) { name } heroes { id } }"}' $GATEWAY_URL/anything/starwars/1.0.0   # 200
  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"query": "{ hero(id: 1) { name } secret }"}' $GATEWAY_URL/anything/starwars/1.0.0
                                     # 403 (900910): no scope_secret for the field secret
  curl -i -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
      -d '{"query": "{ hero(id: 1) { friends { friends { name } } } }"}' $GATEWAY_URL/anything/starwars/1.0.0
                                     # 400 (900820): maximum query depth exceeded 4 > 3

An API whose backend takes two calls a minute (APIM's Backend Throughput, maxTps), LimitedAPI at
/anything/limited/1.0.0: the third call of the minute, whoever makes it, is refused before it reaches httpbin:

  for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer \$TOKEN" \\
      $GATEWAY_URL/anything/limited/1.0.0/get; done   # 200 200 503 (900801: API Limit Reached)

Or, on the gateway's HTTPS server, with the partner's client certificate (uploaded to the API on Gold) and no token:

  curl -i --cacert $PKI_DIR/ca.crt --cert $PKI_DIR/partner.crt --key $PKI_DIR/partner.key \\
      $GATEWAY_HTTPS_URL$API_CONTEXT/headers   # 200, httpbin saw X-Apim-Application-Name: MutualSSLAuthApplication
  curl -i --cacert $PKI_DIR/ca.crt --cert $PKI_DIR/stranger.crt --key $PKI_DIR/stranger.key \\
      $GATEWAY_HTTPS_URL$API_CONTEXT/headers   # 401 (900901): a certificate not on the API

Logs: $STATE_DIR/*.log (gateway access log with the adapter's metadata: $STATE_DIR/gateway-access.log; OPA's
requests: $STATE_DIR/opa.log).
Analytics events, in WSO2's ELK format: $STATE_DIR/adapter/analytics.log (an allowed call's written from the
gateway's gRPC access log, with httpbin's status and the latencies; a denial's by the check).
Stop everything: make demo-down
MSG
