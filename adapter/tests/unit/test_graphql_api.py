"""What a GraphQL call asks of its API (graphql_api.py).

The depths and complexities marked "graphql-java" are what APIM 4.5's own classes answered: carbon-apimgt 9.31.86's
QueryAnalyzer and FieldComplexityCalculatorImpl over graphql-java 19.11 (the version APIM 4.5.0 pins), run on the
same schema and documents. The cases where this module reads differently from APIM's gateway, on purpose, say so.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from apim_adapter.graphql_api import (
    MAX_COUNT,
    MAX_DESCRIPTION,
    MAX_TOKENS,
    Call,
    Invalid,
    Operation,
    Schema,
    SchemaError,
    call_of,
    complexity_policy,
    operation,
)
from harness.sample_catalog import STARWARS_SDL

pytestmark = pytest.mark.unit

SDL = STARWARS_SDL
POLICY = {"complexity": {"Query": {"hero": 5}, "Character": {"friends": 3}, "Droid": {"primaryFunction": 7}}}


def op(query: str, schema: Schema | None = None, name: str | None = None, **variables) -> Operation:
    answer = operation(schema or Schema.of(SDL), Call(query, name, variables))
    assert isinstance(answer, Operation), answer
    return answer


@pytest.mark.parametrize(
    ("query", "depth"),
    [  # graphql-java: MaxQueryDepthInstrumentation, a root field 1
        ("{ name }", 1),
        ("{ hero { name } }", 2),
        ("{ __typename }", 1),
        ("{ __schema { types { name } } }", 3),
        ("query { ...F } fragment F on Query { hero { friends { name } } }", 3),
        ("{ hero { ... on Droid { primaryFunction } } }", 2),
    ],
)
def test_depth_counts_fields_on_the_longest_path_as_graphql_java_does(query, depth):
    assert op(query).depth == depth


@pytest.mark.parametrize(
    ("query", "complexity"),
    [  # graphql-java + FieldComplexityCalculatorImpl, every field 1
        ("{ hero { name } }", 2),
        ("{ hero { name id } }", 3),
        ("{ heroes(first: 10) { name } }", 20),
        ('{ heroes(first: 10, after: "x") { name } }', 22),
        ("{ hero { friends(first: 2) { name } } }", 5),
        ("{ __schema { types { name } } }", 3),
        ("{ __typename hero { __typename } }", 1),
    ],
)
def test_complexity_multiplies_by_slicing_arguments_as_wso2s_calculator_does(query, complexity):
    assert op(query).complexity == complexity


@pytest.mark.parametrize(
    ("query", "complexity"),
    [  # graphql-java + FieldComplexityCalculatorImpl with POLICY: interface fields by the interface's name
        ("{ hero { name } }", 6),
        ("{ hero { friends(first: 2) { name } } }", 13),
        ("{ hero { ... on Droid { primaryFunction } } }", 12),
    ],
)
def test_the_apis_complexity_policy_prices_its_fields(query, complexity):
    assert op(query, Schema.of(SDL, complexity_policy(json.dumps(POLICY)))).complexity == complexity


def test_a_policy_apims_publisher_wrote_into_the_schema_is_read_from_it():
    encoded = base64.urlsafe_b64encode(json.dumps(POLICY).encode()).decode().rstrip("=")
    marked = SDL + f"type WSO2GraphQLAccessControlPolicy {{\n{encoded}: String\n}}\n"
    assert re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", encoded)  # a GraphQL name, as APIM's needs to be (no '-')
    assert op("{ hero { name } }", Schema.of(marked)).complexity == 6


def test_fields_are_named_not_aliased_once_each_in_first_seen_order():
    assert op("{ a: hero { id } b: heroes { id } a2: hero { id } }").fields == ("hero", "heroes")
    assert op('mutation { addHero(name: "x") { id } }').verb == "MUTATION"


def test_a_field_spread_through_a_fragment_is_a_field_of_the_call():
    # APIM's list skips fragments: "{ name ... on Query { secret } }" names only `name`, so `secret`'s scopes and tier
    # are never asked for (GraphQLProcessorUtil.getNestedLevelOperations). Here it is named.
    assert op("{ name ... on Query { secret } }").fields == ("name", "secret")
    assert op("query { ...F } fragment F on Query { secret }").fields == ("secret",)


def test_a_nested_field_sharing_a_root_fields_name_is_not_a_root_field():
    # APIM's list adds `name` here (a nested field named as Query.name), asking for Query.name's scopes.
    assert op("{ hero { name } }").fields == ("hero",)


def test_introspection_is_no_field_of_the_api():
    assert op("{ __schema { types { name } } __typename }").fields == ()


def test_the_operation_run_is_the_one_operation_name_names():
    # APIM's gateway authorizes the first definition whatever the body's operationName says.
    query = "query A { name } query B { secret }"
    assert op(query, name="B").fields == ("secret",)
    assert operation(Schema.of(SDL), Call(query, None, {})) == Invalid(
        "Must provide operation name if query contains multiple operations."
    )
    assert operation(Schema.of(SDL), Call(query, "C", {})) == Invalid("Unknown operation named 'C'.")


def test_a_slicing_variable_counts_with_its_value():
    # APIM counts `first: $n` as 0 (a literal only), which zeroes the field.
    query = "query($n: Int) { heroes(first: $n) { name } }"
    assert op(query, n=50).complexity == 100
    assert op(query).complexity == 0  # no value: the backend's default returns what the schema gives, 0 here
    assert op("{ heroes(first: -5) { name } }").complexity == 0  # never less than nothing


def test_skipped_selections_do_not_count_and_unsettled_ones_do():
    assert op("{ hero { name } secret @skip(if: true) }").fields == ("hero",)
    query = "query($x: Boolean!) { hero { name } secret @include(if: $x) }"
    assert op(query, x=False).fields == ("hero",)
    assert op(query, x=True).fields == ("hero", "secret")
    assert op(query).fields == ("hero", "secret")  # no value given: the backend refuses or runs it


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("{ hero { foo } }", "Cannot query field 'foo' on type 'Character'."),
        ("{ hero }", "Field 'hero' of type 'Character' must have a selection of subfields."),
        ("{", "Invalid Syntax : Syntax Error: Expected Name, found <EOF>."),
    ],
)
def test_a_document_the_schema_refuses_is_invalid_with_why(query, why):
    answer = operation(Schema.of(SDL), Call(query, None, {}))
    assert isinstance(answer, Invalid)
    assert why in answer.description


def test_a_document_of_too_many_tokens_is_refused_before_it_is_read_whole():
    answer = operation(Schema.of(SDL), Call("{" + " name" * (MAX_TOKENS + 1) + " }", None, {}))
    assert isinstance(answer, Invalid)
    assert "tokens" in answer.description


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"query": "{ name }"}', Call("{ name }", None, {})),
        (b'{"query": "query A { name }", "operationName": "A", "variables": {"x": 1}}',
         Call("query A { name }", "A", {"x": 1})),
        (b'{"query": "{ name }", "operationName": null, "variables": null}', Call("{ name }", None, {})),
        (b"[]", Invalid("Invalid query parameter")),
        (b'{"variables": {}}', Invalid("Invalid query parameter")),
        (b'{"query": 5}', Invalid("Invalid query parameter")),
        (b"query { name }", Invalid("Invalid query parameter: the body is not a JSON object")),
        (b'{"query": "{ name }", "variables": []}', Invalid("Invalid query parameter: variables is not an object")),
    ],
)  # fmt: skip
def test_a_calls_body_gives_its_document_name_and_variables(body, expected):
    assert call_of(body) == expected


@pytest.mark.parametrize(
    ("sdl", "why"),
    [
        ("type Query {", "not a GraphQL schema"),
        ("type Query { a: Missing }", "Missing"),
        ("type Query { a: String }\ntype WSO2GraphQLAccessControlPolicy { x: String }", "base64url"),
    ],
)
def test_a_schema_the_adapter_cannot_serve_names_why(sdl, why):
    with pytest.raises(SchemaError, match=why):
        Schema.of(sdl)


@pytest.mark.parametrize(
    ("policy", "why"),
    [("[]", 'no "complexity"'), ('{"complexity": {"Query": {"a": "1"}}}', "not an integer"), ("{", "not JSON")],
)
def test_a_complexity_policy_that_is_not_apims_shape_names_why(policy, why):
    with pytest.raises(SchemaError, match=why):
        complexity_policy(policy)


def test_why_a_document_is_refused_is_cut_however_long_what_it_quotes():
    answer = operation(Schema.of(SDL), Call("{ " + "x" * 100_000 + " }", None, {}))
    assert isinstance(answer, Invalid)
    assert answer.description.startswith("Cannot query field 'xxx")
    assert len(answer.description) == MAX_DESCRIPTION


def test_a_document_nested_past_what_is_read_is_refused_never_a_crash():
    for query in (
        "{ hero { " + "friends { " * 300 + "id" + " }" * 300 + " } }",  # the parser's bound
        "query { ...F0 } "
        + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(300))
        + " fragment F300 on Query { name }",  # the validator's
    ):
        assert isinstance(operation(Schema.of(SDL), Call(query, None, {})), Invalid)


def test_fragments_spread_twice_at_each_level_are_counted_without_being_read_exponentially():
    """Forty fragments, each spreading the next under two fields: 2^40 paths for a traversal that expands them, read
    here once per fragment and type. Every path counts: graphql-java's accounting counts fewer on such a document
    (42 against 447 at six levels, seen with harness/graphql_java.py), and counting more is the side a gateway errs
    on."""
    fragments = " ".join(f"fragment F{i} on Character {{ a: friends {{ ...F{i + 1} }} b: friends {{ ...F{i + 1} }} }}"
                         for i in range(40))  # fmt: skip
    started = time.process_time()
    answer = op("query { hero { ...F0 } } " + fragments + " fragment F40 on Character { id }")
    assert time.process_time() - started < 1.0  # ~0.01 s; expanded, it would be days
    assert (answer.depth, answer.complexity) == (42, MAX_COUNT)  # the sum stops at a Java int's maximum
