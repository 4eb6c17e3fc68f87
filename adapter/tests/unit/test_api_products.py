"""API Products: resources of one or more APIs bundled under a context of their own and subscribed to apart.

APIM 4.5 serves a product through the internal data API as one more API, with its own `apiId`, context, tier and
the bundled resources (harness/sample_catalog.py `api_product` cites the source). Its gateway validates a product's
calls as any API's (`APIKeyValidator`: the product's own resources; `KeyValidationHandler`: a subscription to the
product's `apiId`), and counts a subscription's quota per application, context and version (`ThrottleHandler`), so
a product's quota is its own. The catalog below is that shape; these tests check that the adapter enforces it as
the gateway does.
"""

from __future__ import annotations

from apim_adapter.analytics import event
from harness.pipeline import InProcess, token
from harness.sample_catalog import KM, RESOURCES, TINY_LIMIT, api_product, catalog_document

PRODUCT = "/bundle/1.0.0"


def with_product(subscribers: dict[str, str], product_context: str = PRODUCT, template: str | None = None) -> dict:
    """The sample catalog plus the product `Bundle` of httpbin's GET /ip and GET /headers, and applications subscribed
    to the product only (application name → subscription tier). `template` as `api_product` takes it."""
    doc = catalog_document()
    taken = [r for r in RESOURCES if r["urlPattern"] in ("/ip", "/headers") and r["httpMethod"] == "GET"]
    doc["apis"].append(api_product("product-bundle", 2, "Bundle", product_context, taken, template))
    next_id = len(doc["applications"]) + 1
    for i, (name, tier) in enumerate(subscribers.items(), start=next_id):
        uuid = f"app-{name}"
        if not any(a["uuid"] == uuid for a in doc["applications"]):
            doc["applications"].append({"uuid": uuid, "id": i, "name": name, "subName": "admin", "policy": "Unlimited"})
            doc["applicationKeyMappings"].append(
                {"applicationUUID": uuid, "consumerKey": f"client-{name}", "keyType": "PRODUCTION", "keyManager": KM}
            )
        doc["subscriptions"].append(
            {"subscriptionUUID": f"sub-{name}-bundle", "apiUUID": "product-bundle", "applicationUUID": uuid,
             "policyId": tier, "subscriptionState": "UNBLOCKED"}
        )  # fmt: skip
    return doc


def test_a_product_subscription_admits_the_products_resources_and_not_the_apis_it_bundles():
    p = InProcess(with_product({"bundled": "Gold"}))
    bundled, api_only = token("bundled"), token("subscribed")
    allowed = p.check(PRODUCT + "/ip", bundled)
    assert allowed.allowed, allowed.reason
    assert (allowed.api.name, allowed.api.api_type, allowed.resource.pattern) == ("Bundle", "APIProduct", "/ip")
    assert p.check("/bundle/headers", bundled).allowed  # the default version, at the context without its version
    # A subscription is to one API or one product (KeyValidationHandler: the subscription of the resolved apiId).
    assert (p.check("/httpbin/1.0.0/ip", bundled).status, p.check("/httpbin/1.0.0/ip", bundled).code) == (403, "900908")
    assert (p.check(PRODUCT + "/ip", api_only).status, p.check(PRODUCT + "/ip", api_only).code) == (403, "900908")
    assert p.check("/httpbin/1.0.0/ip", api_only).allowed


def test_a_product_serves_only_the_resources_it_took_with_their_scopes():
    p = InProcess(with_product({"bundled": "Gold"}))
    not_taken = p.check(PRODUCT + "/uuid", token("bundled"))  # httpbin's open resource, not in the product
    assert (not_taken.status, not_taken.code) == (404, "404")  # as for any API: Synapse's "Not Found"
    assert p.check("/httpbin/1.0.0/uuid").allowed  # still open on the API itself
    without_scope = p.check(PRODUCT + "/ip", token("bundled", scope="scope_headers"))
    assert (without_scope.status, without_scope.code) == (403, "900910")
    assert p.check(PRODUCT + "/headers", token("bundled", scope="scope_headers")).allowed


def test_a_products_subscription_quota_is_counted_apart_from_the_apis():
    """ThrottleHandler.getSubscriptionLevelThrottleKey: application, context, version and tier. (Its other key, by
    product name and provider, needs APIKeyValidationInfoDTO's productName, which nothing in APIM 4.5 sets.)"""
    doc = with_product({"subscribed": "Tiny"})  # the sample's `subscribed`: Gold on httpbin, Tiny on the product
    p = InProcess(doc)
    caller = token("subscribed")
    for _ in range(TINY_LIMIT):
        assert p.check(PRODUCT + "/ip", caller).allowed
    over = p.check(PRODUCT + "/ip", caller)
    assert (over.status, over.code) == (429, "900804")
    assert p.check("/httpbin/1.0.0/ip", caller).allowed  # the API's own subscription is another counter


def test_a_product_made_without_a_context_template_is_served_at_its_context_with_and_without_the_version():
    # setDefaultVersionContext: context `/legacy/1.0.0`, template `/legacy` (no {version}), a default version.
    p = InProcess(with_product({"bundled": "Gold"}, "/legacy/1.0.0", "/legacy"))
    assert p.check("/legacy/1.0.0/ip", token("bundled")).allowed
    assert p.check("/legacy/ip", token("bundled")).allowed


def test_analytics_name_the_product_as_apims_gateway_does():
    p = InProcess(with_product({"bundled": "Gold"}))
    req = p.request(PRODUCT + "/ip", token("bundled"))
    d = p.check(PRODUCT + "/ip", token("bundled"))
    fields = event(req, d, 0.3)
    # SynapseAnalyticsDataProvider.getApi: the product's own uuid, name and stored apiType.
    assert (fields["apiId"], fields["apiName"], fields["apiType"], fields["apiContext"]) == (
        "product-bundle", "Bundle", "APIProduct", PRODUCT)  # fmt: skip
