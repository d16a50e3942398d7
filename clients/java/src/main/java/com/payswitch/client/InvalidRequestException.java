package com.payswitch.client;

import java.time.Duration;

/**
 * 400 ({@code invalid_field}, {@code missing_field}, {@code invalid_json}, {@code body_unreadable}) or 413
 * {@code body_too_large}; {@link #field()} names the field at fault. Also thrown
 * before sending (status 0) for an out_trade_no or out_request_no that cannot
 * be a path segment. Fix the request: a retry would get the same answer.
 */
public final class InvalidRequestException extends ApiException {
    private static final long serialVersionUID = 1L;

    public InvalidRequestException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
