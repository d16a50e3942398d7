package com.payswitch.client;

import java.security.MessageDigest;
import java.util.Arrays;

/**
 * A terminal's HMAC secret. Its bytes are never shown: {@link #toString()}
 * is {@code Secret(<redacted>)}, it is not {@code Serializable}, and no
 * exception of this package carries it.
 */
public final class Secret {
    private final byte[] key;

    private Secret(byte[] key) {
        if (key.length == 0) {
            throw new IllegalArgumentException("the secret must not be empty");
        }
        this.key = key.clone();
    }

    /** The secret as bytes (copied). */
    public static Secret ofBytes(byte[] key) {
        return new Secret(key);
    }

    /**
     * The secret from hex digits: the {@code secret_hex} the admin API or the
     * configuration holds (64 digits for the switch's 32-byte secrets).
     *
     * @throws IllegalArgumentException when it is not hex (the text is not echoed)
     */
    public static Secret ofHex(String hex) {
        String h = hex.trim();
        if (h.length() % 2 != 0) {
            throw new IllegalArgumentException("the secret must be an even number of hex digits");
        }
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            int hi = Character.digit(h.charAt(2 * i), 16);
            int lo = Character.digit(h.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("the secret must be hex digits (the secret_hex the admin API printed)");
            }
            b[i] = (byte) (hi * 16 + lo);
        }
        Secret s = new Secret(b);
        Arrays.fill(b, (byte) 0);
        return s;
    }

    /** The key bytes, for the MAC only (package-private; a copy). */
    byte[] bytes() {
        return key.clone();
    }

    @Override
    public String toString() {
        return "Secret(<redacted>)";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Secret && MessageDigest.isEqual(key, ((Secret) o).key);
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(this);
    }
}
