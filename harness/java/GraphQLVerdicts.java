import graphql.analysis.QueryTraverser;
import graphql.analysis.QueryVisitorFieldEnvironment;
import graphql.analysis.QueryVisitorStub;
import graphql.language.Argument;
import graphql.language.Document;
import graphql.language.IntValue;
import graphql.parser.Parser;
import graphql.schema.GraphQLSchema;
import graphql.schema.idl.SchemaParser;
import graphql.schema.idl.UnExecutableSchemaGenerator;
import graphql.validation.ValidationError;
import graphql.validation.Validator;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * graphql-java's own reading of GraphQL documents, as APIM 4.5's gateway reads them (carbon-apimgt 9.31.86, graphql-java
 * 19.11): each stdin line is `<schema base64> TAB <complexity> TAB <document base64>`, the complexity values as
 * `Type.field=N,...` (`-` for none); each answer line is `SYNTAX`, `INVALID <count>` (graphql-java's Validator, as
 * QueryValidator runs it), or `OK <depth> <complexity>`: MaxQueryDepthInstrumentation's depth and
 * MaxQueryComplexityInstrumentation's complexity (graphql-java's QueryTraverser, reducePreOrder and visitPostOrder as
 * those instrumentations call them) with the values WSO2's FieldComplexityCalculatorImpl gives (its
 * `calculate`: the arguments' value times the field's own plus its children's; first, last and limit their integer
 * literal, other arguments 1, none 1), on a document of one operation without variables.
 */
public class GraphQLVerdicts {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Map<String, GraphQLSchema> schemas = new HashMap<>();
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t", -1);
            String sdl = decode(parts[0]);
            GraphQLSchema schema = schemas.computeIfAbsent(sdl,
                    s -> UnExecutableSchemaGenerator.makeUnExecutableSchema(new SchemaParser().parse(s)));
            Map<String, Integer> values = new HashMap<>();
            if (!parts[1].equals("-")) {
                for (String entry : parts[1].split(",")) {
                    String[] kv = entry.split("=");
                    values.put(kv[0], Integer.parseInt(kv[1]));
                }
            }
            System.out.println(verdict(schema, values, decode(parts[2])));
        }
    }

    private static String decode(String text) {
        return new String(Base64.getDecoder().decode(text), StandardCharsets.UTF_8);
    }

    private static String verdict(GraphQLSchema schema, Map<String, Integer> values, String query) {
        Document document;
        try {
            document = new Parser().parseDocument(query);
        } catch (Exception e) {
            return "SYNTAX";
        }
        List<ValidationError> errors = new Validator().validateDocument(schema, document, Locale.ENGLISH);
        if (!errors.isEmpty()) {
            return "INVALID " + errors.size();
        }
        QueryTraverser traverser = QueryTraverser.newQueryTraverser().schema(schema).document(document)
                .variables(Collections.emptyMap()).build();
        int depth = traverser.reducePreOrder((env, acc) -> Math.max(pathLength(env.getParentEnvironment()), acc), 0);
        Map<QueryVisitorFieldEnvironment, Integer> byParent = new LinkedHashMap<>();
        traverser.visitPostOrder(new QueryVisitorStub() {
            @Override
            public void visitField(QueryVisitorFieldEnvironment env) {
                int children = byParent.getOrDefault(env, 0);
                int value = env.isTypeNameIntrospectionField() ? 0 : calculate(env, values, children);
                byParent.compute(env.getParentEnvironment(), (key, old) -> Optional.ofNullable(old).orElse(0) + value);
            }
        });
        return "OK " + depth + " " + byParent.getOrDefault(null, 0);
    }

    // MaxQueryDepthInstrumentation.getPathLength
    private static int pathLength(QueryVisitorFieldEnvironment path) {
        int length = 1;
        while (path != null) {
            path = path.getParentEnvironment();
            length++;
        }
        return length;
    }

    // FieldComplexityCalculatorImpl.calculate, with the parent type as MaxQueryComplexityInstrumentation.convertEnv
    // gives it (the field's container).
    private static int calculate(QueryVisitorFieldEnvironment env, Map<String, Integer> values, int children) {
        String field = env.getField().getName();
        String parent = env.getFieldsContainer().getName();
        int arguments = 0;
        List<Argument> list = env.getField().getArguments();
        if (list.isEmpty()) {
            arguments = 1;
        }
        for (Argument argument : list) {
            String name = argument.getName().toLowerCase(Locale.ROOT);
            if (name.equals("first") || name.equals("last") || name.equals("limit")) {
                arguments += argument.getValue() instanceof IntValue ? ((IntValue) argument.getValue()).getValue().intValue() : 0;
            } else {
                arguments += 1;
            }
        }
        return arguments * (values.getOrDefault(parent + "." + field, 1) + children);
    }
}
