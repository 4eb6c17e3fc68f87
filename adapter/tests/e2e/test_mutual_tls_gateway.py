"""Client certificates through a real Envoy terminating the caller's TLS as an Istio ingress gateway does for a
Gateway server with `tls.mode: MUTUAL` or `OPTIONAL_MUTUAL` (harness/envoy.py `GatewayTls`): Envoy verifies the
certificate against the credential's CA and writes `x-forwarded-client-cert` itself (SANITIZE_SET), and the adapter
admits the certificates uploaded to the API (`clientCertificates`), as APIM's MutualSSLAuthenticator does."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.adapter_process import AdapterProcess
from harness.certificates import CertificateAuthority, Credential, xfcc
from harness.envoy import HEADER_ALLOWLIST, Authz, Gateway, GatewayTls
from harness.processes import echoed_headers, go_httpbin
from harness.sample_catalog import catalog_document

API = "/httpbin/1.0.0"
SCHEME = "oauth2,mutualssl,mutualssl_mandatory"  # APIM's "mutual SSL mandatory, OAuth2 optional"
MODES = ("grpc", "http")  # how the gateway calls the adapter
TLS_MODES = ("MUTUAL", "OPTIONAL_MUTUAL")


@dataclass
class Pki:
    ca: Path  # the credential's ca.crt: clients' certificates must chain to it
    partner: Credential  # uploaded to the API
    stranger: Credential  # from the same CA, never uploaded
    outsider: Credential  # from a CA the gateway does not trust

    def sha256(self, credential: Credential) -> str:
        cert = x509.load_pem_x509_certificate(credential.cert.read_bytes())
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass
class Mtls:
    pki: Pki
    # (ext_authz mode, tls mode) -> gateway; ("grpc", "APPEND_FORWARD"): OPTIONAL_MUTUAL with gatewayTopology
    # forwardClientCertDetails APPEND_FORWARD
    gateways: dict[tuple[str, str], Gateway]
    adapter: AdapterProcess


@pytest.fixture(scope="module")
def mtls(stack, tmp_path_factory) -> Mtls:
    """Its own adapter checking client certificates (the partner's uploaded on Gold), httpbin, and a gateway per
    ext_authz mode and TLS mode, all serving the same credential (and one forwarding the caller's XFCC)."""
    workdir = tmp_path_factory.mktemp("mtls")
    ca = CertificateAuthority(workdir / "pki", "clients-ca")
    pki = Pki(
        ca=ca.credential.cert,
        partner=ca.issue("partner", "partner.example", organization="Partners"),
        stranger=ca.issue("stranger", "stranger.example", organization="Partners"),
        outsider=CertificateAuthority(workdir / "other-pki", "other-ca").issue("outsider", "outsider.example"),
    )
    server = ca.issue("gateway", "gateway.example", server_names=("127.0.0.1", "localhost"))
    doc = catalog_document()
    doc["apis"][0]["securityScheme"] = SCHEME
    doc["apis"][0]["clientCertificates"] = [
        {"alias": "partner", "tier": "Gold", "keyType": "PRODUCTION", "certificate": pki.partner.cert.read_text()}
    ]
    (workdir / "catalog.yaml").write_text(yaml.safe_dump(doc))
    processes = []
    try:
        adapter = AdapterProcess(
            workdir, stack.own_adapter_config(mutualTls={"enabled": True, "header": "x-forwarded-client-cert"})
        )
        processes.append(adapter.proc)
        adapter.wait_ready()
        bin_proc, bin_port = go_httpbin(workdir)
        processes.append(bin_proc)
        authz = {
            "grpc": (Authz([adapter.grpc_port]), HEADER_ALLOWLIST),  # with the chart's allowlist
            "http": (Authz([adapter.http_port], "http", path_prefix="/check"), None),
        }
        gateways = {
            (mode, tls_mode): Gateway(
                authz[mode][0],
                bin_port,
                ext_authz_patch=authz[mode][1],
                tls=GatewayTls(server.cert, server.key, pki.ca, tls_mode),
            )
            for mode in MODES
            for tls_mode in TLS_MODES
        }
        gateways[("grpc", "APPEND_FORWARD")] = Gateway(
            authz["grpc"][0],
            bin_port,
            ext_authz_patch=HEADER_ALLOWLIST,
            forward_client_cert_details="APPEND_FORWARD",
            tls=GatewayTls(server.cert, server.key, pki.ca, "OPTIONAL_MUTUAL"),
        )
        for gateway in gateways.values():
            processes.append(gateway.start(workdir))
        yield Mtls(pki, gateways, adapter)
    finally:
        for proc in reversed(processes):
            proc.stop()


def call(mtls: Mtls, mode: str, tls_mode: str, client: Credential | None, **headers) -> requests.Response:
    """GET /anything/mtls (no scopes; httpbin echoes the headers it got) through the gateway, over TLS verified
    against the CA, presenting `client`'s certificate if given."""
    gateway = mtls.gateways[(mode, tls_mode)]
    cert = (str(client.cert), str(client.key)) if client else None
    return requests.get(gateway.url + API + "/anything/mtls", cert=cert, verify=str(mtls.pki.ca), headers=headers,
                        timeout=10)  # fmt: skip


def assert_900901(resp: requests.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "900901", resp.text


def upstream_headers(resp: requests.Response) -> dict[str, list[str]]:
    assert resp.status_code == 200, resp.text
    return echoed_headers(resp)


def tls_stat(gateway: Gateway, name: str) -> int:
    """A counter of the gateway listener's TLS (`listener.<address>.ssl.<name>`)."""
    text = requests.get(f"http://{gateway.host}:{gateway.admin_port}/stats?filter=ssl\\.{name}$", timeout=5).text
    return sum(int(line.rsplit(":", 1)[1]) for line in text.splitlines() if line.startswith("listener."))


@pytest.mark.parametrize("tls_mode", TLS_MODES)
@pytest.mark.parametrize("mode", MODES)
def test_the_uploaded_certificate_alone_reaches_httpbin_as_mutual_ssl_application(mtls, mode, tls_mode):
    seen = upstream_headers(call(mtls, mode, tls_mode, mtls.pki.partner))
    assert seen["x-apim-application-name"] == ["MutualSSLAuthApplication"]
    assert seen["x-apim-tier"] == ["Gold"]  # the certificate's tier
    # What the adapter read: the element Envoy wrote for the partner's certificate.
    [element] = seen["x-forwarded-client-cert"]
    assert element.startswith(f"Hash={mtls.pki.sha256(mtls.pki.partner)};")


@pytest.mark.parametrize("tls_mode", TLS_MODES)
@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_of_the_trusted_ca_never_uploaded_is_401_900901(mtls, mode, tls_mode):
    assert_900901(call(mtls, mode, tls_mode, mtls.pki.stranger))


@pytest.mark.parametrize("mode", MODES)
def test_optional_mutual_without_a_certificate_is_401_900901_even_with_a_forged_xfcc(mtls, mode):
    """Envoy's SANITIZE_SET drops the caller's own x-forwarded-client-cert: naming the partner's certificate in it
    (as the gateway itself would write it) admits no one, with no certificate or with the stranger's."""
    forged = {"x-forwarded-client-cert": xfcc(mtls.pki.partner.cert.read_bytes())}
    bare_hash = {"x-forwarded-client-cert": "Hash=" + mtls.pki.sha256(mtls.pki.partner)}
    assert_900901(call(mtls, mode, "OPTIONAL_MUTUAL", None))
    for headers in (forged, bare_hash):
        assert_900901(call(mtls, mode, "OPTIONAL_MUTUAL", None, **headers))
        assert_900901(call(mtls, mode, "OPTIONAL_MUTUAL", mtls.pki.stranger, **headers))


def test_mutual_refuses_a_caller_without_a_certificate_in_the_handshake(mtls):
    """MUTUAL: `require_client_certificate`; Envoy ends the handshake, and no request reaches the adapter."""
    gateway = mtls.gateways[("grpc", "MUTUAL")]
    before = tls_stat(gateway, "fail_verify_no_cert")
    with pytest.raises(requests.exceptions.ConnectionError):
        call(mtls, "grpc", "MUTUAL", None, **{"x-forwarded-client-cert": xfcc(mtls.pki.partner.cert.read_bytes())})
    assert tls_stat(gateway, "fail_verify_no_cert") == before + 1


@pytest.mark.parametrize("tls_mode", TLS_MODES)
def test_a_certificate_of_an_untrusted_ca_fails_the_handshake(mtls, tls_mode):
    """Both mutual modes verify a presented certificate against the credential's ca.crt."""
    gateway = mtls.gateways[("grpc", tls_mode)]
    before = tls_stat(gateway, "fail_verify_error")
    with pytest.raises(requests.exceptions.ConnectionError):
        call(mtls, "grpc", tls_mode, mtls.pki.outsider)
    assert tls_stat(gateway, "fail_verify_error") == before + 1


@pytest.mark.parametrize("mode", MODES)
def test_a_valid_token_beside_the_certificate_admits_as_the_tokens_application(stack, mtls, mode):
    token = stack.token(app="subscribed", scope="")
    seen = upstream_headers(call(mtls, mode, "MUTUAL", mtls.pki.partner, authorization=f"Bearer {token}"))
    assert (seen["x-apim-application-name"], seen["x-apim-application-id"]) == (["subscribed"], ["app-subscribed"])


@pytest.mark.parametrize("mode", MODES)
def test_a_valid_token_without_the_certificate_is_401_900901(stack, mtls, mode):
    """The certificate is mandatory: a subscribed application's token alone admits no one."""
    token = stack.token(app="subscribed", scope="")
    assert_900901(call(mtls, mode, "OPTIONAL_MUTUAL", None, authorization=f"Bearer {token}"))


# ---- gatewayTopology.forwardClientCertDetails APPEND_FORWARD, which mutualTls allows: Envoy keeps the caller's XFCC
# (on a connection with a verified certificate only) and appends the element it writes ----


def test_under_append_forward_the_certificate_admits_and_no_certificate_drops_the_forged_header(mtls):
    seen = upstream_headers(call(mtls, "grpc", "APPEND_FORWARD", mtls.pki.partner))
    assert seen["x-apim-application-name"] == ["MutualSSLAuthApplication"]
    forged = {"x-forwarded-client-cert": xfcc(mtls.pki.partner.cert.read_bytes())}
    assert_900901(call(mtls, "grpc", "APPEND_FORWARD", None, **forged))  # no certificate: Envoy removes it


@pytest.mark.parametrize(
    "prefix",
    ["whole", "hash", "by"],
)
def test_under_append_forward_a_forged_element_before_the_gateways_admits_no_one(mtls, prefix):
    """The stranger's certificate and, before the element Envoy appends for it, one of the caller's naming the
    partner's certificate (whole, or its hash alone), or the gateway's own name: the header is refused."""
    partner = xfcc(mtls.pki.partner.cert.read_bytes())
    sent = {"whole": partner, "hash": partner.split(";")[0], "by": "By=spiffe://cluster.local/ns/x/sa/gw"}[prefix]
    assert_900901(call(mtls, "grpc", "APPEND_FORWARD", mtls.pki.stranger, **{"x-forwarded-client-cert": sent}))
