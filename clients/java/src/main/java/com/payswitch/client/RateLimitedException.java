package com.payswitch.client;

import java.time.Duration;

/**
 * 429 {@code rate_limited} / {@code auth_nonce_memory_full} after the last attempt: the
 * terminal is over its rate.
 */
public final class RateLimitedException extends ApiException {
    private static final long serialVersionUID = 1L;

    public RateLimitedException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
