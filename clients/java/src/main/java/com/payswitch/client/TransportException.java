package com.payswitch.client;

/**
 * No answer: every attempt failed to connect, was cut or timed out.
 *
 * <p>For a pay, precreate, cancel, close or refund <b>the outcome is
 * unknown</b>: the switch may have received it. Send the same request again
 * (same out_trade_no / out_request_no, same content: the switch never pays
 * twice) or query it; never start a new out_trade_no for the same sale.
 */
public final class TransportException extends PayswitchException {
    private static final long serialVersionUID = 1L;
    private final String method;
    private final String path;
    private final int attempts;
    private final String reason;

    public TransportException(String method, String path, int attempts, String reason) {
        super(method + " " + path + ": no answer after " + attempts + " attempt(s) (" + reason
                + "); the outcome is unknown: send the same request again or query it");
        this.method = method;
        this.path = path;
        this.attempts = attempts;
        this.reason = reason;
    }

    public String method() {
        return method;
    }

    /** The path (without the query). */
    public String path() {
        return path;
    }

    public int attempts() {
        return attempts;
    }

    public String reason() {
        return reason;
    }
}
