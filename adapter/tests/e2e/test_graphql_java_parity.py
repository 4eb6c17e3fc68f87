"""graphql_api.py reads GraphQL documents as graphql-java 19.11 does for APIM 4.5's gateway (harness/graphql_java.py:
its parser, its validator as QueryValidator runs it, and its QueryTraverser with MaxQueryDepthInstrumentation's
depth and MaxQueryComplexityInstrumentation's sum over WSO2's FieldComplexityCalculatorImpl): on documents written
for the cases that matter and on documents made at random over the sample schema, the same verdict — refused or
not — and, where valid, the same depth and complexity. The documents are of one operation and without variables,
where graphql-java's reading is APIM's; where the adapter reads a call otherwise on purpose (an operation named in
the body, a slicing variable's value), graphql_api.py's unit tests say so."""

from __future__ import annotations

import random

import pytest

from apim_adapter import graphql_api
from harness import graphql_java
from harness.sample_catalog import STARWARS_SDL

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not graphql_java.available(), reason="needs javac and .tools/graphql-java (make setup)"),
]

COMPLEXITY = {"Query": {"hero": 5, "heroes": 2}, "Character": {"friends": 3}, "Droid": {"primaryFunction": 7}}

WRITTEN = [
    "{ name }",
    "{ hero { name } }",
    "{ __typename }",
    "{ __typename hero { __typename } }",
    "{ __schema { types { name fields { name } } } }",
    '{ __type(name: "Droid") { name } }',
    "{ hero { friends(first: 2) { name friends { name } } } }",
    '{ heroes(first: 10, after: "x") { name } }',
    "{ heroes(last: 3, first: 4) { id } }",
    "{ heroes(first: 0) { id } }",
    "{ a: hero { id } b: hero { id } }",
    "{ hero { id } hero { id } }",
    "query { ...F } fragment F on Query { hero { friends { name } } }",
    "{ hero { ... on Droid { primaryFunction } ... on Human { name } } }",
    "{ hero { ...C } } fragment C on Character { name ... on Droid { primaryFunction } }",
    "{ name ... on Query { secret } }",
    "{ hero { ...C ...C } } fragment C on Character { name friends(first: 2) { id } }",
    "{ hero @skip(if: true) { name } name }",
    "{ hero @include(if: false) { name } }",
    'mutation { addHero(name: "R2") { id friends(first: 1) { id } } }',
    "{ hero { foo } }",
    "{ hero }",
    "{ name { x } }",
    '{ heroes(first: "ten") { id } }',
    "query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }",
    "fragment F on Query { name } { name }",
    "{ hero { ... on Query { name } } }",
    "{",
    "{ hero(id: 1, id: 2) { id } }",
    "mutation { addHero { id } }",
]

FIELDS = {  # type → (field, arguments it may take, its type if composite)
    "Query": [("hero", ['id: "1"'], "Character"), ("heroes", ["first: 3", 'after: "a"', "last: 2"], "Character"),
              ("name", [], None), ("secret", [], None), ("__typename", [], None)],
    "Character": [("id", [], None), ("name", [], None), ("friends", ["first: 2", "first: 5"], "Character"),
                  ("__typename", [], None)],
    "Droid": [("primaryFunction", [], None), ("id", [], None), ("friends", ["first: 4"], "Character")],
    "Human": [("name", [], None), ("friends", [], "Character")],
}  # fmt: skip


def random_document(chosen: random.Random) -> str:
    """A query over the sample schema: fields, aliases, slicing and other arguments, inline fragments on the
    character types, directives; now and then a field the type lacks or a composite field without a selection."""

    def selection(type_name: str, depth: int) -> str:
        parts = []
        for _ in range(chosen.randint(1, 3)):
            roll = chosen.random()
            if type_name == "Character" and roll < 0.15 and depth < 5:
                on = chosen.choice(["Droid", "Human", "Character"])
                parts.append(f"... on {on} {{ {selection(on, depth)} }}")
                continue
            if roll < 0.03:
                parts.append("unknownField")
                continue
            name, arguments, composite = chosen.choice(FIELDS[type_name])
            text = f"a{chosen.randint(0, 9)}: {name}" if chosen.random() < 0.2 else name
            if arguments and chosen.random() < 0.6:
                text += f"({chosen.choice(arguments)})"
            if chosen.random() < 0.05:
                text += f" @include(if: {chosen.choice(['true', 'false'])})"
            if composite and depth < 5 and chosen.random() > 0.03:
                text += f" {{ {selection(composite, depth + 1)} }}"
            parts.append(text)
        return " ".join(parts)

    return "{ " + selection("Query", 1) + " }"


def test_documents_are_read_as_graphql_java_reads_them_for_apims_gateway(tmp_path):
    chosen = random.Random(20261206)
    documents = WRITTEN + [random_document(chosen) for _ in range(1500)]
    schema = graphql_api.Schema.of(STARWARS_SDL, COMPLEXITY)
    answers = graphql_java.verdicts(STARWARS_SDL, COMPLEXITY, documents, tmp_path)
    differ, valid = [], 0
    for document, java in zip(documents, answers, strict=True):
        ours = graphql_api.operation(schema, graphql_api.Call(document, None, {}))
        refused = java.syntax or java.invalid > 0
        if isinstance(ours, graphql_api.Invalid) != refused:
            differ.append(f"{document}: graphql-java {java}, ours {ours}")
        elif not refused:
            valid += 1
            assert isinstance(ours, graphql_api.Operation)
            if (ours.depth, ours.complexity) != (java.depth, java.complexity):
                differ.append(f"{document}: graphql-java {java.depth}/{java.complexity}, ours "
                              f"{ours.depth}/{ours.complexity}")  # fmt: skip
    assert not differ, f"{len(differ)} of {len(documents)} differ:\n" + "\n".join(differ[:20])
    assert valid > len(documents) // 2  # most documents are valid ones, whose depth and complexity are compared
    assert valid < len(documents)  # and some refused, whose verdict is
