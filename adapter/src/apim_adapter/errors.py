"""WSO2 API gateway error codes, their HTTP statuses and messages (DESIGN.md, status table)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

# The keys of a denial's JSON body, in order, as the handler or sequence APIM answers from writes them.
HANDLER_BODY = ("code", "message", "description")  # the handlers' faults, `_auth_failure_handler_`, `_threat_fault_`
SEQUENCE_BODY = ("code", "type", "message", "description")  # the `fault` and `main` sequences (product-apim v4.5.0)


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    message: str
    description: str
    # How APIM's gateway classifies it in analytics (gateway/handlers/analytics SynapseAnalyticsDataProvider
    # .getFaultType by code range, FaultCodeClassifier): a fault event's errorType and errorMessage.
    fault_category: str
    fault_subcategory: str
    body: tuple[str, ...] = HANDLER_BODY
    body_type: str = ""  # the body's "type", where it has one (SEQUENCE_BODY: "Status report")


AUTHENTICATION = ("AUTH", "AUTHENTICATION_FAILURE")
AUTHORIZATION = ("AUTH", "AUTHORIZATION_FAILURE")
SUBSCRIPTION = ("AUTH", "SUBSCRIPTION_VALIDATION_FAILURE")
AUTHORIZATION_OTHER = ("AUTH", "OTHER")  # an AUTH code getAuthFaultSubCategory names no subcategory for
STATUS_REPORT = (SEQUENCE_BODY, "Status report")

# The authentication failures: APIAuthenticationHandler.handleAuthFailure answers through `_auth_failure_handler_`
# with the code, APISecurityConstants.getAuthenticationFailureMessage of it, and the authenticator's words
# (getFailureMessageDetailDescription: some codes add a sentence). The descriptions below are JWTValidator's, the
# most common; `described` gives the others (an opaque token's, an API key's, a user's: decision.py).
SUBSCRIPTION_REFUSED = "User is NOT authorized to access the Resource. API Subscription validation failed."
MISSING_WORDS = ("Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer "
                 "ACCESS_TOKEN' or 'Authorization : Basic ACCESS_TOKEN' or '{api_key_header} : API_KEY'")  # fmt: skip
_CODES = [
    ErrorCode("900901", 401, "Invalid Credentials",
              "Invalid Credentials. Make sure you have provided the correct security credentials", *AUTHENTICATION),
    # getError: no authenticator found a credential ("Invalid Credentials"), and the three headers APIM takes
    # (`missing_credentials`: the API key's header as configured).
    ErrorCode("900902", 401, "Missing Credentials", MISSING_WORDS.format(api_key_header="ApiKey"), *AUTHENTICATION),
    # APISecurityConstants has it, but APIM 4.5's gateway answers no expired credential with it: JWTValidatorImpl
    # .validateToken, JWTValidator.checkTokenExpiration, ApiKeyAuthenticatorUtils.checkTokenExpired and the key
    # manager's validation all answer 900901 (tokens/authenticator.py, `expired`). In the table; nothing answers it.
    ErrorCode("900903", 401, "Access Token Expired",
              "Access Token Expired. Renew the access token and try again", *AUTHENTICATION),
    ErrorCode("900904", 401, "Access Token Inactive",
              "Access Token Inactive. Generate a new access token and try again", *AUTHENTICATION),
    # A subscription refused: the key manager's validation status, in JWTValidator's words whatever it is.
    ErrorCode("900907", 401, "The requested API is temporarily blocked", SUBSCRIPTION_REFUSED, *SUBSCRIPTION),
    ErrorCode("900908", 403, "Resource forbidden ", SUBSCRIPTION_REFUSED, *SUBSCRIPTION),  # its blank is APIM's
    # 401, not 403: APIAuthenticationHandler.handleAuthFailure answers 403 only for 900906, 900908, 900910 and 900914,
    # every other authentication failure 401 with its challenge (and `_auth_failure_handler_` keeps that status).
    ErrorCode("900909", 401, "The subscription to the API is inactive", SUBSCRIPTION_REFUSED, *SUBSCRIPTION),
    # `scope_refused` names the resource, as JWTValidator.validateScopes does.
    ErrorCode("900910", 403, "The access token does not allow you to access the requested resource",
              "User is NOT authorized to access the Resource. Scope validation failed.", *AUTHORIZATION),
    # The key manager's validation (AbstractKeyValidationHandler.hasTokenRequiredAuthLevel, opaque tokens only): an
    # application's token on a resource for users' tokens (`Application_User`), or a user's on one for applications'.
    ErrorCode("900905", 401, "Incorrect Access Token Type is provided", "Incorrect Access Token Type is provided",
              *AUTHORIZATION),
    # JWTValidator.validateAudiences: a JWT none of whose `aud` the API's audiences name (APISecurityConstants
    # API_OAUTH_INVALID_AUDIENCES; its description after the message, getFailureMessageDetailDescription).
    ErrorCode("900914", 403, "Access Denied", "Access Denied. The access token does not allow you to access the "
              "requested resource", *AUTHORIZATION_OTHER),
    # APIM's JWT claim based access validator policy (gateway/mediators/ClaimBasedResourceAccessValidationMediator,
    # APISecurityConstants): a claim that differs. Its 900913, a claim missing, names the claim (mediation.py).
    ErrorCode("900912", 403, "Claim Mismatch", "The claim configured in the system and the claim provided in the "
              "token do not align. Please ensure the claims match.", *AUTHORIZATION_OTHER),
    # APIM's "Validate Request with OPA" policy (wso2-synapse mediators/opa OPASecurityException's codes, answered by
    # product-apim v4.5.0's `_opa_policy_failure_handler_` sequence: `{"code", "message"}`, no description; its
    # message as spelt). Outside the AUTH range getFaultType knows: OTHER, unclassified.
    ErrorCode("902012", 403, "Forbidden", "", "OTHER", "UNCLASSIFIED", ("code", "message")),
    ErrorCode("902011", 500, "Internal Sever Error", "", "OTHER", "UNCLASSIFIED", ("code", "message")),
    # A path no API serves: Synapse's `main` sequence (product-apim v4.5.0 sequences/main.xml).
    ErrorCode("404", 404, "Not Found", "The requested resource is not available.", "OTHER", "RESOURCE_NOT_FOUND",
              *STATUS_REPORT),
    # A path the API serves, with another method: CORSRequestHandler.handleResourceNotFound (engaged with CORS)
    # answers 405 through the `fault` sequence (APIMgtGatewayConstants.METHOD_NOT_FOUND_ERROR_MSG).
    ErrorCode("405", 405, "Runtime Error", "Method not allowed for given API resource", "OTHER",
              "METHOD_NOT_ALLOWED", *STATUS_REPORT),
    # A blocked API: APIStatusHandler.handleBlockedAPIStatus runs `_api_blocked_sequence_` (product-apim v4.5.0
    # sequences/_block_api_handler_.xml), whose body has `"type": "API blocked"` and no message; the message is kept
    # (every denial's body has one, DESIGN.md). Outside every range getFaultType knows: OTHER, and no subcategory the
    # classifier names.
    ErrorCode("700700", 503, "API blocked", "This API has been blocked temporarily. Please try again later or contact "
              "the system administrators.", "OTHER", "UNCLASSIFIED", SEQUENCE_BODY, "API blocked"),
    # Throttling, deny policies and burst control: the codes, messages and descriptions APIM's gateway answers with
    # (ThrottleHandler.handleThrottleOut, APIThrottleConstants; gateway/handlers/throttling). The quotas' add when
    # the client may call again (render.NEXT_ACCESS).
    ErrorCode("900800", 429, "Message throttled out", "You have exceeded your quota",
              "THROTTLED", "API_LEVEL_LIMIT_EXCEEDED"),
    # An API's backend throughput reached (its hard limit): 503, "as service not being available".
    ErrorCode("900801", 503, "API Limit Reached", "API not accepting requests", "THROTTLED", "HARD_LIMIT_EXCEEDED"),
    ErrorCode("900802", 429, "Message throttled out", "You have exceeded your quota",
              "THROTTLED", "RESOURCE_LEVEL_LIMIT_EXCEEDED"),
    ErrorCode("900803", 429, "Message throttled out", "You have exceeded your quota",
              "THROTTLED", "APPLICATION_LEVEL_LIMIT_EXCEEDED"),
    ErrorCode("900804", 429, "Message throttled out", "You have exceeded your quota",
              "THROTTLED", "SUBSCRIPTION_LIMIT_EXCEEDED"),
    ErrorCode("900805", 403, "Message blocked",
              "You have been blocked from accessing the resource", "THROTTLED", "BLOCKED"),
    ErrorCode("900807", 429, "Message throttled out", "You have exceeded your quota",
              "THROTTLED", "BURST_CONTROL_LIMIT_EXCEEDED"),
    ErrorCode("900809", 429, "Message throttled out",
              "You have exceeded your application burst limit quota", "THROTTLED",
              "APPLICATION_BURST_CONTROL_LIMIT_EXCEEDED"),
    # GraphQL APIs (common/gateway GraphQLConstants, answered by product-apim v4.5.0's `_graphql_failure_handler_`
    # sequence): a document GraphQLAPIHandler cannot take (422, with why: `graphql_invalid`), and one deeper or more
    # complex than the subscription tier allows (GraphQLQueryAnalysisHandler: 400; in getFaultType's THROTTLED range,
    # FaultCodeClassifier's QUERY_TOO_DEEP and QUERY_TOO_COMPLEX).
    ErrorCode("900422", 422, "INVALID QUERY", "Invalid query parameter", "OTHER", "UNCLASSIFIED"),
    ErrorCode("900820", 400, "QUERY TOO DEEP", "[maximum query depth exceeded]", "THROTTLED", "QUERY_TOO_DEEP"),
    ErrorCode("900821", 400, "QUERY TOO COMPLEX", "[maximum query complexity exceeded]", "THROTTLED",
              "QUERY_TOO_COMPLEX"),
    # OAuthAuthenticator: a call none of whose GraphQL fields is an operation of the API (APIKeyValidator
    # .findMatchingVerb finds no URL mapping), before any credential is looked at.
    ErrorCode("900906", 403, "No matching resource found in the API for the given request",
              "No matching resource found in the API for the given request", *AUTHORIZATION_OTHER),
]  # fmt: skip

CODES = {c.code: c for c in _CODES}

INVALID = CODES["900901"]
MISSING = CODES["900902"]
INACTIVE = CODES["900904"]
BLOCKED = CODES["900907"]
FORBIDDEN = CODES["900908"]
SUBSCRIPTION_INACTIVE = CODES["900909"]
SCOPE = CODES["900910"]
CLAIM_MISMATCH = CODES["900912"]
AUDIENCE = CODES["900914"]
INCORRECT_TOKEN_TYPE = CODES["900905"]
OPA_REFUSED = CODES["902012"]
OPA_FAILED = CODES["902011"]
NOT_FOUND = CODES["404"]
# A path of the API that none of its resources serves, with any method: CORSRequestHandler.handleResourceNotFound
# (engaged with CORS) answers 404 through the `fault` sequence (APIMgtGatewayConstants.RESOURCE_NOT_FOUND_ERROR_MSG).
RESOURCE_NOT_FOUND = ErrorCode("404", 404, "Runtime Error", "No matching resource found for given API Request",
                               "OTHER", "RESOURCE_NOT_FOUND", *STATUS_REPORT)  # fmt: skip
METHOD_NOT_ALLOWED = CODES["405"]
API_BLOCKED = CODES["700700"]
THROTTLED_API = CODES["900800"]
HARD_LIMIT = CODES["900801"]
THROTTLED_RESOURCE = CODES["900802"]
THROTTLED_APPLICATION = CODES["900803"]
THROTTLED_SUBSCRIPTION = CODES["900804"]
DENY_POLICY = CODES["900805"]
BURST_SUBSCRIPTION = CODES["900807"]
BURST_APPLICATION = CODES["900809"]
GRAPHQL_INVALID = CODES["900422"]
GRAPHQL_TOO_DEEP = CODES["900820"]
GRAPHQL_TOO_COMPLEX = CODES["900821"]
NO_MATCHING_OPERATION = CODES["900906"]


@functools.lru_cache(maxsize=1024)  # texts made of the catalog's names and the config: one value each
def described(error: ErrorCode, description: str) -> ErrorCode:
    """`error` with another authenticator's words."""
    return replace(error, description=description)


# The authenticators that throw API_AUTH_FORBIDDEN with its message for words (ApiKeyAuthenticator's subscription
# check, GatewayUtils.validateAPISubscription, whatever the subscription's state; JWTValidator without a consumer
# key; BasicAuthAuthenticator for a user of another tenant).
RESOURCE_FORBIDDEN = described(FORBIDDEN, FORBIDDEN.message)


def scope_refused(resource: str) -> ErrorCode:
    """JWTValidator.validateScopes: the resource (its URI template) named."""
    return described(SCOPE, f"User is NOT authorized to access the Resource: {resource}. Scope validation failed.")


# APISecurityConstants.getFailureMessageDetailDescription: the sentence some codes add after the authenticator's words.
_DETAIL = {
    "900901": "Make sure you have provided the correct security credentials",
    "900903": "Renew the access token and try again",
    "900904": "Generate a new access token and try again",
    "900906": "Check the API documentation and add a proper REST resource path to the invocation URL",
}


def access_failure(error: ErrorCode, context: str, version: str) -> ErrorCode:
    """OAuthAuthenticator for an opaque token the key manager's validation refused (its status `error`)."""
    words = f"Access failure for API: {context}, version: {version} status: ({error.code}) - {error.message}"
    detail = _DETAIL.get(error.code)
    return described(error, f"{words}. {detail}" if detail else words)


def graphql_invalid(why: str) -> ErrorCode:
    """GraphQLAPIHandler.handleFailure: the document refused, with why (not cached: the words are the caller's)."""
    return replace(GRAPHQL_INVALID, description=why)


def graphql_too_deep(depth: int, limit: int) -> ErrorCode:
    """GraphQLQueryAnalysisHandler: the error list of graphql-java's MaxQueryDepthInstrumentation, as a list."""
    return replace(GRAPHQL_TOO_DEEP, description=f"[maximum query depth exceeded {depth} > {limit}]")


def missing_credentials(api_key_header: str) -> ErrorCode:
    """handleAuthFailure's 900902, naming the API key's header (APIConstants.API_KEY_HEADER_DEFAULT where it is
    that one, in any case)."""
    if api_key_header.lower() == "apikey":
        return MISSING
    return described(MISSING, MISSING_WORDS.format(api_key_header=api_key_header))


class Unavailable(Exception):
    """A dependency (key manager, control plane, shared limiter) failed: an error, never a decision.

    The transports turn it into a gRPC UNAVAILABLE (or HTTP 503) so that Envoy's failOpen and
    statusOnError decide what the client sees.
    """
