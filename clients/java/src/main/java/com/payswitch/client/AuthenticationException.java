package com.payswitch.client;

import java.time.Duration;

/**
 * 401 {@code auth_*}: a wrong key id or secret, a clock more than the window (300 s)
 * away from the switch's ({@code auth_timestamp_skew}), a replayed nonce; also 429
 * {@code ip_limited} (this address failed authentication too often). Not retried.
 */
public final class AuthenticationException extends ApiException {
    private static final long serialVersionUID = 1L;

    public AuthenticationException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
