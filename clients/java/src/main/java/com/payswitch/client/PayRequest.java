package com.payswitch.client;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The body of {@code POST /v1/pay}: {@code PayRequest.of(no, authCode, "88.88",
 * "coffee").operatorId("C01")}. Its {@link #toString()} never shows the
 * buyer's payment code. The field rules are the switch's (docs/ENGINE.md,
 * "The terminal API"); it answers 400 naming a field that breaks them.
 */
public final class PayRequest {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    private PayRequest() {}

    /** The required fields; {@code totalAmount} as yuan with at most two decimals ({@code "88.88"}). */
    public static PayRequest of(String outTradeNo, String authCode, String totalAmount, String subject) {
        PayRequest r = new PayRequest();
        r.fields.put("out_trade_no", outTradeNo);
        r.fields.put("auth_code", authCode);
        r.fields.put("total_amount", totalAmount);
        r.fields.put("subject", subject);
        return r;
    }

    /** As {@link #of(String, String, String, String)}, the amount as a BigDecimal. */
    public static PayRequest of(String outTradeNo, String authCode, BigDecimal totalAmount, String subject) {
        return of(outTradeNo, authCode, totalAmount.toPlainString(), subject);
    }

    /** {@code bar_code} (the default) or {@code wave_code}. */
    public PayRequest scene(String v) {
        fields.put("scene", v);
        return this;
    }

    /** At most 128 characters. */
    public PayRequest body(String v) {
        fields.put("body", v);
        return this;
    }

    /** At most 28 of {@code [A-Za-z0-9_-]}. */
    public PayRequest operatorId(String v) {
        fields.put("operator_id", v);
        return this;
    }

    /** {@code 1m} to {@code 15d}, or {@code 1c}. */
    public PayRequest timeoutExpress(String v) {
        fields.put("timeout_express", v);
        return this;
    }

    /** At most 100 objects, passed through to the gateway. */
    public PayRequest goodsDetail(List<Map<String, Object>> v) {
        fields.put("goods_detail", v);
        return this;
    }

    public String outTradeNo() {
        return (String) fields.get("out_trade_no");
    }

    Map<String, Object> fields() {
        return fields;
    }

    @Override
    public String toString() {
        Object code = fields.get("auth_code");
        String masked = code instanceof String && ((String) code).length() > 4
                ? "..." + ((String) code).substring(((String) code).length() - 4) : "...";
        return "PayRequest(out_trade_no=" + fields.get("out_trade_no") + ", auth_code=" + masked
                + ", total_amount=" + fields.get("total_amount") + ")";
    }
}
