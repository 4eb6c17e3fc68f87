// What Atlassian's swagger-request-validator says of each request read as APIM's Schema Validation reads it
// (harness/oai_validator.py), from carbon-apimgt at the commit APIM 4.5's gateway is read from (2a785f86609):
// - APIMgtLatencyStatsHandler.setSwaggerToMessageContext parses the definition with OpenAPIParser.readContents
//   (resolve, resolveFully, not resolveCombinators) and lowercases the operations' header parameters
//   (convertHeadersToLowercase, getLowercaseHeaderParameters);
// - SchemaValidator.getOpenAPIValidator builds the validator with APIM's LevelResolver, and
//   SchemaValidator.handleRequest joins every message of a report with errors into the 400's description;
// - OpenAPIRequest is the request as the validator sees it (Request below).
// Reads one JSON object a line on stdin: {"definition": "<OpenAPI, JSON or YAML>", "method": "POST",
// "path": "/pets/1", "headers": {"Content-Type": "application/json"}, "query": {"limit": "5"}, "body": "..." | null};
// `path` is REST_SUB_REQUEST_PATH (after the API's context and version), `query` the decoded parameters, one value
// a name (SchemaValidationUtils.getQueryParams), `headers` the transport headers, one value a name. Writes a line for
// each: "OK" when the report has no errors; "ERR <JSON string>" with APIM's description ("Schema validation failed in
// the Request: " and every message followed by ", "); "EXC <JSON string>" with the class and message of a
// RuntimeException APIM's handlers would fail the request with. Nothing else goes to stdout: whatever the libraries
// print there goes to stderr.
import com.atlassian.oai.validator.OpenApiInteractionValidator;
import com.atlassian.oai.validator.model.Request;
import com.atlassian.oai.validator.report.LevelResolver;
import com.atlassian.oai.validator.report.ValidationReport;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ArrayListMultimap;
import com.google.common.collect.Multimap;
import io.swagger.parser.OpenAPIParser;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.PathItem;
import io.swagger.v3.oas.models.Paths;
import io.swagger.v3.oas.models.parameters.HeaderParameter;
import io.swagger.v3.oas.models.parameters.Parameter;
import io.swagger.v3.parser.core.models.ParseOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;

public final class SchemaValidationVerdicts {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        System.setOut(new PrintStream(System.err, true, StandardCharsets.UTF_8));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // The gateway parses a definition once (the handler keeps its OpenAPI) and builds a validator per request.
        Map<String, OpenAPI> parsed = new HashMap<>();
        String line;
        while ((line = in.readLine()) != null) {
            JsonNode given = JSON.readTree(line);
            try {
                String swagger = given.get("definition").asText();
                OpenAPI openAPI = parsed.computeIfAbsent(swagger, SchemaValidationVerdicts::parse);
                OpenApiInteractionValidator validator = getOpenAPIValidator(openAPI);
                ValidationReport report = validator.validateRequest(new OpenAPIRequest(given, openAPI));
                if (report.hasErrors()) {
                    StringBuilder finalMessage = new StringBuilder();
                    for (ValidationReport.Message message : report.getMessages()) {
                        finalMessage.append(message.getMessage()).append(", ");
                    }
                    out.println("ERR " + JSON.writeValueAsString(
                            "Schema validation failed in the Request: " + finalMessage));
                } else {
                    out.println("OK");
                }
            } catch (RuntimeException e) {
                e.printStackTrace();
                out.println("EXC " + JSON.writeValueAsString(e.getClass().getName() + ": " + e.getMessage()));
            }
            out.flush();
        }
    }

    // APIMgtLatencyStatsHandler.setSwaggerToMessageContext.
    private static OpenAPI parse(String swagger) {
        OpenAPIParser parser = new OpenAPIParser();
        ParseOptions parseOptions = new ParseOptions();
        parseOptions.setResolve(true);
        parseOptions.setResolveFully(true);
        parseOptions.setResolveCombinators(false);
        OpenAPI openAPI = parser.readContents(swagger, null, parseOptions).getOpenAPI();
        convertHeadersToLowercase(openAPI);
        return openAPI;
    }

    // APIMgtLatencyStatsHandler.convertHeadersToLowercase: the path item's own parameters are left as they are.
    private static void convertHeadersToLowercase(OpenAPI openAPI) {
        for (Map.Entry<String, PathItem> entry : openAPI.getPaths().entrySet()) {
            PathItem pathItem = entry.getValue();
            if (pathItem != null) {
                List<Operation> operations = pathItem.readOperations();
                for (Operation operation : operations) {
                    if (operation.getParameters() != null) {
                        operation.setParameters(getLowercaseHeaderParameters(operation.getParameters()));
                    }
                }
            }
        }
    }

    // APIMgtLatencyStatsHandler.getLowercaseHeaderParameters: a header parameter named Content-Type is dropped, the
    // other header parameters lowercased and put after the rest.
    private static List<Parameter> getLowercaseHeaderParameters(List<Parameter> parameters) {
        List<Parameter> headerParameters = parameters.stream()
                .filter(param -> param.getIn().equalsIgnoreCase("header"))
                .filter(param -> !param.getName().equalsIgnoreCase("Content-Type"))
                .collect(Collectors.toList());
        List<Parameter> modifiedHeaderParameters = headerParameters.stream()
                .map(param -> {
                    param.setName(param.getName().toLowerCase(Locale.ROOT));
                    return param;
                })
                .collect(Collectors.toList());
        List<Parameter> nonHeaderParameters = parameters.stream()
                .filter(param -> !(param instanceof HeaderParameter)).collect(Collectors.toList());
        nonHeaderParameters.addAll(modifiedHeaderParameters);
        return nonHeaderParameters;
    }

    // SchemaValidator.getOpenAPIValidator.
    private static OpenApiInteractionValidator getOpenAPIValidator(OpenAPI openAPI) {
        return OpenApiInteractionValidator
                .createFor(openAPI)
                .withLevelResolver(
                        LevelResolver.create()
                                .withLevel("validation.schema.required", ValidationReport.Level.INFO)
                                .withLevel("validation.response.body.missing", ValidationReport.Level.INFO)
                                .withLevel("validation.schema.additionalProperties", ValidationReport.Level.IGNORE)
                                .build())
                .build();
    }

    // OpenAPIRequest (gateway handlers.security.model), from a case instead of a Synapse message context. APIM
    // parses the definition again there, without resolving, for validatePath; its paths' keys are the same.
    private static final class OpenAPIRequest implements Request {
        private final Request.Method method;
        private String path;
        private final Multimap<String, String> headers = ArrayListMultimap.create();
        // A HashMap, as SchemaValidationUtils.getQueryParams's Collectors.toMap: the validator reports unexpected
        // parameters in its order.
        private final Map<String, Collection<String>> queryParams = new HashMap<>();
        private final Optional<String> requestBody;

        OpenAPIRequest(JsonNode given, OpenAPI openAPI) {
            method = Request.Method.valueOf(given.get("method").asText());
            path = getRestSubRequestPath(given.get("path").asText());
            validatePath(openAPI);
            JsonNode body = given.get("body");
            requestBody = body == null || body.isNull() ? Optional.empty() : Optional.of(body.asText());
            // The transport headers: Synapse's map of them ignores case (the last value of a name is kept).
            Map<String, String> transportHeaders = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (Iterator<Map.Entry<String, JsonNode>> it = fields(given, "headers"); it.hasNext(); ) {
                Map.Entry<String, JsonNode> header = it.next();
                transportHeaders.put(header.getKey(), header.getValue().asText());
            }
            Map<String, Collection<String>> headerMap = transportHeaders.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, entry -> Collections.singleton(entry.getValue())));
            for (Map.Entry<String, Collection<String>> header : headerMap.entrySet()) {
                String headerKey = header.getKey();
                String value = header.getValue().iterator().next();
                headerKey = headerKey.equalsIgnoreCase("content-type")
                        ? "Content-Type" : headerKey.toLowerCase(Locale.ROOT);
                headers.put(headerKey, value);
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = fields(given, "query"); it.hasNext(); ) {
                Map.Entry<String, JsonNode> query = it.next();
                queryParams.put(query.getKey(), Collections.singleton(query.getValue().asText()));
            }
        }

        private static Iterator<Map.Entry<String, JsonNode>> fields(JsonNode given, String name) {
            JsonNode node = given.get(name);
            return node == null ? Collections.emptyIterator() : node.fields();
        }

        // SchemaValidationUtils.getRestSubRequestPath.
        private static String getRestSubRequestPath(String subResourcePath) {
            if (subResourcePath.contains("?")) {
                return subResourcePath.split("\\?")[0];
            } else if (subResourcePath.contains("#")) {
                return subResourcePath.split("#")[0];
            }
            return subResourcePath;
        }

        private void validatePath(OpenAPI openAPI) {
            Paths paths = openAPI.getPaths();
            if (path.equals("/") && !paths.containsKey(path)) {
                if (paths.containsKey("/*")) {
                    path = "/*";
                }
            }
        }

        // SchemaValidationUtils.getFromMapOrEmptyList: an exact key, nulls left out.
        private static Collection<String> getFromMapOrEmptyList(Map<String, Collection<String>> map, String name) {
            if (name != null && map.containsKey(name)) {
                return map.get(name).stream().filter(Objects::nonNull)
                        .collect(Collectors.collectingAndThen(Collectors.toList(), Collections::unmodifiableList));
            }
            return Collections.emptyList();
        }

        @Override
        public String getPath() {
            return path;
        }

        @Override
        public Request.Method getMethod() {
            return method;
        }

        @Override
        @SuppressWarnings("deprecation")  // the method APIM's OpenAPIRequest gives the body by
        public Optional<String> getBody() {
            return requestBody;
        }

        @Override
        public Collection<String> getQueryParameters() {
            return Collections.unmodifiableCollection(queryParams.keySet());
        }

        @Override
        public Collection<String> getQueryParameterValues(String name) {
            return getFromMapOrEmptyList(queryParams, name);
        }

        @Override
        public Map<String, Collection<String>> getHeaders() {
            return headers.asMap();
        }

        @Override
        public Collection<String> getHeaderValues(String name) {
            return getFromMapOrEmptyList(headers.asMap(), name);
        }
    }
}
