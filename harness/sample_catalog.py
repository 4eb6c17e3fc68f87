"""A sample catalog in WSO2 internal data API shapes: the httpbin API, applications in every subscription
state, and the tiers the tests and benchmarks use."""

from __future__ import annotations

import copy

KM = "WSO2-IS-7"
OTHER_KM = "Other-KM"
DOWN_KM = "Down-KM"

RESOURCES = [
    {
        "httpMethod": "GET",
        "urlPattern": "/ip",
        "scopes": ["scope_ip"],
        "throttlingPolicy": "Unlimited",
        "authScheme": "Any",
    },
    {"httpMethod": "GET", "urlPattern": "/headers", "scopes": ["scope_headers"], "throttlingPolicy": "Unlimited"},
    {"httpMethod": "GET", "urlPattern": "/delay/{delay}", "scopes": [], "throttlingPolicy": "Unlimited"},
    {"httpMethod": "GET", "urlPattern": "/status/{status_code}", "scopes": []},
    {"httpMethod": "GET", "urlPattern": "/hostname", "scopes": []},  # go-httpbin names itself (tier routing)
    {"httpMethod": "GET", "urlPattern": "/anything/*", "scopes": []},
    {"httpMethod": "POST", "urlPattern": "/anything/*", "scopes": []},
    {"httpMethod": "GET", "urlPattern": "/uuid", "authScheme": "None"},
    {"httpMethod": "GET", "urlPattern": "/anything/open/*", "authScheme": "None"},  # unsecured, echoes headers
]

# application name → (subscription state or None, subscription tier)
APPS = {
    "subscribed": ("UNBLOCKED", "Gold"),
    "unsubscribed": (None, None),
    "blocked": ("BLOCKED", "Gold"),
    "prod-only-blocked": ("PROD_ONLY_BLOCKED", "Gold"),
    "on-hold": ("ON_HOLD", "Gold"),
    "rejected": ("REJECTED", "Gold"),
    "throttled-grpc": ("UNBLOCKED", "Tiny"),
    "throttled-http": ("UNBLOCKED", "Tiny"),
    "reload": ("UNBLOCKED", "Gold"),
}
TINY_LIMIT = 3


def requests_per_minute(count: int) -> dict:
    """A policy's `defaultLimit` (ThrottleLimit) in the internal data API's shape."""
    return {"quotaType": "requestCount", "requestCount": {"requestCount": count, "timeUnit": "min", "unitTime": 1}}


def per_minute(name: str, count: int) -> dict:
    """A subscription policy in the internal data API's shape."""
    return {"name": name, "stopOnQuotaReach": True, "defaultLimit": requests_per_minute(count)}


def bandwidth_policy(name: str, amount: int = 1, unit: str = "MB") -> dict:
    """A bandwidth tier, `amount` `unit` a minute, as the data API serves it (SubscriptionValidationDataUtil
    .getThrottleLimitDTO: quotaType `bandwidthVolume`, its limit under `bandwidth`)."""
    limit = {"dataAmount": amount, "dataUnit": unit, "timeUnit": "min", "unitTime": 1}
    return {
        "name": name,
        "stopOnQuotaReach": True,
        "defaultLimit": {"quotaType": "bandwidthVolume", "bandwidth": limit},
    }


def advanced_policy(name: str, count: int, *groups: dict) -> dict:
    """An advanced API policy in the internal data API's shape (`ApiPolicy`): `count` a minute for the requests
    meeting none of its `condition_group`s."""
    return {"name": name, "defaultLimit": requests_per_minute(count), "conditionGroups": list(groups)}


def condition_group(group_id: int, count: int, *conditions: dict) -> dict:
    """An `ApiPolicyConditionGroup`: `count` a minute for the requests meeting every one of its conditions
    (`{conditionType, name, value, isInverted}`)."""
    return {"conditionGroupId": group_id, "defaultLimit": requests_per_minute(count), "condition": list(conditions)}


def api_product(
    uuid: str, api_id: int, name: str, context: str, resources: list[dict], template: str | None = None
) -> dict:
    """An API Product as APIM 4.5's internal data API lists it (carbon-apimgt `SubscriptionValidationDAO`): one more
    API, of `apiType` `APIProduct`, whose URL mappings are the bundled resources (`attachURlMappingDetailsOfApiProduct`,
    the rows `AM_API_PRODUCT_MAPPING` names). `template` None: a product made without a context template, which
    `setDefaultVersionContext` serves at `<context>` + `/1.0.0` with `<context>` as its template and as the default
    version; pass `context` here with the `/1.0.0` already appended, as the list shows it."""
    return {
        "uuid": uuid, "apiId": api_id, "name": name, "version": "1.0.0", "context": context,
        "contextTemplate": template if template is not None else context.removesuffix("/1.0.0"),
        "provider": "admin", "apiType": "APIProduct", "status": "PUBLISHED", "isDefaultVersion": True,
        "policy": "Unlimited", "urlMappings": copy.deepcopy(resources),
    }  # fmt: skip


def operation_policy(flow: str, name: str, version: str, where: str = "", **parameters: str) -> dict:
    """An item of an API's `operationPolicies` as the wso2 control plane writes it (artifacts.Project
    .operation_policies): the API's, or with `where` ("VERB target") an operation's."""
    verb, _, target = where.partition(" ")
    placed = {"verb": verb, "target": target} if where else {}
    return {"flow": flow, "policyName": name, "policyVersion": version, "parameters": parameters, **placed}


def catalog_document(apps: dict[str, tuple[str | None, str | None]] = APPS) -> dict:
    doc = {
        "apis": [
            {
                "uuid": "api-httpbin",
                "apiId": 1,
                "name": "HttpbinAPI",
                "version": "1.0.0",
                "context": "/httpbin/1.0.0",
                "contextTemplate": "/httpbin/{version}",
                "provider": "admin",
                "apiType": "HTTP",
                "status": "PUBLISHED",
                "isDefaultVersion": True,
                "policy": "Unlimited",
                "urlMappings": copy.deepcopy(RESOURCES),
            }
        ],
        "applications": [],
        "subscriptions": [],
        "applicationKeyMappings": [],
        "subscriptionPolicies": [per_minute("Gold", 5000), per_minute("Tiny", TINY_LIMIT)],
    }  # fmt: skip
    for i, (name, (state, tier)) in enumerate(apps.items(), start=1):
        uuid = f"app-{name}"
        doc["applications"].append({"uuid": uuid, "id": i, "name": name, "subName": "admin", "policy": "Unlimited"})
        doc["applicationKeyMappings"].append(
            {"applicationUUID": uuid, "consumerKey": f"client-{name}", "keyType": "PRODUCTION", "keyManager": KM}
        )
        if state:
            doc["subscriptions"].append(
                {"subscriptionUUID": f"sub-{name}", "apiUUID": "api-httpbin", "applicationUUID": uuid,
                 "policyId": tier, "subscriptionState": state}
            )  # fmt: skip
    doc["applicationKeyMappings"].append(
        {
            "applicationUUID": "app-subscribed",
            "consumerKey": "client-other",
            "keyType": "SANDBOX",
            "keyManager": OTHER_KM,
        }
    )
    return doc


# The httpbin API's OpenAPI definition for Schema Validation's tests: `/ip` with one boolean query parameter, and an
# order posted to `/anything/{segment}` as JSON or as a form; the catalog's other resources (`/headers`...) are not
# in it, as an API's definition can lack a resource APIM serves.
HTTPBIN_ORDER = {
    "type": "object",
    "required": ["customer"],
    "properties": {
        "customer": {"type": "string", "maxLength": 8, "pattern": "^[a-z-]+$"},
        "count": {"type": "integer", "minimum": 1},
    },
}
HTTPBIN_DEFINITION = {
    "openapi": "3.0.1",
    "info": {"title": "HttpbinAPI", "version": "1.0.0"},
    "servers": [{"url": "/"}],
    "paths": {
        "/ip": {"get": {"parameters": [{"name": "verbose", "in": "query", "schema": {"type": "boolean"}}],
                        "responses": {"200": {"description": "OK"}}}},
        "/anything/{segment}": {"post": {
            "parameters": [{"name": "segment", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": HTTPBIN_ORDER},
                "application/x-www-form-urlencoded": {"schema": HTTPBIN_ORDER}}},
            "responses": {"200": {"description": "OK"}}}},
    },
}  # fmt: skip


def schema_validated(definition: dict | None = None) -> dict:
    """The sample catalog, its httpbin API with Schema Validation against `definition` (HTTPBIN_DEFINITION)."""
    doc = catalog_document()
    chosen = definition if definition is not None else HTTPBIN_DEFINITION
    doc["apis"][0].update(enableSchemaValidation=True, apiDefinition=copy.deepcopy(chosen))
    return doc


# A GraphQL API's schema (its SDL, as the Publisher portal takes it) and its operations: one URL mapping per root field,
# verb QUERY, MUTATION or SUBSCRIPTION, the field's name for pattern (APIM 4.5's internal data API, `URLMapping`).
STARWARS_SDL = """
type Query {
  hero(id: ID): Character
  heroes(first: Int, after: String): [Character]
  name: String
  secret: String
}
interface Character { id: ID! name: String friends(first: Int): [Character] }
type Droid implements Character { id: ID! name: String friends(first: Int): [Character] primaryFunction: String }
type Human implements Character { id: ID! name: String friends(first: Int): [Character] }
type Mutation { addHero(name: String!): Character }
"""
STARWARS_OPERATIONS = [
    {"httpMethod": "QUERY", "urlPattern": "hero", "scopes": ["scope_headers"], "throttlingPolicy": "Unlimited"},
    {"httpMethod": "QUERY", "urlPattern": "heroes", "scopes": []},
    {"httpMethod": "QUERY", "urlPattern": "name", "authScheme": "None"},
    {"httpMethod": "QUERY", "urlPattern": "secret", "scopes": ["scope_secret"]},
    {"httpMethod": "MUTATION", "urlPattern": "addHero", "scopes": ["scope_write", "scope_admin"]},
]
# The subscription tier of the GraphQL API's tests: its depth and complexity limits (the Admin portal's "GraphQL"
# settings of a subscription policy, `graphQLMaxDepth` and `graphQLMaxComplexity` in the data API).
GRAPHQL_TIER = {**per_minute("GraphQLSilver", 5000), "graphQLMaxDepth": 3, "graphQLMaxComplexity": 20}


def starwars_api(operations: list[dict] | None = None, **api: object) -> dict:
    """A GraphQL API, StarWarsAPI at /swapi/1.0.0 (uuid `api-swapi`), as the data API lists one with its schema."""
    return {
        "uuid": "api-swapi", "apiId": 2, "name": "StarWarsAPI", "version": "1.0.0", "context": "/swapi/1.0.0",
        "provider": "admin", "apiType": "GRAPHQL", "status": "PUBLISHED", "policy": "Unlimited",
        "graphQLSchema": STARWARS_SDL,
        "urlMappings": copy.deepcopy(STARWARS_OPERATIONS if operations is None else operations), **api,
    }  # fmt: skip


def graphql_catalog(operations: list[dict] | None = None, **api: object) -> dict:
    """The sample catalog with StarWarsAPI (`starwars_api`), to which the subscribed application is subscribed on
    GRAPHQL_TIER."""
    doc = catalog_document()
    doc["apis"].append(starwars_api(operations, **api))
    doc["subscriptionPolicies"].append(copy.deepcopy(GRAPHQL_TIER))
    doc["subscriptions"].append({"subscriptionUUID": "sub-swapi", "apiUUID": "api-swapi",
                                 "applicationUUID": "app-subscribed", "policyId": "GraphQLSilver",
                                 "subscriptionState": "UNBLOCKED"})  # fmt: skip
    return doc
