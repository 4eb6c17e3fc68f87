"""Throwaway certificate authorities for tests: a CA and the server and client certificates it signs, as PEM files.

ECDSA P-256 throughout (fast to generate; Kubernetes, Envoy, OpenSSL and Java all accept it); valid for a day.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Credential:
    cert: Path
    key: Path


def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_key(path: Path, key: ec.EllipticCurvePrivateKey, public: Path | None = None) -> None:
    """The private key as PKCS#8 PEM, owner-only; its public key next to it when `public` is given."""
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    if public is not None:
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def _name(common_name: str, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:  # Kubernetes reads a client certificate's O as the user's groups
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _alt_name(entry: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(entry))
    except ValueError:
        return x509.DNSName(entry)


class CertificateAuthority:
    """A self-signed CA written to `<directory>/<name>.crt|.key`, issuing certificates into the same directory."""

    def __init__(self, directory: Path, name: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.key, self.subject = directory, private_key(), _name(name, None)
        cert = (
            self._builder(self.subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),  # keyCertSign, cRLSign
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.credential = self._write(name, cert, self.key)

    def issue(
        self, name: str, common_name: str, organization: str | None = None, server_names: Sequence[str] = ()
    ) -> Credential:
        """A server certificate when `server_names` (DNS names or IP addresses) are given, else a client one."""
        key = private_key()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(_name(common_name, organization), key.public_key())
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if server_names:
            alt_names = x509.SubjectAlternativeName([_alt_name(entry) for entry in server_names])
            builder = builder.add_extension(alt_names, critical=False)
        return self._write(name, builder.sign(self.key, hashes.SHA256()), key)

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def _write(self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Credential:
        credential = Credential(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        credential.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(credential.key, key)
        return credential


def xfcc(cert_pem: bytes, by: str = "") -> str:
    """`x-forwarded-client-cert` as an Istio gateway's Envoy writes it for a caller presenting `cert_pem`
    (`forward_client_cert_details: SANITIZE_SET`, `set_current_client_cert_details` subject, cert, URI and DNS:
    envoy `source/common/http/conn_manager_utility.cc` mutateXfccRequestHeader — `By` for the gateway's own URI
    SAN, `Hash` the SHA-256 of the DER in lower-case hex, `Cert` the URL-encoded PEM, `Subject` in RFC 2253)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    parts = [f"By={by}"] if by else []
    parts += [f"Hash={digest}", f'Cert="{urllib.parse.quote(cert_pem.decode(), safe="")}"',
              f'Subject="{cert.subject.rfc4514_string()}"', "URI=", "DNS="]  # fmt: skip
    return ";".join(parts)
