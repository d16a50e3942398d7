package com.payswitch.client;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The PSW1-HMAC-SHA256 signature of the terminal API (docs/ENGINE.md,
 * "Authentication: a worked example"), byte for byte what the engine's
 * {@code engine::api::auth::{string_to_sign, sign}} compute:
 *
 * <pre>
 * Authorization: PSW1-HMAC-SHA256 key=&lt;id&gt;, ts=&lt;unix s&gt;, nonce=&lt;16-64 [A-Za-z0-9]&gt;, sig=&lt;b64&gt;
 * STRING = METHOD "\n" PATH_AND_QUERY "\n" ts "\n" nonce "\n" hex(sha256(body))
 * sig    = base64(HMAC-SHA256(secret, STRING))
 * </pre>
 *
 * PATH_AND_QUERY is exactly what is on the request line; the body hash is over
 * the exact bytes sent. A nonce is used once per key within the switch's
 * window, so every attempt (a retry too) is signed anew.
 */
public final class Signer {
    private static final Pattern NONCE = Pattern.compile("[A-Za-z0-9]{16,64}");
    private static final SecureRandom RANDOM = new SecureRandom();

    private Signer() {}

    /** The text that is signed. */
    public static String stringToSign(String method, String pathAndQuery, long ts, String nonce, byte[] body) {
        return method + "\n" + pathAndQuery + "\n" + ts + "\n" + nonce + "\n" + hex(sha256(body));
    }

    /** The {@code sig} value: base64 of the HMAC-SHA256 of {@link #stringToSign}. */
    public static String sign(Secret secret, String method, String pathAndQuery, long ts, String nonce, byte[] body) {
        byte[] key = secret.bytes();
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            byte[] text = stringToSign(method, pathAndQuery, ts, nonce, body).getBytes(StandardCharsets.UTF_8);
            return Base64.getEncoder().encodeToString(mac.doFinal(text));
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            // Every JDK has HmacSHA256, and HMAC takes keys of any length.
            throw new IllegalStateException("HmacSHA256 is not available", e);
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    /**
     * The whole Authorization header value.
     *
     * @throws IllegalArgumentException for a nonce that is not 16 to 64
     *     letters or digits, or a key id with a space, comma or '='
     */
    public static String authorization(String keyId, Secret secret, String method, String pathAndQuery, long ts,
            String nonce, byte[] body) {
        if (!NONCE.matcher(nonce).matches()) {
            throw new IllegalArgumentException("the nonce must be 16 to 64 letters or digits");
        }
        checkKeyId(keyId);
        return "PSW1-HMAC-SHA256 key=" + keyId + ", ts=" + ts + ", nonce=" + nonce + ", sig="
                + sign(secret, method, pathAndQuery, ts, nonce, body);
    }

    static void checkKeyId(String keyId) {
        if (keyId == null || keyId.isEmpty() || keyId.chars().anyMatch(c -> c == ' ' || c == ',' || c == '='
                || c == '\r' || c == '\n')) {
            throw new IllegalArgumentException("the key id must be non-empty, without spaces, commas or '='");
        }
    }

    /** 32 random hex digits (letters and digits, as the switch requires). */
    public static String newNonce() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return hex(b);
    }

    static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return sb.toString();
    }
}
