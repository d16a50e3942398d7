package com.payswitch.client;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The body of {@code POST /v1/trades/{no}/refunds}. The caller chooses the
 * out_request_no once per refund and keeps it until the refund is final: the
 * same number with the same content returns the refund as it stands.
 */
public final class RefundRequest {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    private RefundRequest() {}

    public static RefundRequest of(String outRequestNo, String refundAmount) {
        RefundRequest r = new RefundRequest();
        r.fields.put("out_request_no", outRequestNo);
        r.fields.put("refund_amount", refundAmount);
        return r;
    }

    public static RefundRequest of(String outRequestNo, BigDecimal refundAmount) {
        return of(outRequestNo, refundAmount.toPlainString());
    }

    /** At most 256 characters. */
    public RefundRequest refundReason(String v) {
        fields.put("refund_reason", v);
        return this;
    }

    public String outRequestNo() {
        return (String) fields.get("out_request_no");
    }

    Map<String, Object> fields() {
        return fields;
    }

    @Override
    public String toString() {
        return "RefundRequest(out_request_no=" + fields.get("out_request_no") + ", refund_amount="
                + fields.get("refund_amount") + ")";
    }
}
