package com.payswitch.client;

import java.time.Duration;

/**
 * 409 {@code conflict}: this out_trade_no (or out_request_no) was used with different
 * content. Never retried, and never "fixed" with a new number: two sales
 * share a number, or the request changed.
 */
public final class ConflictException extends ApiException {
    private static final long serialVersionUID = 1L;

    public ConflictException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
