package com.payswitch.client;

import java.util.Map;

/** Reading the answers' JSON objects. */
final class Fields {
    private Fields() {}

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Object v, String what) throws ProtocolException {
        if (!(v instanceof Map)) {
            throw new ProtocolException("the " + what + " answer is not a JSON object");
        }
        return (Map<String, Object>) v;
    }

    static String req(Map<String, Object> m, String k, String what) throws ProtocolException {
        Object v = m.get(k);
        if (!(v instanceof String)) {
            throw new ProtocolException("the " + what + " answer has no string \"" + k + "\"");
        }
        return (String) v;
    }

    static String opt(Map<String, Object> m, String k) {
        Object v = m.get(k);
        return v instanceof String ? (String) v : null;
    }
}
