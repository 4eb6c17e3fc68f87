"""APIM's gateway runtime artifact: `GET /internal/data/v1/runtime-artifacts?gatewayLabel=&type=Envoy[&apiId=]`,
what Choreo Connect and the APK agent call (carbon-apimgt 9.31.86 `internal.service/.../impl/
RetrieveRuntimeArtifactsApiServiceImpl.java` and `RuntimeArtifactGeneratorUtil`), read by mesh-sync (endpoints)
and by the wso2 control plane (client certificates, CORS configuration); and the gateway policy artifacts of a label
(`gateway_policies`: `GET /internal/data/v1/gateway-policy-artifacts`).

The artifact is `apis.zip`: `deployments.json`, `env_properties.json` and one inner zip per API revision,
`<apiUUID>-<revisionUUID>.zip`: the API project `ExportUtils.exportApi` wrote when the revision was created
(`APIProviderImpl.addAPIRevision` → `ImportExportAPI.exportAPI(..., ExportFormat.JSON, ...)`), under
`<Name>-<version>/`: `api.json` = `{"type": "api", "data": <APIDTO>}`, and for an API with client certificates
`Client-certificates/<KEYTYPE>/client_certificates.json` and `<alias>.crt`. An API Product's revision is its
project as `ExportUtils.exportApiProduct` writes it (`addAPIProductRevision` → `exportAPIProduct(..., JSON, ...)`):
`api_product.json` = `{"type": "api_product", "data": <APIProductDTO>}` instead of `api.json`, the bundled APIs'
own projects under `APIs/` (addDependentAPIsToArchive), and the product's client certificates as an API's. Lines
of APIM with MCP servers write an MCP server's as an API's, with `mcp_server.json` (type `mcp_server`).
The inner zips carry the endpoint credentials decrypted: callers read what they need and keep no bytes of the
rest; nothing here logs content, and error messages name entries, never what they hold. Every entry is
size-checked before it is read.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .. import endpoint_security, mediation
from ..catalog import KEY_TYPES
from .data_api import ControlPlaneError, InternalDataApi

MAX_ARTIFACT_BYTES = 256 << 20
MAX_ENTRY_BYTES = 16 << 20
NO_API_ARTIFACT_FOUND = 900910  # ExceptionCodes.NO_API_ARTIFACT_FOUND
# Answers that speak for the whole service, not for the artifact asked for: the pull fails as any pull does.
SERVICE_STATUSES = frozenset({401, 403, 429, 502, 503, 504})
# ExportUtils.addClientCertificatesToArchive: each key type (catalog.KEY_TYPES, in that order) into
# ImportExportConstants.CLIENT_CERTIFICATES_DIRECTORY + "/" + keyType + CLIENT_CERTIFICATE_FILE (+ ".json").
CLIENT_CERTIFICATES_DIRECTORY = "Client-certificates"
CLIENT_CERTIFICATES_FILE = "client_certificates.json"
DEFINITION_FILE = "Definitions/swagger.json"  # ImportExportConstants.SWAGGER_DEFINITION_LOCATION, as JSON
# A GraphQL API's schema and the Publisher's complexity values (ImportExportConstants
# .GRAPHQL_SCHEMA_DEFINITION_LOCATION, GRAPHQL_COMPLEXITY_INFO_LOCATION, as JSON).
GRAPHQL_SCHEMA_FILE = "Definitions/schema.graphql"
GRAPHQL_COMPLEXITY_FILE = "Definitions/graphql-complexity.json"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


class BadArtifact(ValueError):
    pass


class ArtifactRefused(ControlPlaneError):
    """APIM answered this request for an artifact with an error (e.g. 500 when generating one API's artifact
    failed): about the artifact asked for, not about the service."""


async def fetch(api: InternalDataApi, label: str, api_id: str | None = None) -> bytes | None:
    """The `apis.zip` of the revisions deployed to `label` (of one API with `api_id`); None when nothing is.
    ControlPlaneError when APIM cannot answer, ArtifactRefused (one) when it answers this request with an error."""
    # The label(s) Base64 of `|`-joined labels (RuntimeArtifactGeneratorUtil); /apis takes it plain.
    params = {"gatewayLabel": base64.b64encode(label.encode()).decode(), "type": "Envoy"}
    if api_id:
        params["apiId"] = api_id
    status, content_type, body = await _get(api, "runtime-artifacts", params, "application/zip, application/json")
    if status == 404:
        # Other carbon-apimgt lines throw NO_API_ARTIFACT_FOUND (900910, 404; RuntimeArtifactGeneratorUtil
        # .getRuntimeArtifacts, ExceptionCodes) when nothing is deployed on the label. Any other 404 (a wrong
        # base path) stays an error: answering "nothing deployed" would delete every route.
        if _error_code(body) == NO_API_ARTIFACT_FOUND:
            return None
        raise ControlPlaneError("GET runtime-artifacts: HTTP 404")
    if content_type == "application/json":  # 9.31.86, nothing deployed: {"count": 0, "list": []}, not a zip
        return None
    return body


async def gateway_policies(api: InternalDataApi, label: str) -> list[dict[str, Any]]:
    """The gateway policy mappings deployed to `label` (Publisher: Policies > Gateway Policies), as APIM's gateway
    fetches them at start (GatewayPolicyDeployer.deployGlobalPoliciesAtGatewayStartup → DBRetriever
    .retrieveGatewayPolicyArtifacts: `/gateway-policy-artifacts?gatewayLabel=<URL-safe Base64 of the label>
    &type=Synapse`, answered by GatewayPolicyArtifactsApiServiceImpl as `{count, list}` of GatewayPolicyDTO JSON
    strings). Each mapping is kept as `{tenantDomain, gatewayPolicySequenceToBeAdded: [{name, content}]}`: each
    flow's sequence, rendered from the policies' parameters, which the catalog reads (mediation.gateway_sequence);
    a header's value in it may be a secret, so it is held as the APIs' own policies' parameters are, never logged.
    A 404 is none, as DBRetriever.retrieveArtifact reads it. ControlPlaneError when APIM cannot answer,
    ArtifactRefused when it answers this request with an error or with what is not that list."""
    params = {"gatewayLabel": base64.urlsafe_b64encode(label.encode()).decode().rstrip("="), "type": "Synapse"}
    status, _, body = await _get(api, "gateway-policy-artifacts", params, "application/json")
    if status == 404:
        return []
    try:
        listed = json.loads(body).get("list")
        mappings = [json.loads(text) for text in listed]
        return [
            {
                "tenantDomain": mapping.get("tenantDomain"),
                "gatewayPolicySequenceToBeAdded": [
                    {"name": sequence["name"], "content": sequence["content"]}
                    for sequence in mapping.get("gatewayPolicySequenceToBeAdded") or []
                ],
            }
            for mapping in mappings
        ]
    except (ValueError, TypeError, AttributeError, KeyError):
        raise ArtifactRefused("GET gateway-policy-artifacts: not a list of gateway policy artifacts") from None


async def _get(api: InternalDataApi, path: str, params: dict[str, str], accept: str) -> tuple[int, str, bytes]:
    """An artifact's answer, 200 or 404, of the data API: ControlPlaneError when APIM cannot answer or answers for
    the whole service (SERVICE_STATUSES), ArtifactRefused when it answers this request with another error."""
    try:
        return await api.client.get_bytes(
            f"{api.base}/{path}", MAX_ARTIFACT_BYTES, (200, 404), headers={**api.headers, "Accept": accept},
            params=params,
        )  # fmt: skip
    except aiohttp.ClientResponseError as exc:
        kind = ControlPlaneError if exc.status in SERVICE_STATUSES else ArtifactRefused
        raise kind(f"GET {path}: HTTP {exc.status}") from None
    except aiohttp.ClientError as exc:  # no answer: the same failures the control plane reports
        raise ControlPlaneError(f"GET {path}: {type(exc).__name__}") from None
    except ValueError as exc:  # larger than MAX_ARTIFACT_BYTES
        raise ArtifactRefused(f"GET {path}: {exc}") from None
    except Exception as exc:  # TLS, timeouts
        raise ControlPlaneError(f"GET {path}: {type(exc).__name__}") from None


def _error_code(body: bytes) -> int | None:
    """The `code` of a WSO2 ErrorDTO body, or None when the body is not one."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, int) else None


def entry(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_ENTRY_BYTES:
        raise BadArtifact(f"{name}: too large")
    return archive.read(info)


def json_entry(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(entry(archive, name))


@dataclass(frozen=True)
class Artifact:
    """An `apis.zip`, opened."""

    archive: zipfile.ZipFile
    names: frozenset[str]

    @classmethod
    def open(cls, body: bytes) -> Artifact:
        try:
            archive = zipfile.ZipFile(io.BytesIO(body))
        except (zipfile.BadZipFile, ValueError) as exc:
            raise BadArtifact(f"not an apis.zip: {type(exc).__name__}") from None
        return cls(archive, frozenset(archive.namelist()))

    def document(self, name: str) -> Any:
        """A top-level JSON file (`deployments.json`, `env_properties.json`), `{}` when there is none."""
        try:
            return json_entry(self.archive, name) if name in self.names else {}
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BadArtifact(f"not an apis.zip: {type(exc).__name__}") from None

    def deployed(self, environment: str) -> list[str]:
        """The inner zips (`apiFile`) of the revisions `deployments.json` says are deployed to `environment`."""
        deployments = self.document("deployments.json")
        rows = ((deployments.get("data") or {}).get("deployments") or []) if isinstance(deployments, dict) else []
        return [
            row["apiFile"]
            for row in rows
            if isinstance(row, dict) and isinstance(row.get("apiFile"), str) and row["apiFile"] in self.names
            and any(isinstance(e, dict) and e.get("name") == environment for e in row.get("environments") or [])
        ]  # fmt: skip

    def project(self, name: str) -> Project:
        """The API or API Product project in the inner zip `name`: its one `<Name>-<version>/api.json` (or
        `api_product.json`) gives its root."""
        try:
            inner = zipfile.ZipFile(io.BytesIO(entry(self.archive, name)))
            names = frozenset(inner.namelist())
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BadArtifact(f"{name}: {type(exc).__name__}") from None
        candidates = [n for n in names if n.count("/") == 1 and n.partition("/")[2] in PROJECT_KINDS]
        if len(candidates) != 1:
            raise BadArtifact(f"{name}: no single <Name>-<version>/{{{','.join(PROJECT_KINDS)}}}")
        root, _, file = candidates[0].partition("/")
        return Project(name, inner, names, root + "/", PROJECT_KINDS[file])


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# The file at a project's root, by the kind of project (ImportExportConstants: API_FILE_LOCATION,
# API_PRODUCT_FILE_LOCATION, MCP_SERVER_FILE_LOCATION, in ExportFormat.JSON; the `type` CommonUtil.writeDtoToFile
# writes in it is the kind).
PROJECT_KINDS = {"api.json": "api", "api_product.json": "api_product", "mcp_server.json": "mcp_server"}
# The DTO's header names the gateway template appends to a CORS preflight's allowed headers.
CORS_HEADER_FIELDS = ("authorizationHeader", "apiKeyHeader")


@dataclass(frozen=True)
class Project:
    """One revision's project, files under `root` (`<Name>-<version>/`), of an API, an API Product or an MCP
    server (`kind`: `api`, `api_product`, `mcp_server`)."""

    name: str
    archive: zipfile.ZipFile
    names: frozenset[str]
    root: str
    kind: str = "api"

    def _json(self, path: str) -> Any:
        try:
            return json_entry(self.archive, self.root + path)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BadArtifact(f"{self.name}: {path}: {type(exc).__name__}") from None

    def api(self) -> dict[str, Any]:
        """`api.json`'s `data`: the APIDTO (endpoint credentials included: read what you need, keep nothing); for a
        product `api_product.json`'s, the APIProductDTO (no endpoint of its own), for an MCP server
        `mcp_server.json`'s."""
        document = self._json(f"{self.kind}.json")
        data = document.get("data") if isinstance(document, dict) else None
        return data if isinstance(data, dict) else {}

    def schema_validation(self) -> bool:
        """Whether the revision validates requests against its OpenAPI definition: the DTO's
        `enableSchemaValidation`, which APIMappingUtil.fromAPItoDTO and fromAPIProducttoDTO always write (carbon-apimgt
        9.31.86), and with which APIM's template engages its SchemaValidator handler (velocity_template.xml)."""
        return self.api().get("enableSchemaValidation") is True

    def definition(self) -> Any:
        """The revision's OpenAPI definition, which its export writes to `Definitions/swagger.json` (ExportUtils
        .addAPIMetaInformationToArchive, RestApiCommonUtil.retrieveSwaggerDefinition; the revision's export format is
        JSON), parsed; None where the project has none. The gateway's SchemaValidator reads the same definition
        (TemplateBuilderUtil puts `api.getSwaggerDefinition()` in the API's local entry)."""
        path = DEFINITION_FILE
        return self._json(path) if self.root + path in self.names else None

    def graphql_schema(self) -> str | None:
        """A GraphQL API's schema, as its export writes it (ExportUtils.addAPIMetaInformationToArchive: the API's
        stored SDL, `getGraphqlSchemaDefinition`, into `Definitions/schema.graphql`); None where the project has
        none."""
        path = self.root + GRAPHQL_SCHEMA_FILE
        if path not in self.names:
            return None
        try:
            return entry(self.archive, path).decode("utf-8")
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            raise BadArtifact(f"{self.name}: {GRAPHQL_SCHEMA_FILE}: {type(exc).__name__}") from None

    def graphql_complexity(self) -> dict[str, Any] | None:
        """The Publisher's complexity values of a GraphQL API (GraphQLQueryComplexityInfoDTO: `{"list": [{"type",
        "field", "complexityValue"}]}`), which the export writes only where some are set (CommonUtil.writeDtoToFile:
        `{"type": "graphql-complexity", "version", "data"}`); None where it wrote none."""
        path = GRAPHQL_COMPLEXITY_FILE
        if self.root + path not in self.names:
            return None
        data = self._json(path)
        data = data.get("data") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            raise BadArtifact(f"{self.name}: {path}: no data object")
        return data

    def backend_throughput(self) -> dict[str, Any] | None:
        """An API's backend throughput, its DTO's `maxTps` (`{production, productionTimeUnit, sandbox,
        sandboxTimeUnit}`), which APIMappingUtil.fromAPItoDTO writes only where the API has a production or sandbox
        count (setMaxTpsFromModelToApiDTO) and TemplateBuilderUtil hands the gateway's ThrottleHandler
        (`productionMaxCount`, `productionUnitTime`, ...); None where it has none, or for a product or an MCP server
        (their DTOs have none). BadArtifact where it is not an object."""
        if self.kind != "api":
            return None
        found = self.api().get("maxTps")
        if found is not None and not isinstance(found, dict):
            raise BadArtifact(f"{self.name}: api.json: maxTps is not an object")
        return found

    def security_scheme(self) -> list[str] | None:
        """The API's or product's security scheme as its revision was deployed, its DTO's `securityScheme`
        (APIMappingUtil.fromAPItoDTO / fromAPIProducttoDTO: the stored `apiSecurity` split at commas), which
        TemplateBuilderUtil hands the gateway's APIAuthenticationHandler (`apiSecurity`); the internal data API
        answers the API's saved one instead (SubscriptionValidationDataUtil: getSecuritySchemeOfAPI). None where
        the DTO has none. BadArtifact where it is not a list of names."""
        found = self.api().get("securityScheme")
        if found is not None and not (isinstance(found, list) and all(isinstance(k, str) for k in found)):
            raise BadArtifact(f"{self.name}: api.json: securityScheme is not a list of names")
        return found

    def audiences(self) -> list[str] | None:
        """The audiences the API's or product's JWTs must name one of, its DTO's `audiences` (Runtime
        configuration, audience validation: APIMappingUtil stores an empty list as `all`), which TemplateBuilderUtil
        hands JWTValidator (`audiences`); None where the DTO has none. BadArtifact where it is not a list of
        strings."""
        found = self.api().get("audiences")
        if found is not None and not (isinstance(found, list) and all(isinstance(k, str) for k in found)):
            raise BadArtifact(f"{self.name}: api.json: audiences is not a list of strings")
        return found

    def key_managers(self) -> list[str] | None:
        """The key managers whose tokens the API takes: its DTO's `keyManagers` (the Publisher's default `["all"]`),
        which TemplateBuilderUtil hands the gateway (GatewayAPIDTO.setKeyManagers) and OAuthAuthenticator holds each
        token's key manager to; None for a product (TemplateBuilderUtil gives a product's `all`) or where the DTO
        has none. BadArtifact where it is not a list of names."""
        if self.kind != "api":
            return None
        found = self.api().get("keyManagers")
        if found is not None and not (isinstance(found, list) and all(isinstance(k, str) for k in found)):
            raise BadArtifact(f"{self.name}: api.json: keyManagers is not a list of names")
        return found

    def cors_settings(self) -> dict[str, Any]:
        """What APIM's gateway template engages CORSRequestHandler with (carbon-apimgt 9.31.86 `TemplateBuilderUtil
        .getAPITemplateBuilder`, for an API and for a product), from the project's DTO: `corsConfiguration` as
        exported (APIMappingUtil.fromAPItoDTO / fromAPIProducttoDTO always write one: `corsConfigurationEnabled`,
        the `accessControlAllow*` lists, `accessControlAllowCredentials`), copied as it is, and
        `authorizationHeader` / `apiKeyHeader` where they are non-blank strings (the template passes them only
        then; Gson leaves a null one out). BadArtifact when there is no `corsConfiguration` object."""
        data = self.api()
        cors = data.get("corsConfiguration")
        if not isinstance(cors, dict):
            raise BadArtifact(f"{self.name}: {self.kind}.json: no corsConfiguration object")
        found: dict[str, Any] = {"corsConfiguration": cors}
        for key in CORS_HEADER_FIELDS:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                found[key] = value
        return found

    def operation_policies(self) -> list[dict[str, Any]]:
        """The revision's operation policies (APIM's mediation, applied by its gateway in the API's sequences:
        APIDTO `apiPolicies`, then each operation's `operationPolicies`, each a `request`, `response` and `fault`
        list of OperationPolicyDTO, in their order): `{flow, policyName, policyVersion}`, with `verb` and `target`
        for an operation's, and `parameters` for those the adapter applies (mediation.applied: what it sends the
        gateway, checks, or asks OPA with; OPA's access key is kept in memory only). Every other policy's parameters
        are left out (one may carry a secret, e.g. a custom policy's). A product's are its operations'."""
        data = self.api()
        found: list[dict[str, Any]] = []

        def named(policies: Any, where: dict[str, str]) -> None:
            for flow in mediation.FLOWS:
                listed = policies.get(flow) if isinstance(policies, dict) else None
                for policy in listed if isinstance(listed, list) else ():
                    if isinstance(policy, dict) and isinstance(policy.get("policyName"), str):
                        name, version = policy["policyName"], policy.get("policyVersion")
                        version = version if isinstance(version, str) else ""
                        item: dict[str, Any] = {"flow": flow, "policyName": name, "policyVersion": version, **where}
                        parameters = policy.get("parameters")
                        if mediation.applies(name, version, flow):
                            item["parameters"] = parameters if isinstance(parameters, dict) else {}
                        found.append(item)

        if self.kind == "api_product":
            # A product's policies are its own operations' (APIProductDTO `apis[].operations[]`, APIMappingUtil
            # .fromAPIProducttoDTO), with no API-level ones: TemplateBuilderUtil
            # .retrieveOperationPolicySequenceForProducts renders each bundled API's product resources with `null`
            # API-level policies.
            operations = [op for api in _list(data.get("apis")) if isinstance(api, dict)
                          for op in _list(api.get("operations"))]  # fmt: skip
        else:
            named(data.get("apiPolicies"), {})
            operations = data.get("operations")
        for operation in operations if isinstance(operations, list) else ():
            if isinstance(operation, dict):
                where = {"verb": str(operation.get("verb", "")), "target": str(operation.get("target", ""))}
                named(operation.get("operationPolicies"), where)
        return found

    def endpoint_config(self) -> dict[str, Any]:
        """The revision's endpoint security (APIDTO `endpointConfig.endpoint_security`, its credentials decrypted:
        exported with `preserveCredentials`), with only what the adapter sends a backend (endpoint_security.kept):
        an API's as `{"endpointConfig": {"endpoint_security": ...}}`; a product's, which has no endpoint of its own,
        as its APIProductDTO's `apis` (ProductAPIDTO `apiId` and the `operations` taken from it), each with the
        `endpointConfig` of the API it bundles as the product's revision holds it (its project under `APIs/`), as
        APIM's product template secures each resource with its API's (api_product_template.xml, from
        APIProductResource.getEndpointSecurityMap). `{}` where none is secured."""
        if self.kind == "api_product":
            bundled = self.bundled_apis()
            apis = []
            for item in _list(self.api().get("apis")):
                api_id = item.get("apiId") if isinstance(item, dict) else None
                kept = endpoint_security.kept((bundled.get(api_id) or {}).get("endpointConfig")) if api_id else {}
                if kept:
                    operations = [{"verb": str(op.get("verb", "")), "target": str(op.get("target", ""))}
                                  for op in _list(item.get("operations")) if isinstance(op, dict)]  # fmt: skip
                    apis.append({"apiId": api_id, "operations": operations, "endpointConfig": kept})
            return {"apis": apis} if apis else {}
        if self.kind != "api":
            return {}
        kept = endpoint_security.kept(self.api().get("endpointConfig"))
        return {"endpointConfig": kept} if kept else {}

    def bundled_apis(self) -> dict[str, dict[str, Any]]:
        """A product's bundled APIs, id → their `api.json` `data` (endpoint credentials included: read what you need,
        keep nothing): the projects addDependentAPIsToArchive extracts under `APIs/` (`APIs/<Name>-<version>/`)."""
        found: dict[str, dict[str, Any]] = {}
        projects = (n.removeprefix(self.root) for n in sorted(self.names) if n.startswith(self.root + "APIs/"))
        for path in (p for p in projects if p.count("/") == 2 and p.endswith("/api.json")):
            document = self._json(path)
            data = document.get("data") if isinstance(document, dict) else None
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                found[data["id"]] = data
        return found

    def client_certificates(self) -> tuple[list[dict[str, str]], list[str]]:
        """The API's client certificates for mutual TLS, as `{alias, tier, keyType, certificate (PEM)}`, and why
        any was left out. ExportUtils.addClientCertificatesToArchive writes, per key type with certificates,
        `client_certificates.json` = CommonUtil.writeDtoToFile's `{"type": "client_certificates", "version",
        "data": [...]}`, each item a ClientCertificateDTO as Gson writes it (`alias`, `certificate` = the file
        name `<alias>.crt`, `tierName`, `apiIdentifier`), next to the `.crt` files; read as Choreo Connect's
        adapter reads them (product-microgateway `adapter/internal/api/apis_process.go`, ClientCertificatesDetails
        in `oasparser/model/project_structs.go`). The key type is the directory's. A certificate whose file is
        missing or unreadable is left out and named (Choreo Connect's `xds/server.go` skips one whose file is
        missing, error 1415); an unreadable `client_certificates.json` is BadArtifact."""
        found: list[dict[str, str]] = []
        problems: list[str] = []
        for key_type in KEY_TYPES:
            directory = f"{CLIENT_CERTIFICATES_DIRECTORY}/{key_type}/"
            if self.root + directory + CLIENT_CERTIFICATES_FILE not in self.names:
                continue  # ExportUtils writes no directory for a key type without certificates
            document = self._json(directory + CLIENT_CERTIFICATES_FILE)
            items = document.get("data") if isinstance(document, dict) else None
            if not isinstance(items, list):
                raise BadArtifact(f"{self.name}: {directory}{CLIENT_CERTIFICATES_FILE}: no data list")
            for item in items:
                item = item if isinstance(item, dict) else {}
                alias, tier, file = item.get("alias"), item.get("tierName"), item.get("certificate")
                if not (isinstance(alias, str) and isinstance(tier, str) and isinstance(file, str)
                        and alias and tier and file):  # fmt: skip
                    problems.append(f"{key_type}: an entry without alias, tierName or certificate file")
                    continue
                path = self.root + directory + file
                if "/" in file or path not in self.names:
                    problems.append(f"{key_type} {alias}: no file {file}")
                    continue
                try:
                    pem = certificate_pem(entry(self.archive, path))
                except (BadArtifact, zipfile.BadZipFile, ValueError) as exc:
                    problems.append(f"{key_type} {alias}: {exc if isinstance(exc, BadArtifact) else 'unreadable'}")
                    continue
                found.append({"alias": alias, "tier": tier, "keyType": key_type, "certificate": pem})
        return found, problems


def certificate_pem(content: bytes) -> str:
    """A `.crt` of an exported API project as plain PEM. ExportUtils.getClientCertificateContentAndMetaData writes
    BEGIN CERTIFICATE, the stored column, END CERTIFICATE; the column is the Base64 of the file the Publisher user
    uploaded (CertificateRestApiUtils.generateEncodedCertificate), which may be DER or PEM text, since
    CertificateMgtUtils.validateCertificate hands the decoded bytes to Java's CertificateFactory, which reads both.
    Read as Choreo Connect's enforcer reads it (`security/mtls/MtlsUtils.java` getCertContent and getX509Cert: the
    text between the markers, Base64-decoded, to CertificateFactory, which takes the first certificate)."""
    match = _PEM.search(content)
    if match is None:
        raise BadArtifact("not a PEM certificate")
    try:
        decoded = base64.b64decode(b"".join(match[1].split()), validate=True)
        if decoded.lstrip().startswith(b"-----BEGIN"):  # the user uploaded PEM text
            certificate = x509.load_pem_x509_certificates(decoded)[0]
        else:
            certificate = x509.load_der_x509_certificate(decoded)
    except (binascii.Error, ValueError):
        raise BadArtifact("not an X.509 certificate") from None
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
