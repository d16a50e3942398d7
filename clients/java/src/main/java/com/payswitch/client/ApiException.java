package com.payswitch.client;

import java.time.Duration;
import java.util.Optional;

/**
 * The switch answered {@code {"error": {"code", "message", "field"}}} (or a
 * local check refused the request before anything was sent: then {@link
 * #status()} is 0). {@link #of} picks the subclass by the HTTP status (and,
 * for 409 and 429, the code).
 */
public class ApiException extends PayswitchException {
    private static final long serialVersionUID = 1L;
    private final int status;
    private final String code;
    private final String field;
    private final String serverMessage;
    private final int attempts;
    private final Duration retryAfter;

    public ApiException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super((status == 0 ? "not sent" : "HTTP " + status) + " " + code
                + (field != null ? " (field " + field + ")" : "") + ": " + message);
        this.status = status;
        this.code = code;
        this.field = field;
        this.serverMessage = message;
        this.attempts = attempts;
        this.retryAfter = retryAfter;
    }

    /** The HTTP status; 0 when a local check refused the request (nothing was sent). */
    public int status() {
        return status;
    }

    /** The API's snake_case code ({@code invalid_field}, {@code conflict}, ...). */
    public String code() {
        return code;
    }

    /** The request field (or query or path parameter) at fault, when one is. */
    public Optional<String> field() {
        return Optional.ofNullable(field);
    }

    /** The switch's sentence for a person. */
    public String serverMessage() {
        return serverMessage;
    }

    /** Attempts made before this answer was given up on. */
    public int attempts() {
        return attempts;
    }

    /** The answer's Retry-After, when it had one. */
    public Optional<Duration> retryAfter() {
        return Optional.ofNullable(retryAfter);
    }

    /** The exception class of an answer. */
    public static ApiException of(int status, String code, String message, String field, int attempts,
            Duration retryAfter) {
        switch (status) {
            case 400:
            case 413:
                return new InvalidRequestException(status, code, message, field, attempts, retryAfter);
            case 401:
                return new AuthenticationException(status, code, message, field, attempts, retryAfter);
            case 403:
                return new ForbiddenException(status, code, message, field, attempts, retryAfter);
            case 404:
                return new NotFoundException(status, code, message, field, attempts, retryAfter);
            case 409:
                return "trade_state".equals(code)
                        ? new TradeStateException(status, code, message, field, attempts, retryAfter)
                        : new ConflictException(status, code, message, field, attempts, retryAfter);
            case 429:
                return "ip_limited".equals(code)
                        ? new AuthenticationException(status, code, message, field, attempts, retryAfter)
                        : new RateLimitedException(status, code, message, field, attempts, retryAfter);
            case 408:
            case 502:
            case 503:
            case 504:
                return new UnavailableException(status, code, message, field, attempts, retryAfter);
            default:
                return new ApiException(status, code, message, field, attempts, retryAfter);
        }
    }
}
