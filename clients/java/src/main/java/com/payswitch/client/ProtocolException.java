package com.payswitch.client;

/** The switch answered 2xx with something that is not the documented JSON. */
public final class ProtocolException extends PayswitchException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }
}
