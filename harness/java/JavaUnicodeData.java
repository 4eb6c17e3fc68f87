import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntPredicate;

/**
 * The Unicode data java.util.regex matches with, as this JDK's java.lang.Character holds it, for
 * scripts/generate_java_unicode.py (adapter/src/apim_adapter/java_unicode.py): the general categories
 * (Character.getType), the properties CharPredicates asks Character for, scripts and blocks with the names their
 * forName methods accept (read from their private maps: run with --add-opens java.base/java.lang=ALL-UNNAMED), and
 * the simple case mappings, and the characters' names (Character.getName, for codePointOf). One line each: "<kind> <name> <ranges>", ranges as hex "first-last" joined with ",".
 */
public final class JavaUnicodeData {
    private static final String[] CATEGORIES = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Me", "Mc", "Nd", "Nl",
        "No", "Zs", "Zl", "Zp", "Cc", "Cf", "", "Co", "Cs", "Pd", "Ps", "Pe", "Pc", "Po", "Sm", "Sc", "Sk", "So",
        "Pi", "Pf"};

    private static String ranges(IntPredicate test) {
        StringBuilder out = new StringBuilder();
        int start = -1;
        for (int c = 0; c <= Character.MAX_CODE_POINT + 1; c++) {
            boolean in = c <= Character.MAX_CODE_POINT && test.test(c);
            if (in && start < 0) {
                start = c;
            } else if (!in && start >= 0) {
                out.append(out.length() == 0 ? "" : ",").append(Integer.toHexString(start)).append('-')
                    .append(Integer.toHexString(c - 1));
                start = -1;
            }
        }
        return out.length() == 0 ? "-" : out.toString();
    }

    /** A Character method JDK 21 added (the emoji properties), looked up so that JDK 17's javac compiles this. */
    private static IntPredicate since21(String name) throws Exception {
        java.lang.reflect.Method method = Character.class.getMethod(name, int.class);
        return c -> {
            try {
                return (Boolean) method.invoke(null, c);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        };
    }

    @SuppressWarnings("unchecked")
    private static <T> Map<String, T> field(Class<?> owner, String name) throws Exception {
        Field f = owner.getDeclaredField(name);
        f.setAccessible(true);
        return (Map<String, T>) f.get(null);
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        out.println("V " + Runtime.version());
        for (int t = 0; t < CATEGORIES.length; t++) {
            if (!CATEGORIES[t].isEmpty()) {
                final int type = t;
                out.println("G " + CATEGORIES[t] + " " + ranges(c -> Character.getType(c) == type));
            }
        }
        Map<String, IntPredicate> properties = new TreeMap<>();
        properties.put("alphabetic", Character::isAlphabetic);
        properties.put("ideographic", Character::isIdeographic);
        properties.put("lowercase", Character::isLowerCase);
        properties.put("uppercase", Character::isUpperCase);
        properties.put("titlecase", Character::isTitleCase);
        properties.put("emoji", since21("isEmoji"));
        properties.put("emoji_presentation", since21("isEmojiPresentation"));
        properties.put("emoji_modifier", since21("isEmojiModifier"));
        properties.put("emoji_modifier_base", since21("isEmojiModifierBase"));
        properties.put("emoji_component", since21("isEmojiComponent"));
        properties.put("extended_pictographic", since21("isExtendedPictographic"));
        properties.put("java_identifier_start", Character::isJavaIdentifierStart);
        properties.put("java_identifier_part", Character::isJavaIdentifierPart);
        properties.put("unicode_identifier_start", Character::isUnicodeIdentifierStart);
        properties.put("unicode_identifier_part", Character::isUnicodeIdentifierPart);
        properties.put("identifier_ignorable", Character::isIdentifierIgnorable);
        properties.put("mirrored", Character::isMirrored);
        properties.put("whitespace", Character::isWhitespace);
        properties.put("space_char", Character::isSpaceChar);
        properties.put("letter", Character::isLetter);
        properties.put("digit", Character::isDigit);
        properties.put("letter_or_digit", Character::isLetterOrDigit);
        properties.put("defined", Character::isDefined);
        properties.put("iso_control", Character::isISOControl);
        for (Map.Entry<String, IntPredicate> p : properties.entrySet()) {
            out.println("P " + p.getKey() + " " + ranges(p.getValue()));
        }
        Character.UnicodeScript[] scriptOf = new Character.UnicodeScript[Character.MAX_CODE_POINT + 1];
        Character.UnicodeBlock[] blockOf = new Character.UnicodeBlock[Character.MAX_CODE_POINT + 1];
        for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {
            scriptOf[c] = Character.UnicodeScript.of(c);
            blockOf[c] = Character.UnicodeBlock.of(c);
        }
        for (Character.UnicodeScript script : Character.UnicodeScript.values()) {
            out.println("S " + script.name() + " " + ranges(c -> scriptOf[c] == script));
        }
        Map<String, Character.UnicodeScript> aliases = field(Character.UnicodeScript.class, "aliases");
        for (Map.Entry<String, Character.UnicodeScript> a : new TreeMap<>(aliases).entrySet()) {
            out.println("A " + a.getKey() + " " + a.getValue().name());
        }
        Map<String, Character.UnicodeBlock> blocks = field(Character.UnicodeBlock.class, "map");
        List<Character.UnicodeBlock> seen = new ArrayList<>();
        for (Map.Entry<String, Character.UnicodeBlock> b : new TreeMap<>(blocks).entrySet()) {
            out.println("K " + b.getKey().replace(' ', '\u00a0') + " " + b.getValue());
            if (!seen.contains(b.getValue())) {
                seen.add(b.getValue());
            }
        }
        for (Character.UnicodeBlock block : seen) {
            out.println("B " + block + " " + ranges(c -> blockOf[c] == block));
        }
        for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {  // explicit names (getName's algorithmic ones left out)
            String name = Character.getName(c);
            Character.UnicodeBlock block = blockOf[c];
            String algorithmic = block == null ? null
                : block.toString().replace('_', ' ') + " " + Integer.toHexString(c).toUpperCase(java.util.Locale.ROOT);
            if (name != null && !name.equals(algorithmic)) {
                out.println("N " + Integer.toHexString(c) + " " + name.replace(' ', '\u00a0'));
            }
        }
        StringBuilder cases = new StringBuilder();
        for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {
            int upper = Character.toUpperCase(c), lower = Character.toLowerCase(c);
            if (upper != c || lower != c) {
                cases.append(cases.length() == 0 ? "" : ",").append(Integer.toHexString(c)).append(':')
                    .append(Integer.toHexString(upper)).append(':').append(Integer.toHexString(lower));
            }
        }
        out.println("C cases " + cases);
        out.flush();
    }
}
