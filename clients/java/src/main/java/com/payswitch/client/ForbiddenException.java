package com.payswitch.client;

import java.time.Duration;

/**
 * 403 {@code terminal_suspended} / {@code merchant_suspended}: new payments are refused;
 * queries, cancels and refunds still work.
 */
public final class ForbiddenException extends ApiException {
    private static final long serialVersionUID = 1L;

    public ForbiddenException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
