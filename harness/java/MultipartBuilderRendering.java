// What APIM 4.5's gateway makes of a multipart/form-data request body (harness/axis2_multipart.py): the text of the
// SOAP body's first element, `soapEnvelope.getBody().getFirstElement().toString()`, which carbon-apimgt's
// RegularExpressionProtector searches. wso2-axis2 (1.6.1-wso2v102) is not on Maven Central, so its few methods are
// mirrored here, written from reading them (modules/kernel/src/org/apache/axis2/...):
//   builder/MultipartFormDataBuilder.java  processDocument, getParameterMap, parseRequest, getTextParameter,
//                                          getFileParameter
//   builder/RequestContextImpl.java        the RequestContext handed to commons-fileupload
//   builder/DiskFileDataSource.java        a file part as a javax.activation DataSource
//   builder/BuilderUtil.java               getCharSetEncoding/extractCharSetValue, buildsoapMessage (no schema),
//                                          createSOAPMessageWithoutSchema, addRequestParameter
//   util/MultipleEntryHashMap.java         a LinkedHashMap of lists: keys in first-seen order, values in order
// with wso2-synapse (4.0.0-wso2v218) passthru/ServerWorker.java (processEntityEnclosingRequest: the message's charset)
// and passthru/util/DeferredMessageBuilder.java (the builder gets the whole Content-Type header). The work itself is
// done by the real libraries: commons-fileupload parses, Axiom builds the tree and serialises it with Woodstox.
// Reads lines "<base64 Content-Type (UTF-8)> <base64 body>" on stdin; for each writes "OK <text>" or
// "FAIL <exception class simple name>: <getMessage()> <innermost cause's class simple name: message, or nothing>",
// text and messages as 4 hex digits a UTF-16 unit (hex keeps a lone surrogate and a line break, which a line-based
// reply would not). The cause says what the outer exception hides: Axiom's toString() reports a character Woodstox
// refuses only as "Can not serialize OM Element mediate".
// A line "CONVERTS <base64 Content-Type> <base64 body>" asks instead whether Schema Validation's getMessageContent
// hands its validator a body: wso2-synapse's JsonUtil.convertOMElementToJson serialises the built element and reads
// it back with XMLInputFactory.newInstance() (Woodstox here, as in APIM) before writing JSON; the answer is "OK" where
// the build, the writing and the reading all succeed, else "FAIL ..." as above (RelayUtils rethrows what the builder
// throws and JsonUtil what the reading throws as AxisFaults, which getMessageContent logs: no body).
import java.io.ByteArrayInputStream;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.activation.DataHandler;
import javax.activation.DataSource;
import javax.xml.namespace.QName;
import javax.xml.stream.XMLOutputFactory;
import org.apache.axiom.om.OMAbstractFactory;
import org.apache.axiom.om.OMElement;
import org.apache.axiom.om.OMText;
import org.apache.axiom.soap.SOAPEnvelope;
import org.apache.axiom.soap.SOAPFactory;
import org.apache.commons.fileupload.FileItem;
import org.apache.commons.fileupload.FileUploadException;
import org.apache.commons.fileupload.RequestContext;
import org.apache.commons.fileupload.disk.DiskFileItem;
import org.apache.commons.fileupload.disk.DiskFileItemFactory;
import org.apache.commons.fileupload.servlet.ServletFileUpload;

public final class MultipartBuilderRendering {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.US_ASCII);
        // Axiom's StAXUtils takes the StAX writer XMLOutputFactory.newInstance() finds: it must be Woodstox 4 (its
        // jar's META-INF/services), as in APIM, never the JDK's own, which escapes otherwise.
        String writer = XMLOutputFactory.newInstance().getClass().getName();
        if (!writer.equals("com.ctc.wstx.stax.WstxOutputFactory")) {
            throw new IllegalStateException("the StAX writer is " + writer + ", not Woodstox");
        }
        // Where DiskFileItemFactory puts parts over its 10 KiB threshold (APIM: java.io.tmpdir).
        Path repository = Files.createTempDirectory("multipart-oracle");
        try {
            String line;
            while ((line = in.readLine()) != null) {
                boolean converts = line.startsWith("CONVERTS ");
                String[] fields = (converts ? line.substring("CONVERTS ".length()) : line).split(" ", -1);
                String contentType = new String(Base64.getDecoder().decode(fields[0]), StandardCharsets.UTF_8);
                byte[] body = Base64.getDecoder().decode(fields[1]);
                List<FileItem> items = new ArrayList<>();
                try {
                    OMElement built = build(contentType, body, repository.toFile(), items);
                    out.println(converts ? readBack(built) : "OK " + hex(built.toString()));
                } catch (Exception e) {
                    Throwable cause = e;
                    while (cause.getCause() != null && cause.getCause() != cause) {
                        cause = cause.getCause();
                    }
                    String inner = cause == e ? "" : cause.getClass().getSimpleName() + ": " + cause.getMessage();
                    out.println("FAIL " + e.getClass().getSimpleName() + ": " + hex(String.valueOf(e.getMessage()))
                            + " " + hex(inner));
                } finally {
                    for (FileItem item : items) {
                        item.delete();
                    }
                }
            }
        } finally {
            File[] left = repository.toFile().listFiles();
            for (File file : left == null ? new File[0] : left) {
                file.delete();
            }
            Files.deleteIfExists(repository);
        }
        out.flush();
    }

    /** processDocument with the passthrough transport's message context, then what the Regex Policy reads. */
    static OMElement build(String contentType, byte[] body, File repository, List<FileItem> items) throws Exception {
        // ServerWorker.processEntityEnclosingRequest: CHARACTER_SET_ENCODING is getCharSetEncoding(the header);
        // processDocument's RequestContextImpl gets the header, that charset and the Content-Length header.
        String charSetEncoding = getCharSetEncoding(contentType);
        RequestContext request = new RequestContext() {
            public String getCharacterEncoding() {
                return charSetEncoding;
            }

            public String getContentType() {
                return contentType;
            }

            public int getContentLength() {
                return body.length;
            }

            public InputStream getInputStream() {
                return new ByteArrayInputStream(body);
            }
        };
        Map<String, List<Object>> parameterMap = getParameterMap(request, charSetEncoding, repository, items);
        // BuilderUtil.buildsoapMessage with Synapse's operation (SynapseConstants.SYNAPSE_OPERATION_NAME, no schema).
        SOAPFactory soapFactory = OMAbstractFactory.getSOAP12Factory();
        SOAPEnvelope soapEnvelope = soapFactory.getDefaultEnvelope();
        OMElement bodyFirstChild = soapFactory.createOMElement(new QName("mediate"), soapEnvelope.getBody());
        // createSOAPMessageWithoutSchema: MultipleEntryHashMap.get until null hands each key's values in order.
        for (Map.Entry<String, List<Object>> entry : parameterMap.entrySet()) {
            for (Object value : entry.getValue()) {
                addRequestParameter(soapFactory, bodyFirstChild, entry.getKey(), value);
            }
        }
        return soapEnvelope.getBody().getFirstElement();
    }

    /** JsonUtil.convertOMElementToJson's first half: element.serialize, then every event of a reader over it. */
    static String readBack(OMElement element) throws Exception {
        java.io.ByteArrayOutputStream xml = new java.io.ByteArrayOutputStream();
        element.serialize(xml);
        javax.xml.stream.XMLStreamReader reader = javax.xml.stream.XMLInputFactory.newInstance()
                .createXMLStreamReader(new ByteArrayInputStream(xml.toByteArray()));
        while (reader.hasNext()) {
            reader.next();
        }
        return "OK";
    }

    /** MultipartFormDataBuilder.getParameterMap and parseRequest (the factory's repository aside). */
    static Map<String, List<Object>> getParameterMap(RequestContext request, String charSetEncoding, File repository,
                                                     List<FileItem> items) throws FileUploadException {
        Map<String, List<Object>> parameterMap = new LinkedHashMap<>();
        DiskFileItemFactory factory = new DiskFileItemFactory();
        factory.setRepository(repository);
        items.addAll(new ServletFileUpload(factory).parseRequest(request));
        for (FileItem item : items) {
            DiskFileItem diskFileItem = (DiskFileItem) item;
            Object value;
            try {
                value = diskFileItem.isFormField() ? getTextParameter(diskFileItem, charSetEncoding)
                        : new DataHandler(new DiskFileDataSource(diskFileItem));
            } catch (Exception ex) {
                throw new FileUploadException(ex.getMessage());
            }
            parameterMap.computeIfAbsent(diskFileItem.getFieldName(), key -> new ArrayList<>()).add(value);
        }
        return parameterMap;
    }

    /** MultipartFormDataBuilder.getTextParameter: the part's charset, else the message's. */
    static Map<String, String> getTextParameter(DiskFileItem diskFileItem, String characterEncoding)
            throws Exception {
        String encoding = diskFileItem.getCharSet();
        if (encoding == null) {
            encoding = characterEncoding;
        }
        String textValue = encoding == null ? new String(diskFileItem.get())
                : new String(diskFileItem.get(), encoding);
        Map<String, String> textParameterMap = new HashMap<>();
        textParameterMap.put("value", textValue);
        textParameterMap.put("charset", encoding);
        textParameterMap.put("contentType", diskFileItem.getContentType());
        return textParameterMap;
    }

    /** BuilderUtil.addRequestParameter with no namespace. */
    @SuppressWarnings("unchecked")
    static void addRequestParameter(SOAPFactory soapFactory, OMElement bodyFirstChild, String key, Object parameter) {
        if (parameter instanceof DataHandler) {
            DataHandler dataHandler = (DataHandler) parameter;
            OMText dataText = bodyFirstChild.getOMFactory().createOMText(dataHandler, true);
            OMElement omElement = soapFactory.createOMElement(key, null, bodyFirstChild);
            omElement.addChild(dataText);
            DataSource dataSource = dataHandler.getDataSource();
            omElement.addAttribute("filename", dataSource.getName(), null);
            omElement.addAttribute("content-type",
                    dataSource.getContentType() != null ? dataSource.getContentType() : "text/plain", null);
            omElement.addAttribute("filename", dataHandler.getDataSource().getName(), null);
        } else {
            Map<String, String> textParameterObj = (Map<String, String>) parameter;
            OMElement omElement = soapFactory.createOMElement(key, null, bodyFirstChild);
            omElement.setText(textParameterObj.get("value"));
            omElement.addAttribute("charset", textParameterObj.get("charset"), null);
            if (textParameterObj.get("contentType") != null) {
                omElement.addAttribute("content-type", textParameterObj.get("contentType"), null);
            }
        }
    }

    /** BuilderUtil.getCharSetEncoding(String) with extractCharSetValue: "charset" found anywhere, case-sensitively. */
    static String getCharSetEncoding(String contentType) {
        if (contentType == null || contentType.indexOf("charset") == -1) {
            return "UTF-8"; // MessageContext.DEFAULT_CHAR_SET_ENCODING
        }
        int index = contentType.indexOf("charset");
        int indexOfEq = contentType.indexOf("=", index);
        int indexOfSemiColon = contentType.indexOf(";", indexOfEq);
        String value = indexOfSemiColon > 0 ? contentType.substring(indexOfEq + 1, indexOfSemiColon)
                : contentType.substring(indexOfEq + 1).trim();
        if (value.indexOf('"') != -1) {
            value = value.replaceAll("\"", "");
        }
        return value.trim();
    }

    /** DiskFileDataSource: the item's name (DiskFileItem.getName, which refuses a NUL) and Content-Type. */
    static final class DiskFileDataSource implements DataSource {
        private final DiskFileItem diskFileItem;

        DiskFileDataSource(DiskFileItem diskFileItem) {
            this.diskFileItem = diskFileItem;
        }

        public String getContentType() {
            return diskFileItem.getContentType();
        }

        public InputStream getInputStream() throws IOException {
            return diskFileItem.getInputStream();
        }

        public String getName() {
            return diskFileItem.getName();
        }

        public OutputStream getOutputStream() throws IOException {
            return diskFileItem.getOutputStream();
        }
    }

    private static String hex(String text) {
        StringBuilder units = new StringBuilder(text.length() * 4);
        for (char c : text.toCharArray()) {
            units.append(String.format("%04x", (int) c));
        }
        return units.toString();
    }
}
