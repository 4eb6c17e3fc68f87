"""What APIM's policies that read a request's body cost a call, in process: the Regex Policy (its header, path and
query search, and its body search by size and Content-Type) and the JSON Validator, against the same decision on a
resource without them.

    .venv/bin/python -m bench.body_policies

µs per call, best of several repeats: the whole decision from memory of a cached JWT on a resource without the
policies (`first_step`, a whole check; such an allow is then prepared, and a warm check costs less still:
`bench.hotpath`); the same on a resource with the Regex Policy and no body (it searches the headers, path and
query), and with a JSON, a form, a multipart upload (fields and a file) and a binary body of 1 KiB and 64 KiB, which
it reads as APIM's message builder does (payload.py, axis2_multipart.py) and searches first; and on a resource with
the JSON Validator, with JSON bodies of 1 KiB and of the most its default-spec limits let through
(json_protector.py: an array's every token counts); and on a resource with the XML Validator, with XML bodies of 10
and of 100 elements (the most its fixed limits let through), read as Woodstox reads them (xml_protector.py); and on
an API with APIM's Schema Validation, whose definition asks for an order of items (schema_validation.py), with JSON
bodies of 8 and 124 items and form bodies of 1 and 64 KiB (handed over as APIM's gateway hands them,
axis2_forms.py). A guarded call is never a prepared allow: every one pays its row.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import urllib.parse

from apim_adapter.decision import CheckInput, first_step
from apim_adapter.mediation import RequestBody
from harness.pipeline import InProcess, token
from harness.sample_catalog import catalog_document
from harness.sample_catalog import operation_policy as policy

from .hotpath import best_us, print_rows

REPEATS = 5
GUARDED, UNGUARDED = "/httpbin/1.0.0/anything/orders", "/httpbin/1.0.0/anything/open/orders"
VALIDATED = "/httpbin/1.0.0/anything/json/orders"
XML_VALIDATED = "/httpbin/1.0.0/anything/xml/orders"
SCHEMA_VALIDATED = "/orders/1.0.0/anything/orders"
ITEM_SCHEMA = {"type": "object", "required": ["sku", "quantity"],
               "properties": {"sku": {"type": "string", "pattern": "^sku-[0-9]{4}$"},
                              "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                              "note": {"type": "string", "maxLength": 64}}}  # fmt: skip
ORDERS_DEFINITION = {
    "openapi": "3.0.1",
    "info": {"title": "OrdersAPI", "version": "1.0.0"},
    "paths": {"/anything/{segment}": {"post": {
        "parameters": [{"name": "segment", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["customer", "items"],
            "properties": {"customer": {"type": "string"}, "items": {"type": "array", "items": ITEM_SCHEMA}}}},
            # A form's required fields are never found on APIM (axis2_forms.py): this one requires none.
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "properties": {"customer": {"type": "string"}}}}}},
        "responses": {"200": {"description": "OK"}}}}},
}  # fmt: skip
ITEM = {"sku": "sku-0000", "quantity": 3, "note": "gift wrap, deliver after six"}


def order(items: int) -> str:
    return json.dumps({"customer": "alice", "items": [ITEM] * items}, indent=2)


def xml_order(items: int) -> bytes:
    """An order of `items` items as XML: 1 + `items` elements, two attributes and text each."""
    item = '  <item sku="sku-0000" quantity="3">gift wrap, deliver after six</item>\n'
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<order customer="alice">\n{item * items}</order>\n'.encode()


MULTIPART, BOUNDARY = "multipart/form-data", "----WebKitFormBoundary7MA4YWxkTrZu0gW"  # a browser's


def upload(size: int) -> bytes:
    """A browser's upload of about `size` bytes: three fields, then a text file of the rest."""
    parts = [f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
             for name, value in (("customer", "alice"), ("order", "1042"), ("note", "deliver after six"))]  # fmt: skip
    head = b'Content-Disposition: form-data; name="invoice"; filename="invoice.txt"\r\nContent-Type: text/plain\r\n\r\n'
    parts.append(head + b"gift wrap, deliver after six\n" * max(1, (size - 400) // 29))
    return (
        b"".join(b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n" for part in parts)
        + b"--"
        + BOUNDARY.encode()
        + b"--\r\n"
    )


def bodies(size: int) -> dict[str, tuple[str, bytes]]:
    """A clean body of about `size` bytes per Content-Type: what an order API takes."""
    as_json = order(max(1, size * 10 // len(order(10))))
    form = urllib.parse.urlencode([(f"item{i}", f"sku-{i} quantity {i % 7 + 1}") for i in range(size // 31)])
    return {
        "application/json": ("application/json", as_json.encode()),
        "application/x-www-form-urlencoded": ("application/x-www-form-urlencoded", form.encode()),
        "multipart/form-data": (f"{MULTIPART}; boundary={BOUNDARY}", upload(size)),
        "application/octet-stream": ("application/octet-stream", os.urandom(size)),
    }


def main() -> int:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = [
        policy("request", "regexPolicy", "v1", "POST /anything/*"),
        policy("request", "jsonValidator", "v1", "POST /anything/json/*", maxArrayElementCount="999"),
        policy("request", "xmlValidator", "v1", "POST /anything/xml/*"),
    ]
    for pattern in ("/anything/open/*", "/anything/json/*", "/anything/xml/*"):
        doc["apis"][0]["urlMappings"].append({"httpMethod": "POST", "urlPattern": pattern, "scopes": []})
    orders = copy.deepcopy(doc["apis"][0])
    orders.update(uuid="api-orders", apiId=99, name="OrdersAPI", context="/orders/1.0.0", isDefaultVersion=False,
                  operationPolicies=[], enableSchemaValidation=True, apiDefinition=ORDERS_DEFINITION,
                  urlMappings=[{"httpMethod": "POST", "urlPattern": "/anything/{segment}", "scopes": []}])  # fmt: skip
    doc["apis"].append(orders)
    doc["subscriptions"].append({**doc["subscriptions"][0], "subscriptionUUID": "sub-orders", "apiUUID": "api-orders",
                                 "apiId": 99})  # fmt: skip
    for sub in doc["subscriptions"]:
        sub["policyId"] = "Unlimited"  # counted on every call, never reached
    p = InProcess(doc)
    headers = {"authorization": f"Bearer {token()}", "user-agent": "bench", "content-type": "application/json"}

    def decided(path: str, body: RequestBody, number: int) -> float:
        sent = {**headers, "content-type": body.content_type} if body.content_type else headers
        req = CheckInput("POST", "gw", path, sent, body=body)
        assert first_step(p.pipeline.steps(req, time.time())).allowed  # the body is clean: allowed
        return best_us(lambda: first_step(p.pipeline.steps(req, time.time())), repeats=REPEATS, number=number)

    rows = {
        "decision from memory, resource without the policy": decided(UNGUARDED, RequestBody(), 2000),
        "guarded resource, no body (headers, path and query searched)": decided(GUARDED, RequestBody(), 2000),
    }
    for size, number in ((1024, 1000), (64 << 10, 50)):
        for name, (content_type, body) in bodies(size).items():
            label = f"guarded, {len(body) / 1024:.0f} KiB {name} body"  # about `size`
            rows[label] = decided(GUARDED, RequestBody(body, True, content_type), number)
    # Inside an array each of an item's 8 tokens counts: 124 items are the most 999 elements let through.
    for items, number in ((8, 1000), (124, 100)):
        body = order(items).encode()
        label = f"JSON Validator, {len(body) / 1024:.1f} KiB JSON body ({items} items)"
        rows[label] = decided(VALIDATED, RequestBody(body, True, "application/json"), number)
    for items, number in ((9, 1000), (99, 200)):
        body = xml_order(items)
        label = f"XML Validator, {len(body) / 1024:.1f} KiB XML body ({items + 1} elements)"
        rows[label] = decided(XML_VALIDATED, RequestBody(body, True, "application/xml"), number)
    for items, number in ((8, 1000), (124, 100)):
        body = order(items).encode()
        label = f"Schema Validation, {len(body) / 1024:.1f} KiB JSON order ({items} items)"
        rows[label] = decided(SCHEMA_VALIDATED, RequestBody(body, True, "application/json"), number)
    for size, number in ((1024, 1000), (64 << 10, 50)):
        _, body = bodies(size)["application/x-www-form-urlencoded"]
        label = f"Schema Validation, {len(body) / 1024:.0f} KiB form order"
        rows[label] = decided(SCHEMA_VALIDATED, RequestBody(body, True, "application/x-www-form-urlencoded"), number)
    # What a caller can make each cost with a 1 MB body its policy lets through: the work grows with the body the
    # gateway includes (its maxRequestBytes), not with the policy's limits.
    worst = {
        "Regex Policy, 1 MB JSON of short strings": (GUARDED, "application/json", b"[" + b'"ab",' * 200_000 + b'"ab"]'),
        # After a nested array's end JSONAnalyzer counts no array element: the rest of the array is unlimited.
        "JSON Validator, 1 MB JSON array past a nested one": (
            VALIDATED, "application/json", b'{"k": [[1]' + b",1" * 500_000 + b"]}",
        ),
        "XML Validator, 1 MB XML of entity references": (
            XML_VALIDATED, "application/xml", b"<a>" + b"&amp;" * 200_000 + b"</a>",
        ),
        # Each part's Content-Disposition is read parameter by parameter (commons-fileupload's ParameterParser).
        "Regex Policy, 1 MB multipart, 2,000 parameters a part": (
            GUARDED, f"{MULTIPART}; boundary=b",
            (b"--b\r\nContent-Disposition: form-data; name=a; " + b"x=y; " * 2000 + b"\r\n\r\n1\r\n") * 98 + b"--b--",
        ),
        # Every item is validated against the item's schema: the definition sets no maxItems.
        "Schema Validation, 1 MB JSON order of items": (
            SCHEMA_VALIDATED, "application/json", order(13_000).replace(" ", "").replace("\n", "").encode(),
        ),
        # Each field is read, decoded, checked as XML and written as JSON (axis2_forms.py) before the validator.
        "Schema Validation, 1 MB form of short escaped fields": (
            SCHEMA_VALIDATED, "application/x-www-form-urlencoded", b"&".join([b"a=%C3%A9+1"] * 100_000),
        ),
    }  # fmt: skip
    for label, (path, content_type, body) in worst.items():
        rows[f"{label} ({len(body) / 1e6:.1f} MB)"] = decided(path, RequestBody(body, True, content_type), 3)
    print_rows(rows, width=64)
    return 0


if __name__ == "__main__":
    sys.exit(main())
