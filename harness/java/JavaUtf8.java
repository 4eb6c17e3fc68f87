import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;

/**
 * The JDK's own UTF-8 decoding of byte strings, for adapter/tests/e2e/test_java_strings_parity.py: each line a byte
 * string in hex; each answer the UTF-16 units of `new String(bytes, UTF_8)` (what ByteArrayOutputStream.toString
 * gives Axis2's URIEncoderDecoder), a space, and those of an InputStreamReader read to its end (what XMLAnalyzer
 * hands Woodstox), each unit as four hex digits.
 */
public class JavaUtf8 {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            byte[] bytes = new byte[line.length() / 2];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) Integer.parseInt(line.substring(2 * i, 2 * i + 2), 16);
            }
            StringBuilder read = new StringBuilder();
            try (Reader reader = new InputStreamReader(new ByteArrayInputStream(bytes), StandardCharsets.UTF_8)) {
                for (int c = reader.read(); c != -1; c = reader.read()) {
                    read.append((char) c);
                }
            }
            out.append(units(new String(bytes, StandardCharsets.UTF_8))).append(' ').append(units(read)).append('\n');
        }
        System.out.print(out);
    }

    private static String units(CharSequence text) {
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            hex.append(String.format("%04x", (int) text.charAt(i)));
        }
        return hex.toString();
    }
}
