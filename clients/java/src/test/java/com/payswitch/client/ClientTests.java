package com.payswitch.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The Java client's unit tests, with the JDK only (no JUnit): {@code java -cp
 * CLASSES com.payswitch.client.ClientTests [signing-vectors.json]}. Exit 0
 * when every check passed. engine/tests/clients.rs compiles and runs it.
 */
public final class ClientTests {
    private static int failures;
    private static int checks;

    private static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            failures++;
            System.err.println("FAIL: " + what);
        }
    }

    private static void eq(Object got, Object want, String what) {
        check(java.util.Objects.equals(got, want), what + ": expected " + want + ", got " + got);
    }

    interface Body {
        void run() throws Exception;
    }

    private static <T extends Throwable> T raises(Class<T> cls, Body b, String what) {
        try {
            b.run();
        } catch (Throwable t) {
            if (cls.isInstance(t)) {
                return cls.cast(t);
            }
            check(false, what + ": expected " + cls.getSimpleName() + ", got " + t);
            return null;
        }
        check(false, what + ": expected " + cls.getSimpleName() + ", nothing thrown");
        return null;
    }

    public static void main(String[] args) throws Exception {
        Path vectors = Path.of(args.length > 0 ? args[0]
                : System.getenv().getOrDefault("PAYSWITCH_SIGNING_VECTORS", "../testdata/signing-vectors.json"));
        vectors(vectors);
        json();
        secrets();
        retries();
        notRetried();
        bounds();
        localChecks();
        System.err.println(checks + " checks, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }

    // ----------------------------------------------------------------- signing

    @SuppressWarnings("unchecked")
    static void vectors(Path file) throws Exception {
        Map<String, Object> doc = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        List<Object> list = (List<Object>) doc.get("vectors");
        check(list.size() >= 4, "at least 4 vectors");
        for (Object o : list) {
            Map<String, Object> v = (Map<String, Object>) o;
            String name = (String) v.get("name");
            byte[] body = ((String) v.get("body")).getBytes(StandardCharsets.UTF_8);
            long ts = (Long) v.get("ts");
            Secret s = Secret.ofHex((String) v.get("secret_hex"));
            String m = (String) v.get("method");
            String pq = (String) v.get("path_and_query");
            String nonce = (String) v.get("nonce");
            eq(Signer.stringToSign(m, pq, ts, nonce, body), v.get("string_to_sign"), name + ": string to sign");
            eq(Signer.sign(s, m, pq, ts, nonce, body), v.get("sig"), name + ": sig");
            eq(Signer.authorization((String) v.get("key_id"), s, m, pq, ts, nonce, body), v.get("authorization"),
                    name + ": header");
        }
        raises(IllegalArgumentException.class, () -> Signer.authorization("T1", Secret.ofHex("00"), "GET", "/", 1,
                "short", new byte[0]), "a short nonce");
        raises(IllegalArgumentException.class, () -> Signer.authorization("a b", Secret.ofHex("00"), "GET", "/", 1,
                "aaaaaaaaaaaaaaaa", new byte[0]), "a key id with a space");
        check(Signer.newNonce().matches("[0-9a-f]{32}"), "nonce shape");
    }

    // ----------------------------------------------------------------- JSON

    static void json() throws Exception {
        String text = "{\"a\":\"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00/\",\"b\":[1,-2.50,3.5,true,false,null,{}],"
                + "\"c\":\"\u4e2d\u6587\",\"d\":12345678901234567890}";
        Object v = Json.parse(" \n" + text + "\t");
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) v;
        eq(m.get("a"), "x\"y\\z\n\u00e9\ud83d\ude00/", "string escapes");
        eq(((List<?>) m.get("b")).get(0), 1L, "integer");
        eq(((List<?>) m.get("b")).get(1), new java.math.BigDecimal("-2.50"), "decimal, exact");
        eq(((List<?>) m.get("b")).get(5), null, "null");
        eq(m.get("c"), "\u4e2d\u6587", "UTF-16 text");
        eq(m.get("d"), new java.math.BigDecimal("12345678901234567890"), "a big integer");
        eq(Json.parse("[3e2,-1E-2]"), List.of(new java.math.BigDecimal("3e2"), new java.math.BigDecimal("-1E-2")),
                "exponents");
        eq(Json.parse(Json.write(v)), v, "write then parse is the same value");
        Map<String, Object> w = new LinkedHashMap<>();
        w.put("s", "q\"\\\u0001\u2028");
        w.put("n", List.of(1, 2L, new java.math.BigDecimal("0.10")));
        eq(Json.write(w), "{\"s\":\"q\\\"\\\\\\u0001\\u2028\",\"n\":[1,2,0.10]}", "write escapes");
        for (String bad : new String[] {"", "{", "{\"a\":1,}", "[1,]", "01", "1.", "-", "\"\u0001\"", "{\"a\":1}x",
                "{\"a\":1,\"a\":2}", "\"\\x\"", "tru", "[" .repeat(100) + "]".repeat(100), "{a:1}", "'a'"}) {
            raises(Json.ParseException.class, () -> Json.parse(bad), "refuses " + bad);
        }
        raises(IllegalArgumentException.class, () -> Json.write(Double.NaN), "NaN");
    }

    // ----------------------------------------------------------------- secrets

    static void secrets() {
        String hex = "5a".repeat(32);
        Secret s = Secret.ofHex(hex);
        check(!s.toString().contains("5a5a"), "Secret.toString redacts");
        TerminalClient c = TerminalClient.builder("http://127.0.0.1:1", "T1", hex).build();
        check(!c.toString().contains("5a5a") && c.toString().contains("T1"), "TerminalClient.toString: " + c);
        IllegalArgumentException e = raises(IllegalArgumentException.class,
                () -> Secret.ofHex("not-hex-but-a-secret-word!"), "bad hex");
        check(e != null && !e.getMessage().contains("secret-word"), "a bad secret is not echoed");
        check(!java.io.Serializable.class.isAssignableFrom(Secret.class), "a Secret is not Serializable");
        check(!PayRequest.of("A1", "281234567890120000", "1.00", "x").toString().contains("28123456789012"),
                "PayRequest.toString masks the auth code");
    }

    // ----------------------------------------------------------------- a scripted server

    /** An HTTP/1.1 server on loopback answering from a script, one request per connection. */
    static final class Scripted implements AutoCloseable {
        final ServerSocket server;
        final List<Object[]> script = Collections.synchronizedList(new ArrayList<>());
        final List<Map<String, Object>> seen = Collections.synchronizedList(new ArrayList<>());
        final Thread thread;

        Scripted() throws IOException {
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            thread = new Thread(this::serve);
            thread.setDaemon(true);
            thread.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getLocalPort();
        }

        static Object[] drop() {
            return new Object[] {"drop"};
        }

        static Object[] stall() {
            return new Object[] {"stall"};
        }

        static Object[] answer(int status, String json, String... headers) {
            return new Object[] {"answer", status, json, headers};
        }

        static Object[] error(int status, String code, String field, String... headers) {
            return answer(status, "{\"error\":{\"code\":\"" + code + "\",\"message\":\"scripted\""
                    + (field != null ? ",\"field\":\"" + field + "\"" : "") + "}}", headers);
        }

        void serve() {
            while (!server.isClosed()) {
                try (Socket s = server.accept()) {
                    s.setSoTimeout(10_000);
                    handle(s);
                } catch (IOException e) {
                    // closed, or a client that went away
                }
            }
        }

        void handle(Socket s) throws IOException {
            InputStream in = s.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int state = 0;
            while (state < 4) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                head.write(b);
                state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3))
                        ? state + 1 : (b == '\r' ? 1 : 0);
            }
            String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
            String[] requestLine = lines[0].split(" ");
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int c = lines[i].indexOf(':');
                if (c > 0) {
                    headers.put(lines[i].substring(0, c).trim().toLowerCase(), lines[i].substring(c + 1).trim());
                }
            }
            int n = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            byte[] body = in.readNBytes(n);
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("method", requestLine[0]);
            r.put("path", requestLine[1]);
            r.put("auth", headers.get("authorization"));
            r.put("body", new String(body, StandardCharsets.UTF_8));
            r.put("at", System.nanoTime());
            seen.add(r);
            Object[] action = script.isEmpty() ? answer(200, TRADE) : script.remove(0);
            if ("drop".equals(action[0])) {
                return;
            }
            if ("stall".equals(action[0])) {
                // The headers and a part of the body, then nothing.
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"out_")
                        .getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
                try {
                    Thread.sleep(8_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return;
            }
            byte[] data = ((String) action[2]).getBytes(StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder("HTTP/1.1 " + action[1] + " Scripted\r\n");
            sb.append("Content-Type: application/json\r\nConnection: close\r\nContent-Length: ").append(data.length)
                    .append("\r\n");
            for (String h : (String[]) action[3]) {
                sb.append(h).append("\r\n");
            }
            sb.append("\r\n");
            OutputStream out = s.getOutputStream();
            out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(data);
            out.flush();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    static final String SECRET_HEX = "33".repeat(32);
    static final String TRADE = "{\"out_trade_no\":\"A1\",\"status\":\"SUCCESS\",\"trade_no\":\"2026\","
            + "\"total_amount\":\"1.00\",\"refunded_amount\":\"0.00\"}";

    /** Whether a recorded request is validly signed by T9; its nonce. */
    static String verified(Map<String, Object> r) throws Exception {
        String auth = (String) r.get("auth");
        Map<String, String> f = new LinkedHashMap<>();
        for (String part : auth.substring("PSW1-HMAC-SHA256 ".length()).split(",")) {
            String[] kv = part.trim().split("=", 2);
            f.put(kv[0], kv[1]);
        }
        byte[] body = ((String) r.get("body")).getBytes(StandardCharsets.UTF_8);
        String text = r.get("method") + "\n" + r.get("path") + "\n" + f.get("ts") + "\n" + f.get("nonce") + "\n"
                + Signer.hex(java.security.MessageDigest.getInstance("SHA-256").digest(body));
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(Secret.ofHex(SECRET_HEX).bytes(), "HmacSHA256"));
        String want = Base64.getEncoder().encodeToString(mac.doFinal(text.getBytes(StandardCharsets.UTF_8)));
        return "T9".equals(f.get("key")) && want.equals(f.get("sig")) ? f.get("nonce") : null;
    }

    static List<Duration> sleeps = Collections.synchronizedList(new ArrayList<>());

    static TerminalClient client(Scripted s) {
        return TerminalClient.builder(s.url(), "T9", SECRET_HEX)
                .backoffInitial(Duration.ofMillis(10))
                .backoffMax(Duration.ofMillis(20))
                .timeoutMargin(Duration.ofSeconds(3))
                .sleeper(d -> {
                    sleeps.add(d);
                    Thread.sleep(Math.min(d.toMillis(), 50));
                })
                .build();
    }

    static void retries() throws Exception {
        Supplier<PayRequest> pay = () -> PayRequest.of("A1", "281234567890120000", "1.00", "coffee");
        try (Scripted s = new Scripted()) {
            TerminalClient c = client(s);
            s.script.add(Scripted.drop());
            s.script.add(Scripted.error(503, "journal_unavailable", null));
            s.script.add(Scripted.answer(200, TRADE));
            Trade t = c.pay(pay.get(), 0);
            eq(t.status(), "SUCCESS", "paid after a lost answer and a 503");
            eq(s.seen.size(), 3, "three attempts");
            Set<Object> bodies = new HashSet<>();
            Set<String> nonces = new HashSet<>();
            for (Map<String, Object> r : s.seen) {
                bodies.add(r.get("body"));
                String nonce = verified(r);
                check(nonce != null, "every attempt validly signed");
                nonces.add(nonce);
                eq(r.get("path"), "/v1/pay?wait=0", "the path");
            }
            eq(bodies.size(), 1, "the same body every attempt");
            eq(nonces.size(), 3, "a fresh nonce every attempt");
            check(((String) s.seen.get(0).get("body")).contains("\"out_trade_no\":\"A1\""), "the body");

            s.seen.clear();
            sleeps.clear();
            s.script.add(Scripted.error(429, "rate_limited", null, "Retry-After: 3"));
            for (int i = 0; i < 10; i++) {
                s.script.add(Scripted.error(503, "switch_busy", null));
            }
            UnavailableException u = raises(UnavailableException.class, () -> c.pay(pay.get(), 0), "503 to the end");
            check(u != null && u.status() == 503 && "switch_busy".equals(u.code()) && u.attempts() == 4,
                    "the last answer's error, 4 attempts: " + u);
            eq(s.seen.size(), 4, "bounded attempts");
            check(!sleeps.isEmpty() && sleeps.get(0).toMillis() >= 3000, "Retry-After: 3 waited: " + sleeps);
            s.script.clear();

            s.seen.clear();
            for (int i = 0; i < 4; i++) {
                s.script.add(Scripted.drop());
            }
            TransportException te = raises(TransportException.class,
                    () -> c.refund("A1", RefundRequest.of("R1", "0.50")), "no answer at all");
            check(te != null && te.attempts() == 4 && te.getMessage().contains("outcome is unknown"),
                    "transport error: " + te);
            check(te == null || !te.getMessage().contains("3333"), "no secret in the error");
        }
    }

    static void notRetried() throws Exception {
        Object[][] cases = {
            {409, "conflict", null, ConflictException.class},
            {409, "trade_state", null, TradeStateException.class},
            {400, "invalid_field", "refund_amount", InvalidRequestException.class},
            {401, "auth_timestamp_skew", null, AuthenticationException.class},
            {429, "ip_limited", null, AuthenticationException.class},
            {403, "terminal_suspended", null, ForbiddenException.class},
            {404, "not_found", null, NotFoundException.class},
        };
        try (Scripted s = new Scripted()) {
            TerminalClient c = client(s);
            for (Object[] k : cases) {
                s.seen.clear();
                s.script.clear();
                s.script.add(Scripted.error((Integer) k[0], (String) k[1], (String) k[2]));
                @SuppressWarnings("unchecked")
                Class<? extends ApiException> cls = (Class<? extends ApiException>) k[3];
                ApiException e = raises(cls, () -> c.refund("A1", RefundRequest.of("R1", "0.50")), (String) k[1]);
                eq(s.seen.size(), 1, k[1] + " is not retried");
                if (e != null) {
                    eq(e.status(), k[0], k[1] + " status");
                    eq(e.code(), k[1], k[1] + " code");
                    eq(e.field().orElse(null), k[2], k[1] + " field");
                }
            }
            s.seen.clear();
            s.script.clear();
            String refund = "{\"out_trade_no\":\"A1\",\"out_request_no\":\"R1\",\"refund_amount\":\"0.50\","
                    + "\"status\":\"SUCCESS\",\"refunded_amount\":\"0.50\"}";
            for (int i = 0; i < 4; i++) {
                s.script.add(Scripted.answer(200, TRADE));
            }
            s.script.add(Scripted.answer(200, refund));
            c.query("A1");
            c.query("A1", true);
            c.cancel("A1");
            c.close("A1");
            Refund r = c.queryRefund("A1", "R1");
            eq(r.refundedAmount(), "0.50", "the refund answer");
            List<String> got = new ArrayList<>();
            for (Map<String, Object> x : s.seen) {
                got.add(x.get("method") + " " + x.get("path") + " [" + x.get("body") + "]");
                check(verified(x) != null, "signed: " + x.get("path"));
            }
            eq(got, List.of("GET /v1/trades/A1 []", "GET /v1/trades/A1?refresh=1 []", "POST /v1/trades/A1/cancel []",
                    "POST /v1/trades/A1/close []", "GET /v1/trades/A1/refunds/R1 []"), "paths and bodies");
        }
    }

    static void bounds() throws Exception {
        try (Scripted s = new Scripted()) {
            TerminalClient c = TerminalClient.builder(s.url(), "T9", SECRET_HEX)
                    .maxAttempts(1)
                    .timeoutMargin(Duration.ofSeconds(1))
                    .build();
            s.script.add(Scripted.answer(200, "\"" + "x".repeat(TerminalClient.MAX_ANSWER_BYTES + 10) + "\""));
            ProtocolException big = raises(ProtocolException.class, () -> c.query("A1"), "an answer over the limit");
            check(big != null && big.getMessage().contains("larger than"), "refused for its size: " + big);
            s.script.add(Scripted.stall());
            long t0 = System.nanoTime();
            TransportException e = raises(TransportException.class,
                    () -> c.pay(PayRequest.of("A1", "281234567890120000", "1.00", "x"), 1), "a body that stalls");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            check(e != null && ms >= 1_900 && ms < 6_000, "the whole attempt is bounded by wait + margin: " + ms + " ms");
        }
    }

    static void localChecks() throws Exception {
        try (Scripted s = new Scripted()) {
            TerminalClient c = client(s);
            InvalidRequestException e = raises(InvalidRequestException.class, () -> c.query("A-1/../x"), "bad number");
            check(e != null && e.status() == 0 && "out_trade_no".equals(e.field().orElse(null)), "local check: " + e);
            raises(InvalidRequestException.class,
                    () -> c.pay(PayRequest.of("A1", "281234567890120000", "1.00", "x"), 61), "wait 61");
            eq(s.seen.size(), 0, "nothing sent");
        }
    }
}
