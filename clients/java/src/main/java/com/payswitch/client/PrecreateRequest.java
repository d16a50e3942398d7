package com.payswitch.client;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The body of {@code POST /v1/precreate} (a QR payment). */
public final class PrecreateRequest {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    private PrecreateRequest() {}

    public static PrecreateRequest of(String outTradeNo, String totalAmount, String subject) {
        PrecreateRequest r = new PrecreateRequest();
        r.fields.put("out_trade_no", outTradeNo);
        r.fields.put("total_amount", totalAmount);
        r.fields.put("subject", subject);
        return r;
    }

    public static PrecreateRequest of(String outTradeNo, BigDecimal totalAmount, String subject) {
        return of(outTradeNo, totalAmount.toPlainString(), subject);
    }

    public PrecreateRequest timeoutExpress(String v) {
        fields.put("timeout_express", v);
        return this;
    }

    public PrecreateRequest body(String v) {
        fields.put("body", v);
        return this;
    }

    public PrecreateRequest operatorId(String v) {
        fields.put("operator_id", v);
        return this;
    }

    public PrecreateRequest goodsDetail(List<Map<String, Object>> v) {
        fields.put("goods_detail", v);
        return this;
    }

    /** Where the final trade is relayed: the merchant's registered relay URL or one under it. */
    public PrecreateRequest notifyUrl(String v) {
        fields.put("notify_url", v);
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
        return "PrecreateRequest(out_trade_no=" + fields.get("out_trade_no") + ", total_amount="
                + fields.get("total_amount") + ")";
    }
}
