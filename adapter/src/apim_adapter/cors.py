"""CORS as APIM 4.5's gateway answers browsers: its `CORSRequestHandler` (carbon-apimgt gateway
`handlers/security/CORSRequestHandler.java`), engaged on an API with the properties `TemplateBuilderUtil
.getAPITemplateBuilder` gives it, and the `_cors_request_handler_` sequence (product-apim `synapse-configs/default/
sequences`) that writes its results as headers.

- An API's own configuration (the Publisher's `corsConfiguration`) applies where it is enabled, its empty lists and
  an unset `accessControlAllowCredentials` falling back to the global ones; otherwise the global `[apim.cors]`
  applies (`Settings`). An API's `Cors` is built once per catalog.
- A preflight (OPTIONS on a resource that does not declare OPTIONS itself) is answered at once, without a
  credential (`Answer` with every header); other calls carry `Access-Control-Allow-Origin` and, where allowed,
  `-Credentials`, on their allow and on their authentication, authorization and throttling denials (the sequences
  `_auth_failure_handler_`, `_throttle_out_handler_` call the CORS sequence), never on the handler's own 404 and
  405 answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import java_regex

ALLOW_ORIGIN = "access-control-allow-origin"
ALLOW_CREDENTIALS = "access-control-allow-credentials"
ALLOW_METHODS = "access-control-allow-methods"
ALLOW_HEADERS = "access-control-allow-headers"
EXPOSE_HEADERS = "access-control-expose-headers"
REQUEST_METHOD = "access-control-request-method"  # the preflight's request header naming the method wanted
# Every header the adapter may send a browser (the HTTP provider's allowlists must name them).
RESPONSE_HEADERS = (ALLOW_ORIGIN, ALLOW_CREDENTIALS, ALLOW_METHODS, ALLOW_HEADERS, EXPOSE_HEADERS)
API_KEY_HEADER = "ApiKey"  # APIConstants.API_KEY_HEADER_DEFAULT: always added to an API's allowed headers
MAX_ORIGIN_BYTES = 2048  # a longer Origin is no browser's: allowed by no configuration but `*`


@dataclass(frozen=True)
class Settings:
    """The global CORS configuration (`[apim.cors]`), as lists."""

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    credentials: bool
    expose: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """The CORS headers of one response (None or '': not sent)."""

    origin: str | None
    credentials: bool
    methods: str = ""  # a preflight's, as the rest
    headers: str = ""
    expose: str = ""

    def response_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers, in the sequence's order. APIM writes an Origin it does not allow, and an unset list, as an
        empty header; the adapter leaves such a header out, which a browser reads the same way (it refuses)."""
        named = ((ALLOW_ORIGIN, self.origin), (ALLOW_METHODS, self.methods), (ALLOW_HEADERS, self.headers))
        out = [(name, value) for name, value in named if value]
        if self.credentials:
            out.append((ALLOW_CREDENTIALS, "true"))
        if self.expose:
            out.append((EXPOSE_HEADERS, self.expose))
        return tuple(out)


@dataclass(frozen=True, eq=False)  # one per API of a catalog: compared by identity
class Cors:
    """How an API answers browsers."""

    any_origin: bool  # `*` is among the origins: every origin is answered `*`
    origins: frozenset[str]
    patterns: tuple[java_regex.JavaPattern, ...]  # the origins with `*`, as the handler reads them: Java's regexes
    methods: tuple[str, ...]
    headers: str  # Access-Control-Allow-Headers as sent
    credentials: bool
    expose: str
    for_any_origin: Answer  # a call's answer where every origin is answered `*`

    @staticmethod
    def of(origins: Sequence[str], methods: Sequence[str], headers: str, credentials: bool, expose: str) -> Cors:
        patterns = []
        for origin in origins:
            if "*" in origin and origin != "*":
                try:  # Pattern.compile(allowedOrigin.replace("*", ".*")); matcher.find(): anywhere in the Origin
                    patterns.append(java_regex.compile(origin.replace("*", ".*")))
                except (java_regex.PatternError, java_regex.Untranslatable):
                    continue  # APIM fails the request on one Java refuses; here it matches no origin
        any_origin = "*" in origins
        # Allow-Credentials is sent where enabled and the origin answered is not `*` (a refused one included).
        for_any = Answer("*", False) if any_origin else Answer(None, credentials)
        return Cors(any_origin, frozenset(origins), tuple(patterns), tuple(methods), headers, credentials, expose,
                    for_any)  # fmt: skip

    @property
    def per_origin(self) -> bool:
        """Whether a call's answer depends on its Origin."""
        return not self.any_origin

    def allowed_origin(self, origin: str | None) -> str | None:
        """`getAllowedOrigins`: `*` when any origin is, the Origin itself where listed or matched, else None."""
        if self.any_origin:
            return "*"
        # A browser's Origin is ASCII (RFC 6454's serialization, IDNs in punycode): anything else is echoed nowhere,
        # since the answer would carry it back as a header value.
        if origin is None or len(origin) > MAX_ORIGIN_BYTES or not (origin.isascii() and origin.isprintable()):
            return None
        if origin in self.origins:
            return origin
        if any(p.find(origin) for p in self.patterns):
            return origin
        return None

    def call(self, origin: str | None) -> Answer:
        """A call's answer (any method but a preflight): Allow-Origin, Allow-Credentials."""
        if self.any_origin:
            return self.for_any_origin
        return Answer(self.allowed_origin(origin), self.credentials)

    def preflight(self, origin: str | None, resource_methods: Sequence[str]) -> Answer:
        """A preflight's answer: the resource's methods that are allowed, the headers, the exposed headers."""
        allowed = self.allowed_origin(origin)
        methods = ",".join(m for m in resource_methods if m in self.methods)
        credentials = self.credentials and allowed != "*"
        return Answer(allowed, credentials, methods, self.headers, self.expose)


def of_api(item: Mapping[str, Any], settings: Settings | None) -> Cors | None:
    """An API's CORS from its catalog item: `corsConfiguration` (the Publisher's APICorsConfiguration: its own where
    `corsConfigurationEnabled`), `authorizationHeader` and `apiKeyHeader` (added to the allowed headers). None where
    CORS is off, or the item says None: its configuration could not be read, and no browser is answered rather than
    one the API may refuse. ValueError for a malformed configuration."""
    if settings is None or ("corsConfiguration" in item and item["corsConfiguration"] is None):
        return None
    own = item.get("corsConfiguration") or {}
    if not isinstance(own, Mapping):
        raise ValueError("corsConfiguration: must be an object")
    origins, methods, headers = settings.origins, settings.methods, settings.headers
    credentials = settings.credentials
    if _flag(own, "corsConfigurationEnabled"):
        origins = _strings(own, "accessControlAllowOrigins") or origins
        methods = _strings(own, "accessControlAllowMethods") or methods
        headers = _strings(own, "accessControlAllowHeaders") or headers
        credentials = _flag(own, "accessControlAllowCredentials") or credentials  # only `true` is passed on
    # CORSRequestHandler.initializeHeaders: the API's authorization header, where it names one, and its API key
    # header (`ApiKey` unless it names one) follow the configured headers.
    allowed_headers = ",".join(headers)
    for key, default in (("authorizationHeader", None), ("apiKeyHeader", API_KEY_HEADER)):
        name = item.get(key)
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{key}: must be a string")
        name = name.strip() if name and name.strip() else default
        if name:
            allowed_headers += "," + name
    return Cors.of(origins, methods, allowed_headers, credentials, ",".join(settings.expose))


def _flag(own: Mapping[str, Any], key: str) -> bool:
    value = own.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"corsConfiguration.{key}: must be a boolean")
    return value


def _strings(own: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = own.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"corsConfiguration.{key}: must be a list of strings")
    return tuple(value)
