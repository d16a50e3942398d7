package com.payswitch.client;

import java.time.Duration;

/**
 * 503 ({@code gateway_unavailable}, {@code switch_busy}, {@code shutting_down},
 * {@code journal_unavailable}, {@code journal_busy}), 408 {@code body_timeout} or a proxy's
 * 502/504 after the last attempt. For the switch's own 503 nothing was sent;
 * the same request may be sent again later.
 */
public final class UnavailableException extends ApiException {
    private static final long serialVersionUID = 1L;

    public UnavailableException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
