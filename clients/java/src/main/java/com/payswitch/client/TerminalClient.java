package com.payswitch.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import javax.net.ssl.SSLHandshakeException;

/**
 * A terminal of the payswitch switch: every {@code /v1} endpoint of
 * docs/API.md section 1, signed (PSW1-HMAC-SHA256, {@link Signer}), retried
 * safely, errors typed ({@link ApiException} and its subclasses, {@link
 * TransportException}).
 *
 * <p><b>Retries.</b> A request is serialised once; every attempt sends the
 * same bytes (the same out_trade_no / out_request_no and content) with a
 * fresh timestamp and nonce. The switch is idempotent on those numbers: a
 * repeat never pays or refunds twice, it returns the current state. An
 * attempt is repeated, {@code maxAttempts} in all, after no answer (refused,
 * reset or closed connection; no answer within the time-out: for a pay
 * {@code wait} plus {@code timeoutMargin}), after 503 (every code of it means
 * "nothing was sent, retry the same request"), 408 {@code body_timeout}, a
 * proxy's 502/504, and 429 {@code rate_limited} / {@code
 * auth_nonce_memory_full}; it waits {@code backoffInitial} doubled per attempt
 * up to {@code backoffMax} (jittered down to half), or the answer's
 * Retry-After when longer (capped at {@code retryAfterMax}). 400, 401, 403,
 * 404 and 409 are answers, thrown at once. The client never makes up an
 * out_trade_no or out_request_no.
 *
 * <p>Thread-safe: one client may serve several threads.
 */
public final class TerminalClient {
    /** Statuses after which the same request is sent again. */
    public static final Set<Integer> RETRYABLE_STATUSES = Set.of(408, 502, 503, 504);
    private static final Set<String> RETRYABLE_429 = Set.of("rate_limited", "auth_nonce_memory_full");
    private static final Pattern NUMBER = Pattern.compile("[A-Za-z0-9_]{1,64}");
    /** The largest answer read (a trade is well under 2 KiB). */
    public static final int MAX_ANSWER_BYTES = 1 << 20;
    public static final String VERSION = "0.1.0";
    private static final System.Logger LOG = System.getLogger("com.payswitch.client");

    /** How the client waits between attempts (replaceable in tests). */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(Duration d) throws InterruptedException;
    }

    private final String base;
    private final String keyId;
    private final Secret secret;
    private final int maxAttempts;
    private final Duration backoffInitial;
    private final Duration backoffMax;
    private final Duration retryAfterMax;
    private final Duration timeoutMargin;
    private final HttpClient http;
    private final LongSupplier clockSecs;
    private final Sleeper sleeper;

    private TerminalClient(Builder b) {
        URI u = URI.create(b.baseUrl);
        if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null) {
            throw new IllegalArgumentException("baseUrl must be http(s)://host[:port]");
        }
        String p = u.getRawPath();
        if ((p != null && !p.isEmpty() && !"/".equals(p)) || u.getRawQuery() != null || u.getRawFragment() != null
                || u.getRawUserInfo() != null) {
            throw new IllegalArgumentException("baseUrl must be http(s)://host[:port] without a path: the signed path is /v1/...");
        }
        if (b.maxAttempts < 1 || b.maxAttempts > 10) {
            throw new IllegalArgumentException("maxAttempts must be 1 to 10");
        }
        Signer.checkKeyId(b.keyId);
        this.base = u.getScheme() + "://" + u.getRawAuthority();
        this.keyId = b.keyId;
        this.secret = Objects.requireNonNull(b.secret, "secret");
        this.maxAttempts = b.maxAttempts;
        this.backoffInitial = b.backoffInitial;
        this.backoffMax = b.backoffMax;
        this.retryAfterMax = b.retryAfterMax;
        this.timeoutMargin = b.timeoutMargin;
        this.clockSecs = b.clockSecs;
        this.sleeper = b.sleeper;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(b.connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    /**
     * A builder. {@code baseUrl}: the terminal listener, {@code http(s)://host:port};
     * {@code keyId}: the terminal's key id; {@code secretHex}: its secret as hex digits
     * (the admin API's {@code secret_hex}).
     */
    public static Builder builder(String baseUrl, String keyId, String secretHex) {
        return new Builder(baseUrl, keyId, Secret.ofHex(secretHex));
    }

    /** As {@link #builder(String, String, String)} with the secret as a {@link Secret}. */
    public static Builder builder(String baseUrl, String keyId, Secret secret) {
        return new Builder(baseUrl, keyId, secret);
    }

    /** The options; the defaults are those of the other clients of clients/. */
    public static final class Builder {
        private final String baseUrl;
        private final String keyId;
        private final Secret secret;
        private int maxAttempts = 4;
        private Duration backoffInitial = Duration.ofMillis(250);
        private Duration backoffMax = Duration.ofSeconds(8);
        private Duration retryAfterMax = Duration.ofSeconds(30);
        private Duration connectTimeout = Duration.ofSeconds(5);
        private Duration timeoutMargin = Duration.ofSeconds(15);
        private LongSupplier clockSecs = () -> System.currentTimeMillis() / 1000;
        private Sleeper sleeper = d -> Thread.sleep(d.toMillis());

        private Builder(String baseUrl, String keyId, Secret secret) {
            this.baseUrl = Objects.requireNonNull(baseUrl, "baseUrl");
            this.keyId = keyId;
            this.secret = secret;
        }

        /** Attempts per call, 1 to 10 (default 4). */
        public Builder maxAttempts(int n) {
            this.maxAttempts = n;
            return this;
        }

        /** The first wait between attempts (default 250 ms), doubled per attempt. */
        public Builder backoffInitial(Duration d) {
            this.backoffInitial = d;
            return this;
        }

        /** The longest wait between attempts (default 8 s). */
        public Builder backoffMax(Duration d) {
            this.backoffMax = d;
            return this;
        }

        /** The longest Retry-After honoured (default 30 s). */
        public Builder retryAfterMax(Duration d) {
            this.retryAfterMax = d;
            return this;
        }

        /** Connect time-out (default 5 s). */
        public Builder connectTimeout(Duration d) {
            this.connectTimeout = d;
            return this;
        }

        /** Added to the time the switch may hold a request (wait, 30 s, 60 s) to make an attempt's time-out (default 15 s). */
        public Builder timeoutMargin(Duration d) {
            this.timeoutMargin = d;
            return this;
        }

        /** The clock of the {@code ts} (unix seconds). */
        public Builder clockSecs(LongSupplier c) {
            this.clockSecs = c;
            return this;
        }

        /** How the client waits between attempts. */
        public Builder sleeper(Sleeper s) {
            this.sleeper = s;
            return this;
        }

        public TerminalClient build() {
            return new TerminalClient(this);
        }
    }

    @Override
    public String toString() {
        return "TerminalClient(base=" + base + ", keyId=" + keyId + ")";
    }

    public String keyId() {
        return keyId;
    }

    // --------------------------------------------------------------- endpoints

    /**
     * {@code POST /v1/pay?wait=S}: a barcode payment. The switch holds the
     * request up to {@code waitSecs} (0 to 60) and answers as soon as the trade
     * is SUCCESS, FAILED, CLOSED or UNKNOWN; PAYING after the wait: poll with
     * {@link #waitFinal}.
     */
    public Trade pay(PayRequest r, int waitSecs) throws PayswitchException, InterruptedException {
        if (waitSecs < 0 || waitSecs > 60) {
            throw new InvalidRequestException(0, "invalid_field",
                    "wait must be a whole number from 0 to 60 (checked before sending; nothing was sent)", "wait", 0,
                    null);
        }
        number(r.outTradeNo(), "out_trade_no");
        return Trade.fromJson(call("POST", "/v1/pay?wait=" + waitSecs, r.fields(),
                Duration.ofSeconds(waitSecs).plus(timeoutMargin)));
    }

    /** {@code POST /v1/precreate}: a QR payment; the trade carries {@code qr_code}. */
    public Trade precreate(PrecreateRequest r) throws PayswitchException, InterruptedException {
        number(r.outTradeNo(), "out_trade_no");
        return Trade.fromJson(call("POST", "/v1/precreate", r.fields(), Duration.ofSeconds(60).plus(timeoutMargin)));
    }

    /** {@code GET /v1/trades/{no}}: the trade from the journal. */
    public Trade query(String outTradeNo) throws PayswitchException, InterruptedException {
        return query(outTradeNo, false);
    }

    /** {@code GET /v1/trades/{no}[?refresh=1]}: {@code refresh} asks the gateway first (not for final trades). */
    public Trade query(String outTradeNo, boolean refresh) throws PayswitchException, InterruptedException {
        String pq = "/v1/trades/" + number(outTradeNo, "out_trade_no") + (refresh ? "?refresh=1" : "");
        return Trade.fromJson(call("GET", pq, null, Duration.ofSeconds(30).plus(timeoutMargin)));
    }

    /** {@code POST /v1/trades/{no}/cancel}; a paid trade throws {@link TradeStateException} (refund it). */
    public Trade cancel(String outTradeNo) throws PayswitchException, InterruptedException {
        String pq = "/v1/trades/" + number(outTradeNo, "out_trade_no") + "/cancel";
        return Trade.fromJson(call("POST", pq, null, Duration.ofSeconds(30).plus(timeoutMargin)));
    }

    /** {@code POST /v1/trades/{no}/close}; a paid trade throws {@link TradeStateException}. */
    public Trade close(String outTradeNo) throws PayswitchException, InterruptedException {
        String pq = "/v1/trades/" + number(outTradeNo, "out_trade_no") + "/close";
        return Trade.fromJson(call("POST", pq, null, Duration.ofSeconds(30).plus(timeoutMargin)));
    }

    /** {@code POST /v1/trades/{no}/refunds}. */
    public Refund refund(String outTradeNo, RefundRequest r) throws PayswitchException, InterruptedException {
        number(r.outRequestNo(), "out_request_no");
        String pq = "/v1/trades/" + number(outTradeNo, "out_trade_no") + "/refunds";
        return Refund.fromJson(call("POST", pq, r.fields(), Duration.ofSeconds(30).plus(timeoutMargin)));
    }

    /** {@code GET /v1/trades/{no}/refunds/{out_request_no}}. */
    public Refund queryRefund(String outTradeNo, String outRequestNo) throws PayswitchException, InterruptedException {
        String pq = "/v1/trades/" + number(outTradeNo, "out_trade_no") + "/refunds/"
                + number(outRequestNo, "out_request_no");
        return Refund.fromJson(call("GET", pq, null, Duration.ofSeconds(30).plus(timeoutMargin)));
    }

    /** {@code GET /healthz} (not signed): whether the switch answers ok. */
    public boolean health() throws InterruptedException {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/healthz"))
                    .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 && r.body().contains("\"ok\"");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Queries the trade every {@code interval} until it is SUCCESS, FAILED or
     * CLOSED, for at most {@code timeout}; returns the last trade seen (still
     * PAYING, WAIT_BUYER_PAY or UNKNOWN when the time ran out: keep the goods
     * and the out_trade_no, and ask again later).
     */
    public Trade waitFinal(String outTradeNo, Duration timeout, Duration interval)
            throws PayswitchException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Trade t = query(outTradeNo);
            if (t.isFinal() || System.nanoTime() + interval.toNanos() > deadline) {
                return t;
            }
            sleeper.sleep(interval);
        }
    }

    /** As {@link #waitFinal}, for a refund (SUCCESS or FAILED). */
    public Refund waitRefundFinal(String outTradeNo, String outRequestNo, Duration timeout, Duration interval)
            throws PayswitchException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Refund r = queryRefund(outTradeNo, outRequestNo);
            if (r.isFinal() || System.nanoTime() + interval.toNanos() > deadline) {
                return r;
            }
            sleeper.sleep(interval);
        }
    }

    // --------------------------------------------------------------- transport

    private static String number(String v, String name) throws InvalidRequestException {
        if (v == null || !NUMBER.matcher(v).matches()) {
            throw new InvalidRequestException(0, "invalid_field", name
                    + " must be 1 to 64 letters, digits or '_' (checked before sending; nothing was sent)", name, 0,
                    null);
        }
        return v;
    }

    private Duration backoff(int attempt) {
        long initial = backoffInitial.toMillis();
        long max = backoffMax.toMillis();
        long d = Math.min(max, initial << Math.min(attempt - 1, 20));
        return Duration.ofMillis(d / 2 + ThreadLocalRandom.current().nextLong(d / 2 + 1));
    }

    private Object call(String method, String pq, Map<String, Object> doc, Duration timeout)
            throws PayswitchException, InterruptedException {
        // Serialised once: every attempt sends these very bytes.
        byte[] body = doc == null ? new byte[0] : Json.write(doc).getBytes(StandardCharsets.UTF_8);
        String path = pq.contains("?") ? pq.substring(0, pq.indexOf('?')) : pq;
        for (int attempt = 1; ; attempt++) {
            long ts = clockSecs.getAsLong();
            String auth = Signer.authorization(keyId, secret, method, pq, ts, Signer.newNonce(), body);
            HttpRequest req = HttpRequest.newBuilder(URI.create(base + pq))
                    .timeout(timeout)
                    .header("Authorization", auth)
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json")
                    .header("User-Agent", "payswitch-client-java/" + VERSION)
                    .method(method, "GET".equals(method) ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            int status;
            byte[] data;
            Map<String, java.util.List<String>> headers;
            try {
                HttpResponse<byte[]> resp = exchange(req, timeout, method, path);
                data = resp.body();
                status = resp.statusCode();
                headers = resp.headers().map();
            } catch (SSLHandshakeException e) {
                throw new TransportException(method, path, attempt, "TLS handshake failed: " + e.getMessage());
            } catch (IOException e) {
                String reason = e.getClass().getSimpleName() + (e.getMessage() != null ? ": " + e.getMessage() : "");
                if (attempt < maxAttempts) {
                    Duration w = backoff(attempt);
                    LOG.log(System.Logger.Level.WARNING, "{0} {1}: no answer ({2}); the same request again in {3} ms "
                            + "(attempt {4} of {5})", method, path, e.getClass().getSimpleName(),
                            String.valueOf(w.toMillis()), String.valueOf(attempt + 1), String.valueOf(maxAttempts));
                    sleeper.sleep(w);
                    continue;
                }
                throw new TransportException(method, path, attempt, reason);
            }
            if (status >= 200 && status < 300) {
                try {
                    return Json.parse(utf8(data));
                } catch (Json.ParseException | CharacterCodingException e) {
                    throw new ProtocolException(method + " " + path + ": HTTP " + status + " with a body that is not JSON ("
                            + e.getMessage() + ")");
                }
            }
            ApiException err = error(status, headers, data, attempt);
            boolean retryable = RETRYABLE_STATUSES.contains(status)
                    || (status == 429 && RETRYABLE_429.contains(err.code()));
            if (retryable && attempt < maxAttempts) {
                Duration w = backoff(attempt);
                if (err.retryAfter().isPresent()) {
                    Duration ra = err.retryAfter().get();
                    if (ra.compareTo(retryAfterMax) > 0) {
                        ra = retryAfterMax;
                    }
                    if (ra.compareTo(w) > 0) {
                        w = ra;
                    }
                }
                LOG.log(System.Logger.Level.WARNING, "{0} {1}: HTTP {2} {3}; the same request again in {4} ms "
                        + "(attempt {5} of {6})", method, path, String.valueOf(status), err.code(),
                        String.valueOf(w.toMillis()), String.valueOf(attempt + 1), String.valueOf(maxAttempts));
                sleeper.sleep(w);
                continue;
            }
            throw err;
        }
    }

    /** An answer over {@link #MAX_ANSWER_BYTES}. */
    private static final class TooLarge extends IOException {
        private static final long serialVersionUID = 1L;
    }

    /** Collects an answer's body, refusing it past {@code max} bytes (never blocks). */
    private static final class BoundedBody implements HttpResponse.BodySubscriber<byte[]> {
        private final CompletableFuture<byte[]> result = new CompletableFuture<>();
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private final int max;
        private Flow.Subscription subscription;

        BoundedBody(int max) {
            this.max = max;
        }

        @Override
        public CompletionStage<byte[]> getBody() {
            return result;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            for (ByteBuffer b : items) {
                if (result.isDone()) {
                    return;
                }
                if (buf.size() + b.remaining() > max) {
                    subscription.cancel();
                    result.completeExceptionally(new TooLarge());
                    return;
                }
                byte[] a = new byte[b.remaining()];
                b.get(a);
                buf.write(a, 0, a.length);
            }
        }

        @Override
        public void onError(Throwable t) {
            result.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            result.complete(buf.toByteArray());
        }
    }

    /**
     * One attempt: the whole exchange (connect, headers, body) within {@code
     * timeout}, the body within {@link #MAX_ANSWER_BYTES}.
     */
    private HttpResponse<byte[]> exchange(HttpRequest req, Duration timeout, String method, String path)
            throws IOException, ProtocolException, InterruptedException {
        CompletableFuture<HttpResponse<byte[]>> f = http.sendAsync(req, info -> new BoundedBody(MAX_ANSWER_BYTES));
        try {
            return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new HttpTimeoutException("no complete answer within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            f.cancel(true);
            throw e;
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
                c = c.getCause();
            }
            if (c instanceof TooLarge) {
                throw new ProtocolException(method + " " + path + ": an answer larger than " + MAX_ANSWER_BYTES
                        + " bytes");
            }
            if (c instanceof IOException) {
                throw (IOException) c;
            }
            throw new IOException(c);
        }
    }

    private static String utf8(byte[] b) throws CharacterCodingException {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(java.nio.ByteBuffer.wrap(b))
                .toString();
    }

    private ApiException error(int status, Map<String, java.util.List<String>> headers, byte[] data, int attempts) {
        String code = "http_" + status;
        String message = "HTTP " + status + " without the error JSON";
        String field = null;
        try {
            Object e = Fields.object(Json.parse(utf8(data)), "error").get("error");
            if (e instanceof Map) {
                Map<String, Object> m = Fields.object(e, "error");
                if (m.get("code") instanceof String) {
                    code = (String) m.get("code");
                }
                if (m.get("message") instanceof String) {
                    message = (String) m.get("message");
                }
                if (m.get("field") instanceof String) {
                    field = (String) m.get("field");
                }
            }
        } catch (Json.ParseException | CharacterCodingException | ProtocolException ignored) {
            // Not the error JSON (a proxy's page): the status says enough.
        }
        return ApiException.of(status, code, message, field, attempts, retryAfter(headers));
    }

    private Duration retryAfter(Map<String, java.util.List<String>> headers) {
        for (Map.Entry<String, java.util.List<String>> e : headers.entrySet()) {
            if (!"retry-after".equalsIgnoreCase(e.getKey()) || e.getValue().isEmpty()) {
                continue;
            }
            String v = e.getValue().get(0).trim();
            if (v.matches("[0-9]{1,9}")) {
                return Duration.ofSeconds(Long.parseLong(v));
            }
            try {
                long at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toEpochSecond();
                return Duration.ofSeconds(Math.max(0, at - clockSecs.getAsLong()));
            } catch (DateTimeParseException ignored) {
                return null;
            }
        }
        return null;
    }
}
