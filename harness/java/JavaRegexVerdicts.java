import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * java.util.regex as APIM's gateway calls it, for harness/java_regex.py: one case a line, "<pattern>\t<text>" with
 * both written as UTF-16 units in hex (4 digits each), so that any character, a line terminator or a lone
 * surrogate among them, passes. Each answer is a line: "find matches" as two letters (T or F), or "E" and the
 * PatternSyntaxException's message, hex-written as well ("CASES" asks for Character's case mappings instead); the first line is the JDK's feature release (17, 21, 25).
 * Pattern.compile with no flags, as
 * ThrottleConditionEvaluator and ClaimBasedResourceAccessValidationMediator call it.
 */
public final class JavaRegexVerdicts {
    private static String unhex(String hex) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i + 4 <= hex.length(); i += 4) {
            out.append((char) Integer.parseInt(hex.substring(i, i + 4), 16));
        }
        return out.toString();
    }

    private static String hex(String text) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            out.append(String.format("%04x", (int) text.charAt(i)));
        }
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        out.println(Runtime.version().feature());
        String line;
        while ((line = in.readLine()) != null) {
            if (line.equals("CASES")) {  // Character's simple case mappings: "code upper lower" where one moves it
                for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {
                    int upper = Character.toUpperCase(c), lower = Character.toLowerCase(c);
                    if (upper != c || lower != c) {
                        out.println(c + " " + upper + " " + lower);
                    }
                }
                out.println("END");
                continue;
            }
            int tab = line.indexOf('\t');
            String source = unhex(line.substring(0, tab));
            String text = unhex(line.substring(tab + 1));
            try {
                Pattern pattern = Pattern.compile(source);
                boolean found = pattern.matcher(text).find();
                boolean whole = pattern.matcher(text).matches();
                out.println((found ? "T" : "F") + (whole ? "T" : "F"));
            } catch (PatternSyntaxException e) {
                out.println("E" + hex(e.getMessage().replace(System.lineSeparator(), "\n")));
            } catch (StackOverflowError e) {
                out.println("S");
            } catch (RuntimeException e) {  // a matcher's own defect (JDK 17's CIBackRef on supplementary characters)
                out.println("X" + hex(e.toString()));
            }
        }
        out.flush();
    }
}
