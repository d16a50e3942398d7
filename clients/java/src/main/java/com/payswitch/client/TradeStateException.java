package com.payswitch.client;

import java.time.Duration;

/**
 * 409 {@code trade_state}: the trade's state does not allow it (cancel or close of a
 * paid trade: refund it instead; a refund of an unpaid trade).
 */
public final class TradeStateException extends ApiException {
    private static final long serialVersionUID = 1L;

    public TradeStateException(int status, String code, String message, String field, int attempts, Duration retryAfter) {
        super(status, code, message, field, attempts, retryAfter);
    }
}
