"""Client certificates: which of an API's certificates the caller presented to the gateway (APIM's
`MutualSSLAuthenticator`, with the gateway terminating the caller's TLS).

The gateway tells it in Envoy's `x-forwarded-client-cert` (XFCC). An Istio gateway's connection manager sets
`forward_client_cert_details: SANITIZE_SET` (istio `pilot/pkg/networking/core/gateway.go`,
buildGatewayConnectionManager): Envoy drops whatever XFCC the caller sent and, only on a connection where the caller
presented a certificate it verified, writes one element of its own (`source/common/http/conn_manager_utility.cc`,
mutateXfccRequestHeader): `By=` for each URI SAN of the gateway's own certificate, then `Hash=` the SHA-256 (hex) of
the caller's certificate, then `Cert`, `Subject`, `URI`, `DNS`. So the adapter reads the first field after the `By`s:
the caller's certificate fills only later fields (a URI SAN of its choosing cannot pose as the hash), and the
certificate is matched whole, by that hash, against the API's (Choreo Connect's MTLSAuthenticator likewise matches
the certificate itself; APIM's Synapse gateway matches serial number and subject).

With `APPEND_FORWARD` (a gateway topology set so) Envoy keeps what the caller sent and appends its element after a
comma. A header naming more than one hash is then refused whole: whatever the caller put before the gateway's
element either holds a hash of its own, or ends in the field the comma joins to the gateway's, which is not a bare
`By` nor a hash. `FORWARD_ONLY` and `ALWAYS_FORWARD_ONLY` pass on a header the caller wrote alone: nothing in it
tells, so they must not be used where certificates are checked (docs/wso2-control-plane.md).
"""

from __future__ import annotations

from ..catalog import ClientCertificate
from . import Principal

_HEX = frozenset("0123456789abcdef")


def presented(xfcc: str | None) -> str | None:
    """The SHA-256 (lower-case hex) of the certificate the gateway's TLS peer presented, None without one."""
    if not xfcc or xfcc.lower().count("hash=") != 1:
        return None
    for part in xfcc.split(";"):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name == "by" and "," not in value:
            continue
        if name != "hash":
            return None
        digest = value.strip().lower()
        return digest if len(digest) == 64 and _HEX.issuperset(digest) else None
    return None


def principal(certificate: ClientCertificate) -> Principal:
    """The caller a certificate admits: named by its subject's common name, as APIM's gateway names it; no scopes
    (APIM checks scopes on OAuth2 tokens only)."""
    return Principal("", "", frozenset(), certificate.subject, certificate.not_after, certificate=certificate)
