"""A GraphQL API made in APIM's Publisher (import-graphql-schema, with its operations; complexity values set under
its GraphQL policies) and deployed: the wso2 control plane reads its operations from the internal data API (verbs
QUERY, MUTATION, the root fields' names) and its schema and complexity values from the deployed revision's project
(`Definitions/schema.graphql`, `Definitions/graphql-complexity.json`: harness/apim_double.py after ExportUtils), and
the catalog enforces it as APIM's gateway does (apim_adapter/graphql_api.py)."""

from __future__ import annotations

import json
import time

from apim_adapter import graphql_api
from apim_adapter.catalog import build
from harness.publisher import pull, wso2_config
from harness.sample_catalog import STARWARS_SDL

OPERATIONS = [
    {"target": "hero", "verb": "QUERY", "scopes": []},
    {"target": "heroes", "verb": "QUERY"},
    {"target": "name", "verb": "QUERY", "authType": "None"},
    {"target": "secret", "verb": "QUERY"},
    {"target": "addHero", "verb": "MUTATION"},
]


def import_graphql(publisher, name: str, sdl: str = STARWARS_SDL) -> str:
    properties = {"name": name, "version": "1.0.0", "context": f"/{name.lower()}", "policies": ["Gold"],
                  "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://swapi:8080"}},
                  "operations": OPERATIONS}  # fmt: skip
    parts = {"file": ("schema.graphql", sdl.encode()), "additionalProperties": (None, json.dumps(properties))}
    created = publisher("POST", "/apis/import-graphql-schema", files=parts)
    assert created.status_code == 201, created.text
    assert created.json()["type"] == "GRAPHQL"
    return created.json()["id"]


def test_a_deployed_graphql_api_is_enforced_by_its_operations_schema_and_complexity(
    apim, publisher, credentials, test_ca, tmp_path
):
    api_id = import_graphql(publisher, "StarWars")
    complexity = {"list": [{"type": "Query", "field": "heroes", "complexityValue": 7}]}
    unknown = {"type": "Starship", "field": "length", "complexityValue": 9}  # no type of the schema: dropped
    answer = publisher(
        "PUT", f"/apis/{api_id}/graphql-policies/complexity", json={"list": [*complexity["list"], unknown]}
    )
    assert answer.status_code == 200
    publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    document = pull(cfg).document(time.time())
    [item] = [a for a in document["apis"] if a["uuid"] == api_id]
    assert item["graphQLSchema"] == STARWARS_SDL
    assert item["graphQLComplexity"] == complexity
    catalog = build(document, lenient=True)
    api = catalog.apis[api_id]
    assert api.graphql is not None
    assert sorted(api.graphql.operations) == [
        ("MUTATION", "addhero"), ("QUERY", "hero"), ("QUERY", "heroes"), ("QUERY", "name"), ("QUERY", "secret")
    ]  # fmt: skip
    assert not api.graphql.operations[("QUERY", "name")].secured  # its auth type None
    call = graphql_api.call_of(b'{"query": "{ heroes { id } }"}')
    assert graphql_api.operation(api.graphql.schema, call).complexity == 7 * 1 + 1  # its value, and `id`'s


def test_a_graphql_api_whose_schema_does_not_parse_is_left_out_naming_why(
    apim, publisher, credentials, test_ca, tmp_path
):
    api_id = import_graphql(publisher, "Broken", sdl="type Query {")  # saved unvalidated, as APIM saves it
    publisher.deploy_new_revision(api_id)
    cfg = wso2_config(apim, credentials, test_ca.ca, tmp_path, mutual_tls=False, cors=False)
    catalog = build(pull(cfg).document(time.time()), lenient=True)
    assert api_id not in catalog.apis
    assert any("(Broken).graphQLSchema: not a GraphQL schema" in s for s in catalog.skipped)
