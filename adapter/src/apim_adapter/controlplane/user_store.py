"""APIM's user store, asked about a user name and password as APIM 4.5's gateway asks it (carbon-apimgt gateway
`handlers/security/basicauth/BasicAuthClient.java`): the SOAP 1.1 operation `getUserAuthenticationInfo` of the admin
service `APIKeyMgtRemoteUserStoreMgtService` at APIM's URL + `/services/APIKeyMgtRemoteUserStoreMgtService`,
authenticated with HTTP Basic as the control plane's user (the gateway uses its event hub user; the service demands
`/permission/admin/manage`, carbon-apimgt impl `META-INF/services.xml`).

The messages are those of the service's WSDL (carbon-apimgt keymgt.stub `APIKeyMgtRemoteUserStoreMgtService.wsdl`):
the request `{http://org.apache.axis2/xsd}getUserAuthenticationInfo` with `username` and `password`; the answer's
`return` a BasicAuthValidationInfoDTO (`authenticated`, `domainQualifiedUsername`, `userRoleList`...). Answers are
read by local names, whatever prefixes or namespaces the server writes.

The password is sent in the request body only: it is in no log, exception message, repr or span attribute.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

import aiohttp

from .. import tracing, xml_without_dtd
from ..config import Config, ControlPlaneWso2
from ..tokens.basic_auth import UserStoreUnavailable
from .data_api import BASE_PATH, control_plane_authorization, control_plane_client

SERVICE_PATH = "/services/APIKeyMgtRemoteUserStoreMgtService"
SOAP_ACTION = '"urn:getUserAuthenticationInfo"'  # the WSDL's SOAP 1.1 binding: soapAction, quoted as Axis2 sends it
SOAP_11 = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NAMESPACE = "http://org.apache.axis2/xsd"  # services.xml schemaNamespace, elementFormDefaultQualified
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
MAX_RESPONSE_BYTES = 1 << 20  # a user's name and roles: far below this
MAX_FAULT_CHARS = 200
# What XML 1.0 cannot carry (its `Char` production): control characters, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class UserInfo:
    username: str  # domainQualifiedUsername as APIM answered it
    roles: tuple[str, ...]  # userRoleList


class UserStoreError(UserStoreUnavailable):
    """APIM's user store could not answer (transport, HTTP status, SOAP fault, malformed answer). A
    `tokens.basic_auth.UserStoreUnavailable`, so that the check answers it as an outage, never as a refusal."""


class SoapFault(UserStoreError):
    """The service answered a fault: APIManagementException (a UserStoreException in APIM's user store,
    APIKeyMgtRemoteUserStoreMgtService.getUserAuthenticationInfo) or a request Axis2 would not take."""


def service_url(url: str) -> str:
    """The service's URL from the control plane's, which may have been given with the data API's base path."""
    return url.rstrip("/").removesuffix(BASE_PATH).rstrip("/") + SERVICE_PATH


def request_envelope(username: str, password: str) -> bytes:
    """The SOAP 1.1 request, UTF-8. `escape` covers `&`, `<`, `>`; a CR is written as a character reference, as
    the server's parser would otherwise read it as a line feed (XML end-of-line handling) and compare another
    password."""
    cr = {"\r": "&#13;"}
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_11}" xmlns:xsd="{SERVICE_NAMESPACE}">'
        "<soapenv:Header/><soapenv:Body><xsd:getUserAuthenticationInfo>"
        f"<xsd:username>{escape(username, cr)}</xsd:username>"
        f"<xsd:password>{escape(password, cr)}</xsd:password>"
        "</xsd:getUserAuthenticationInfo></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if isinstance(c.tag, str) and _local(c.tag) == name), None)


def _text(element: ET.Element | None) -> str | None:
    """An element's text; None for no element or `xsi:nil`."""
    if element is None or element.get(XSI_NIL) in ("true", "1"):
        return None
    return element.text or ""


def parse_answer(body: bytes) -> UserInfo | None:
    """The user an answer names; None when it says not authenticated. UserStoreError for a fault or anything that
    is not getUserAuthenticationInfo's answer."""
    try:
        envelope = xml_without_dtd.parse(body)
    except (ET.ParseError, ValueError) as exc:
        raise UserStoreError(f"not XML: {exc}") from None
    soap_body = _child(envelope, "Body") if _local(envelope.tag) == "Envelope" else None
    if soap_body is None:
        raise UserStoreError("not a SOAP envelope")
    fault = _child(soap_body, "Fault")
    if fault is not None:
        reason = (_text(_child(fault, "faultstring")) or "").strip()[:MAX_FAULT_CHARS]
        raise SoapFault(f"SOAP fault: {reason or 'no faultstring'}")
    answer = _child(soap_body, "getUserAuthenticationInfoResponse")
    if answer is None:
        raise UserStoreError("no getUserAuthenticationInfoResponse")
    info = _child(answer, "return")
    if _text(info) is None:  # BasicAuthClient.convertToDTO: no DTO is authenticated=false
        return None
    assert info is not None
    authenticated = (_text(_child(info, "authenticated")) or "false").strip()  # minOccurs 0: a boolean's default
    if authenticated in ("false", "0"):
        return None
    if authenticated not in ("true", "1"):
        raise UserStoreError("authenticated is not a boolean")
    username = _text(_child(info, "domainQualifiedUsername"))
    if not username:
        raise UserStoreError("an authenticated user without domainQualifiedUsername")
    # A user without roles: getRoleListOfUser's null array, written as one nil element.
    roles = (_text(e) for e in info if isinstance(e.tag, str) and _local(e.tag) == "userRoleList")
    return UserInfo(username, tuple(role for role in roles if role))


def _redacted(message: str, secret: str) -> str:
    return message.replace(secret, "***") if secret else message


class RemoteUserStore:
    """getUserAuthenticationInfo over HTTPS, with the control plane's CA bundle, credentials and timeout."""

    def __init__(self, cp: ControlPlaneWso2, config: Config):
        self.url = service_url(cp.url)
        self.headers = {
            "Authorization": control_plane_authorization(cp, config),
            "Content-Type": "text/xml; charset=UTF-8",
            "SOAPAction": SOAP_ACTION,
            "Accept": "text/xml",
        }
        self.client = control_plane_client(cp, config)

    # The span is this method's, so that an error it records is the redacted one; its only attribute is the URL.
    @tracing.traced("POST", lambda self, *_: {"url.full": self.url})
    async def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user APIM's user store accepts with this password (`username` tenant-qualified, as the gateway
        sends it); None when it does not. Raises UserStoreError when it cannot answer."""
        if _NOT_XML_CHAR.search(username) or _NOT_XML_CHAR.search(password):
            # The gateway's request would be malformed XML, which APIM refuses: no user of APIM can present this
            # pair through it. Refused here rather than turned into an outage a client could cause at will.
            return None
        try:
            return await self._ask(request_envelope(username, password))
        except UserStoreError as exc:
            raise type(exc)(_redacted(str(exc), password)) from None

    async def _ask(self, envelope: bytes) -> UserInfo | None:
        try:
            # Axis2 answers a fault with HTTP 500 and the fault in the body.
            status, _, body = await self.client.post_bytes(
                self.url, envelope, MAX_RESPONSE_BYTES, accept=(200, 500), headers=self.headers
            )
        except aiohttp.ClientResponseError as exc:
            if exc.status in (401, 403):
                raise UserStoreError(f"APIM refused the control plane's credentials (HTTP {exc.status})") from None
            raise UserStoreError(f"HTTP {exc.status}") from None
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise UserStoreError(f"POST {SERVICE_PATH}: {exc or type(exc).__name__}") from None
        try:
            return parse_answer(body)
        except SoapFault:
            raise
        except UserStoreError:
            if status != 200:  # a 500 that is no fault: the status says more than its body
                raise UserStoreError(f"HTTP {status}") from None
            raise

    async def close(self) -> None:
        await self.client.close()
