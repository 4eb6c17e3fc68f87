"""GraphQL APIs: what a call over HTTP asks of the API, read as APIM 4.5's gateway reads it, where that is safe.

APIM's gateway reads a GraphQL API's call in three handlers (carbon-apimgt 9.31.86, the version APIM 4.5.0 pins):
`GraphQLAPIHandler` takes the document from the body's `query`, validates it against the API's schema with
graphql-java 19's `Validator` (every rule of the specification) and names the operation's root fields, which are
then the call's "resources" (`API_ELECTED_RESOURCE`, the URL mappings' `urlPattern` under the verb `QUERY`,
`MUTATION` or `SUBSCRIPTION`); the authenticator checks each field's scopes and the throttle handler each field's
tier; `GraphQLQueryAnalysisHandler` refuses a document deeper or more complex than the subscription tier allows
(`QueryAnalyzer`, with graphql-java's `MaxQueryDepthInstrumentation` and `MaxQueryComplexityInstrumentation` and
WSO2's `FieldComplexityCalculatorImpl`).

Where the gateway authorizes less than its backend then runs, this module reads what the backend runs instead (each
a denial where APIM's gateway would let the call through, never the reverse):

- the operation is the one the body's `operationName` names (the only one, without a name), as a GraphQL server
  executes it (GraphQL over HTTP, "operationName"); the gateway authorizes the document's first definition;
- root fields selected through fragments (`...F`, `... on Query`) are fields of the call; the gateway's list skips
  fragments, so a field spread through one escapes its scopes and tier (`GraphQLProcessorUtil
  .getNestedLevelOperations`: `if (!(selection instanceof Field)) continue`);
- a slicing argument (`first`, `last`, `limit`) given by a variable counts with the variable's value; the gateway
  counts it 0, so `first: $n` zeroes a field's complexity (`FieldComplexityCalculatorImpl.getArgumentsValue`);
  and a negative one counts 0 rather than making the sum smaller;
- the limits hold for a document with several operations and for required variables, where the gateway's
  execution-based analysis fails instead (wso2/api-manager#3300: it passes no variables).

The gateway's own slip the other way is not copied either: its list also names nested fields that happen to share
a root field's name (a `name` inside `hero`, where `Query.name` exists), which asks for that root field's scopes.

Everything here is pure and bounded: the document's size and tokens are capped as graphql-java's parser caps them
(`ParserOptions`: 1,048,576 characters, 15,000 tokens), and what a document asks is computed once per distinct
document by the caller's cache, not here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import graphql
from graphql import language as ast

# graphql-java 19's parser defaults (graphql/parser/ParserOptions.java), which APIM's gateway parses with.
MAX_CHARACTERS = 1 << 20
MAX_TOKENS = 15_000

# The validation rule OverlappingFieldsCanBeMerged compares every two fields of a selection set that answer to the same
# name and every two fragments spread in it: quadratic in what the client writes, in graphql-java as in graphql-core
# (~8 µs a comparison here: 500 copies of one field took a second). A document asking more comparisons than this is
# refused before it is validated; no client's real document comes near it.
MAX_VALIDATION_PAIRS = 10_000

# The verbs APIM's URL mappings give a GraphQL API's fields (APIConstants.GRAPHQL_SUPPORTED_METHODS).
VERBS = {"query": "QUERY", "mutation": "MUTATION", "subscription": "SUBSCRIPTION"}

# FieldComplexityCalculatorImpl: the arguments whose value multiplies a field's complexity (GraphQLConstants
# .QUERY_COMPLEXITY_SLICING_ARGS, compared lower-cased).
SLICING_ARGUMENTS = frozenset({"first", "last", "limit"})

# The marker type APIM's publisher appends to the schema it deploys, whose one field's name is the API's complexity
# policy, base64url without padding (GraphQLSchemaDefinition.buildSchemaWithAdditionalInfo,
# APIConstants.GRAPHQL_ACCESS_CONTROL_POLICY). Its other marker types (WSO2ScopeOperationMapping_* and the like)
# repeat what the URL mappings say and are read from those.
ACCESS_CONTROL_POLICY = "WSO2GraphQLAccessControlPolicy"
MARKER_PREFIX = "WSO2"

# No larger than a Java int: graphql-java's sums are ints (an overflow there wraps; here the sum stops growing).
MAX_COUNT = (1 << 31) - 1


class SchemaError(ValueError):
    """An API's GraphQL schema the adapter cannot serve it with (APIM's gateway fails to deploy such an API)."""


@dataclass(frozen=True, slots=True)
class Schema:
    """An API's GraphQL schema: the types its calls are validated against, and the complexity it gives its fields
    (type → field → value; a field it does not name counts 1)."""

    schema: graphql.GraphQLSchema
    complexity: Mapping[str, Mapping[str, int]]

    @staticmethod
    def of(sdl: str, complexity: Mapping[str, Mapping[str, int]] | None = None) -> Schema:
        """The schema from its SDL. Without `complexity`, the policy APIM's publisher wrote into the SDL, if any
        (a schema the Publisher portal never saw has none: every field counts 1)."""
        try:
            built = graphql.build_schema(sdl, assume_valid_sdl=False, no_location=True)
        except graphql.GraphQLError as exc:
            raise SchemaError(f"not a GraphQL schema: {exc.message}") from exc
        except TypeError as exc:  # graphql-core's SDL validation: an unknown type, a repeated name
            raise SchemaError(f"not a valid GraphQL schema: {exc}") from exc
        errors = graphql.validate_schema(built)
        if errors:
            raise SchemaError(f"not a valid GraphQL schema: {errors[0].message}")
        if complexity is None:
            complexity = _written_policy(built)
        return Schema(built, {t: dict(fields) for t, fields in complexity.items()})


def _written_policy(schema: graphql.GraphQLSchema) -> Mapping[str, Mapping[str, int]]:
    marker = schema.type_map.get(ACCESS_CONTROL_POLICY)
    if not isinstance(marker, graphql.GraphQLObjectType):
        return {}
    for name in marker.fields:
        return complexity_policy(_unbase64url(name))
    return {}


def _unbase64url(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise SchemaError(f"{ACCESS_CONTROL_POLICY}: a field name that is not base64url: {text[:40]!r}") from exc


def complexity_policy(text: str) -> Mapping[str, Mapping[str, int]]:
    """An API's complexity policy as APIM writes it: `{"complexity": {"<Type>": {"<field>": <int>, ...}, ...}}`
    (GraphQLSchemaDefinition.policyDefinitionToJson; read by FieldComplexityCalculatorImpl)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"the complexity policy is not JSON: {exc}") from exc
    by_type = doc.get("complexity") if isinstance(doc, dict) else None
    if not isinstance(by_type, dict):
        raise SchemaError('the complexity policy has no "complexity" object')
    out: dict[str, dict[str, int]] = {}
    for type_name, fields in by_type.items():
        if not isinstance(fields, dict):
            raise SchemaError(f"the complexity policy's {type_name!r} is not an object")
        for field_name, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise SchemaError(f"the complexity policy's {type_name}.{field_name} is not an integer: {value!r}")
            out.setdefault(type_name, {})[field_name] = value
    return out


# ---- a call's document ----


@dataclass(frozen=True, slots=True)
class Call:
    """What a call's body asks (GraphQL over HTTP's request parameters)."""

    query: str
    operation_name: str | None
    variables: Mapping[str, Any]


# The longest why of a refused document kept and answered: the parser's and the validator's messages quote the
# document (a field's name, a value), which the client chose; cut, a million-character name costs no more than this
# in the caches that keep answers (`GraphQLApi.analysed`, the rendered bodies).
MAX_DESCRIPTION = 4096


@dataclass(frozen=True, slots=True)
class Invalid:
    """A call APIM answers 422 `900422` "INVALID QUERY", with why (cut at MAX_DESCRIPTION characters)."""

    description: str

    def __post_init__(self) -> None:
        if len(self.description) > MAX_DESCRIPTION:
            object.__setattr__(self, "description", self.description[: MAX_DESCRIPTION - 1] + "…")


def call_of(body: bytes) -> Call | Invalid:
    """The document, operation name and variables of a POST's JSON body. APIM's gateway takes `query` from the body
    Synapse's JSON builder made (GraphQLAPIHandler: no `query` element, "Invalid query parameter"); a body in
    another type is not read there either (no builder: "Error while building Passthrough stream")."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Invalid("Invalid query parameter: the body is not a JSON object")
    if not isinstance(doc, dict) or not isinstance(doc.get("query"), str):
        return Invalid("Invalid query parameter")
    name = doc.get("operationName")
    if name is not None and not isinstance(name, str):
        return Invalid("Invalid query parameter: operationName is not a string")
    variables = doc.get("variables")
    if variables is None:
        variables = {}
    elif not isinstance(variables, dict):
        return Invalid("Invalid query parameter: variables is not an object")
    return Call(doc["query"], name or None, variables)


# ---- what the call asks of the API ----


@dataclass(frozen=True, slots=True)
class Operation:
    """The operation a call runs: its verb, its root fields (names, not aliases, in first-seen order, fragments
    followed; introspection's left out), and the depth and complexity the subscription tier's limits are held to."""

    verb: str
    fields: tuple[str, ...]
    depth: int
    complexity: int

    @property
    def elected(self) -> str:
        """The fields as APIM names the call's resource (`API_ELECTED_RESOURCE`: joined with commas)."""
        return ",".join(self.fields)


def operation(schema: Schema, call: Call) -> Operation | Invalid:
    """The operation `call` runs on an API of `schema`, or why APIM's gateway refuses it (422)."""
    if len(call.query) > MAX_CHARACTERS:
        return Invalid(f"Invalid Syntax : the document is longer than {MAX_CHARACTERS} characters")
    try:
        document = graphql.parse(call.query, no_location=False, max_tokens=MAX_TOKENS)
    except graphql.GraphQLError as exc:
        return Invalid(f"Invalid Syntax : {exc.message}")
    if _comparisons(document) > MAX_VALIDATION_PAIRS:
        return Invalid(
            f"the document repeats fields or fragments past what is validated ({MAX_VALIDATION_PAIRS} comparisons of "
            "fields answering to one name, or of fragments spread together)"
        )
    errors = graphql.validate(schema.schema, document, max_errors=100)
    if errors:
        return Invalid(",".join(e.message for e in errors))  # as QueryValidator joins graphql-java's
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinitionNode)]
    chosen = _chosen(operations, call.operation_name)
    if isinstance(chosen, Invalid):
        return chosen
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinitionNode)}
    verb = VERBS[chosen.operation.value]
    root = schema.schema.get_root_type(chosen.operation)
    assert root is not None  # validated: the schema has the operation's root type
    walk = _Walk(schema, fragments, call.variables)
    try:
        fields = walk.root_fields(chosen.selection_set, root)
        depth, complexity = walk.measure(chosen.selection_set, root)
    except RecursionError:  # the parser's and the validator's own bounds come first; never a crash regardless
        return Invalid("the document is nested too deeply to be read")
    return Operation(verb, fields, depth, complexity)


def _comparisons(document: ast.DocumentNode) -> int:
    """How many field and fragment pairs OverlappingFieldsCanBeMerged compares in `document`, about: in each selection
    set (its inline fragments' selections merged into it, as the rule merges them), every two fields of one response
    name, every two fragment spreads, and each spread with each name."""
    total = 0
    pending = [d.selection_set for d in document.definitions if isinstance(d, ast.ExecutableDefinitionNode)]
    while pending:
        names: dict[str, int] = {}
        spreads = 0
        merged = [pending.pop()]
        while merged:
            for selection in merged.pop().selections:
                if isinstance(selection, ast.FieldNode):
                    name = (selection.alias or selection.name).value
                    names[name] = names.get(name, 0) + 1
                    if selection.selection_set is not None:
                        pending.append(selection.selection_set)
                elif isinstance(selection, ast.InlineFragmentNode):
                    merged.append(selection.selection_set)
                else:
                    spreads += 1
        total += sum(n * (n - 1) // 2 for n in names.values()) + spreads * (spreads - 1) // 2 + spreads * len(names)
        if total > MAX_VALIDATION_PAIRS:
            break
    return total


def _chosen(operations: list[ast.OperationDefinitionNode], name: str | None) -> ast.OperationDefinitionNode | Invalid:
    """The operation a GraphQL server runs (the specification's GetOperation)."""
    if name is None:
        if len(operations) == 1:
            return operations[0]
        return Invalid("Must provide operation name if query contains multiple operations.")
    for op in operations:
        if op.name is not None and op.name.value == name:
            return op
    return Invalid(f"Unknown operation named '{name}'.")


class _Walk:
    """The selections of one operation, fragments followed, `@skip` and `@include` honoured as the backend will
    (a condition this cannot settle counts the selection: the backend may run it). Each selection set's depth and
    complexity is worked out once for each type it is read on: a fragment spread under two fields at each of twenty
    nested levels is read twenty times, not a million (its complexity still counts every path)."""

    def __init__(
        self, schema: Schema, fragments: Mapping[str, ast.FragmentDefinitionNode], variables: Mapping[str, Any]
    ):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self._measured: dict[tuple[int, str], tuple[int, int]] = {}

    def root_fields(self, selections: ast.SelectionSetNode, parent: graphql.GraphQLCompositeType) -> tuple[str, ...]:
        """The names of the fields selected on `parent`, fragments followed (each once), in first-seen order,
        introspection's left out."""
        names: dict[str, None] = {}
        followed: set[str] = set()

        def collect(selection_set: ast.SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self._runs(selection):
                    continue
                if isinstance(selection, ast.FieldNode):
                    if not selection.name.value.startswith("__"):
                        names.setdefault(selection.name.value)
                elif isinstance(selection, ast.InlineFragmentNode):
                    collect(selection.selection_set)
                elif isinstance(selection, ast.FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is not None and selection.name.value not in followed:
                        followed.add(selection.name.value)
                        collect(fragment.selection_set)

        collect(selections)
        return tuple(names)

    def _parts(
        self, selections: ast.SelectionSetNode, parent: graphql.GraphQLCompositeType
    ) -> Iterator[tuple[ast.FieldNode | ast.SelectionSetNode, graphql.GraphQLCompositeType]]:
        """What a selection set holds: its fields, on `parent`, and its fragments' selection sets, each on its type
        condition (the fields container graphql-java's QueryTraverser gives the fields in it); a fragment spread
        again in the same selection set adds nothing (the specification's CollectFields, as graphql-java counts it)."""
        spread: set[str] = set()
        for selection in selections.selections:
            if not self._runs(selection):
                continue
            if isinstance(selection, ast.FieldNode):
                yield selection, parent
            elif isinstance(selection, ast.InlineFragmentNode):
                yield selection.selection_set, self._condition(selection.type_condition, parent)
            elif isinstance(selection, ast.FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:  # validated: known and acyclic
                    yield fragment.selection_set, self._condition(fragment.type_condition, parent)

    def measure(
        self, selections: ast.SelectionSetNode | None, parent: graphql.GraphQLCompositeType | None
    ) -> tuple[int, int]:
        """The selections' depth, the most fields on one path below (MaxQueryDepthInstrumentation: a root field is 1,
        fragments add none), and their complexity, MaxQueryComplexityInstrumentation's sum with
        FieldComplexityCalculatorImpl's values (each field `arguments * (its value + its children's)`, `__typename`
        0): one pass, kept per selection set and type."""
        if selections is None or parent is None:
            return 0, 0
        key = (id(selections), parent.name)
        known = self._measured.get(key)
        if known is not None:
            return known
        deepest = total = 0
        for part, container in self._parts(selections, parent):
            if isinstance(part, ast.FieldNode):
                depth, children = self.measure(part.selection_set, self._child_type(container, part))
                deepest = max(deepest, 1 + depth)
                name = part.name.value
                if name != "__typename":
                    own = self.schema.complexity.get(container.name, {}).get(name, 1)
                    total += self._arguments(part) * (own + children)
            else:
                depth, complexity = self.measure(part, container)
                deepest, total = max(deepest, depth), total + complexity
            total = min(MAX_COUNT, total)
        self._measured[key] = (deepest, total)
        return deepest, total

    def _arguments(self, node: ast.FieldNode) -> int:
        """FieldComplexityCalculatorImpl.getArgumentsValue: 1 without arguments; else each slicing argument its
        value, each other argument 1."""
        if not node.arguments:
            return 1
        value = 0
        for argument in node.arguments:
            if argument.name.value.lower() in SLICING_ARGUMENTS:
                value += max(0, self._int(argument.value))
            else:
                value += 1
        return value

    def _int(self, value: ast.ValueNode) -> int:
        if isinstance(value, ast.IntValueNode):
            return min(int(value.value), MAX_COUNT)
        if isinstance(value, ast.VariableNode):
            given = self.variables.get(value.name.value)
            if isinstance(given, int) and not isinstance(given, bool):
                return min(given, MAX_COUNT)
        return 0

    def _runs(self, selection: ast.SelectionNode) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
            settled = self._boolean(condition)
            if settled is None:
                continue  # unsettled: the backend may run it
            if (name == "skip") == settled:
                return False
        return True

    def _boolean(self, value: ast.ValueNode | None) -> bool | None:
        if isinstance(value, ast.BooleanValueNode):
            return value.value
        if isinstance(value, ast.VariableNode):
            given = self.variables.get(value.name.value)
            return given if isinstance(given, bool) else None
        return None

    def _condition(
        self, condition: ast.NamedTypeNode | None, parent: graphql.GraphQLCompositeType
    ) -> graphql.GraphQLCompositeType:
        if condition is None:
            return parent
        named = self.schema.schema.get_type(condition.name.value)
        return named if graphql.is_composite_type(named) else parent

    def _child_type(
        self, container: graphql.GraphQLCompositeType, node: ast.FieldNode
    ) -> graphql.GraphQLCompositeType | None:
        if not isinstance(container, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType)):
            return None  # a union's fields are only __typename
        field = container.fields.get(node.name.value)
        if field is None:
            field = _introspection(node.name.value)
            if field is None:
                return None
        named = graphql.get_named_type(field.type)
        return named if graphql.is_composite_type(named) else None


def _introspection(name: str) -> graphql.GraphQLField | None:
    if name == "__schema":
        return graphql.SchemaMetaFieldDef
    if name == "__type":
        return graphql.TypeMetaFieldDef
    return None
