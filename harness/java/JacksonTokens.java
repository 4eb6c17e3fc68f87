// Jackson's token stream of each body, for tests/unit json_protector parity (harness/jackson.py). Reads lines of
// base64 bodies on stdin; for each writes the tokens, one per line ("<TOKEN>" or "<TOKEN> <base64 text>" for a field
// name or a string value), then "END", or "ERROR <exception class>" where Jackson refuses the body.
// The body is read as APIM's JSONAnalyzer reads it: an InputStreamReader over the bytes (UTF-8 here).
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

public final class JacksonTokens {
    public static void main(String[] args) throws Exception {
        JsonFactory factory = new JsonFactory();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.US_ASCII);
        Base64.Encoder encoder = Base64.getEncoder();
        String line;
        while ((line = in.readLine()) != null) {
            byte[] body = Base64.getDecoder().decode(line);
            StringBuilder tokens = new StringBuilder();
            try (JsonParser parser = factory.createParser(ObjectReadContext.empty(),
                    new InputStreamReader(new ByteArrayInputStream(body), StandardCharsets.UTF_8))) {
                JsonToken token;
                while ((token = parser.nextToken()) != null) {
                    tokens.append(token.name());
                    if (token == JsonToken.PROPERTY_NAME || token == JsonToken.VALUE_STRING) {
                        String text = token == JsonToken.PROPERTY_NAME ? parser.currentName() : parser.getString();
                        tokens.append(' ').append(encoder.encodeToString(text.getBytes(StandardCharsets.UTF_16BE)));
                    }
                    tokens.append('\n');
                }
                out.print(tokens);
                out.println("END");
            } catch (RuntimeException e) {
                out.println("ERROR " + e.getClass().getSimpleName());
            }
        }
        out.flush();
    }
}
