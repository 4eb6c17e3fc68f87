#!/usr/bin/env bash
# make demo: bring the local stack up (Keycloak, httpbin, apim-adapter, Envoy), run the secured flow and print
# its table, then explain how to call the gateway yourself. Re-running leaves healthy processes alone.
set -euo pipefail
cd "$(dirname "$0")/.."
# ansible.cfg sets YAML results, which keep the flow table readable.
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
.venv/bin/ansible-playbook site.yml -i inventories/local "$@"

# shellcheck source=/dev/null
source .state/local/endpoints.env
cat <<MSG

The secured httpbin flow runs on this machine: Envoy (as Istio's ingress gateway) at $GATEWAY_URL asks
apim-adapter (ext_authz gRPC) about every call; Keycloak issues the tokens; httpbin answers.

Call it yourself. Get a token for the subscribed application (client credentials, asking for scope_ip):

  TOKEN=\$(curl -s $TOKEN_URL \\
      -d grant_type=client_credentials -d client_id=$CLIENT_ID \\
      -d client_secret="\$(cat $CLIENT_SECRET_FILE)" -d scope=scope_ip \\
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

  curl -i -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL$API_CONTEXT/ip        # 200
  curl -i -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL$API_CONTEXT/headers   # 403: token without scope_headers
  curl -i $GATEWAY_URL$API_CONTEXT/ip                                          # 401: no token

Logs: $STATE_DIR/*.log (gateway access log with the adapter's metadata: $STATE_DIR/gateway-access.log).
Stop everything: make demo-down
MSG
