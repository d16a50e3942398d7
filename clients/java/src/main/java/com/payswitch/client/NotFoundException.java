package com.payswitch.client;

import java.time.Duration;

/**
 * 404 {@code not_found} (no such trade or refund, or not visible to this terminal)
 * or {@code no_route}.
 */
public final class NotFoundException extends ApiException {
    private static final long serialVersionUID = 1L;

    public NotFoundException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
