// What Woodstox says of each body read as APIM's XML Validator reads it (harness/woodstox.py): carbon-apimgt's
// XMLAnalyzer configures a WstxInputFactory with xmlValidator_v1.j2's values and walks every event of an
// XMLEventReader over `new InputStreamReader(in)` (UTF-8: the default charset of the JDK 21 APIM 4.5 runs on).
// Reads lines of base64 bodies on stdin; for each writes "OK", or "ERROR <getMessage() as 4 hex digits a UTF-16 unit>"
// where Woodstox throws an XMLStreamException (what XMLAnalyzer turns into its description; hex keeps a lone
// surrogate, which an encoder would replace). A line "NAMES" instead writes
// Woodstox's name character tables (XmlChars), one line each, as ranges of UTF-16 units.
import com.ctc.wstx.stax.WstxInputFactory;
import com.ctc.wstx.util.XmlChars;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.function.IntPredicate;
import javax.xml.stream.XMLEventReader;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamException;

public final class WoodstoxVerdicts {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.US_ASCII);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.equals("NAMES")) {
                out.println(ranges(c -> XmlChars.is10NameStartChar((char) c)));
                out.println(ranges(c -> XmlChars.is10NameChar((char) c)));
                out.println(ranges(c -> XmlChars.is11NameStartChar((char) c)));
                out.println(ranges(c -> XmlChars.is11NameChar((char) c)));
                continue;
            }
            byte[] body = Base64.getDecoder().decode(line);
            // A new factory for each body, configured as XMLAnalyzer.configure does (ThreatProtectorConstants' names).
            XMLInputFactory factory = new WstxInputFactory();
            factory.setProperty(XMLInputFactory.SUPPORT_DTD, false);
            factory.setProperty(XMLInputFactory.IS_SUPPORTING_EXTERNAL_ENTITIES, true);
            factory.setProperty("com.ctc.wstx.maxAttributeSize", 100);
            factory.setProperty("com.ctc.wstx.maxAttributesPerElement", 100);
            factory.setProperty("com.ctc.wstx.maxElementDepth", 100);
            factory.setProperty("com.ctc.wstx.maxChildrenPerElement", 100);
            factory.setProperty("com.ctc.wstx.maxElementCount", 100);
            try {
                XMLEventReader reader = factory.createXMLEventReader(
                        new InputStreamReader(new ByteArrayInputStream(body), StandardCharsets.UTF_8));
                while (reader.hasNext()) {
                    reader.nextEvent();
                }
                out.println("OK");
            } catch (XMLStreamException e) {
                StringBuilder units = new StringBuilder("ERROR ");
                for (char c : String.valueOf(e.getMessage()).toCharArray()) {
                    units.append(String.format("%04x", (int) c));
                }
                out.println(units);
            }
        }
        out.flush();
    }

    private static String ranges(IntPredicate in) {
        StringBuilder sb = new StringBuilder();
        int start = -1;
        for (int c = 0; c <= 0x10000; c++) {
            boolean inside = c < 0x10000 && in.test(c);
            if (inside && start < 0) {
                start = c;
            } else if (!inside && start >= 0) {
                sb.append(String.format("%04X-%04X ", start, c - 1));
                start = -1;
            }
        }
        return sb.toString().trim();
    }
}
