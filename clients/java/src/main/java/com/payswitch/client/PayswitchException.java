package com.payswitch.client;

/**
 * Base of every error of this package. No error carries the terminal secret,
 * the Authorization header or a request body (a pay body holds the buyer's
 * payment code).
 */
public class PayswitchException extends Exception {
    private static final long serialVersionUID = 1L;

    public PayswitchException(String message) {
        super(message);
    }
}
