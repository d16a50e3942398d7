package com.payswitch.client;

import java.util.Map;
import java.util.Set;

/**
 * A refund as the switch answers it. {@code refundedAmount} is the trade's
 * total refunded so far; {@code code}, {@code subCode}, {@code subMsg} are
 * the gateway's for a FAILED refund.
 *
 * @param status SUCCESS, FAILED or UNKNOWN
 */
public record Refund(
        String outTradeNo,
        String outRequestNo,
        String refundAmount,
        String status,
        String refundedAmount,
        String code,
        String subCode,
        String subMsg,
        Map<String, Object> raw) {

    /** A refund in one of these never changes status again. */
    public static final Set<String> FINAL_STATUSES = Set.of("SUCCESS", "FAILED");

    public boolean isFinal() {
        return FINAL_STATUSES.contains(status);
    }

    static Refund fromJson(Object v) throws ProtocolException {
        Map<String, Object> m = Fields.object(v, "refund");
        return new Refund(
                Fields.req(m, "out_trade_no", "refund"),
                Fields.req(m, "out_request_no", "refund"),
                Fields.req(m, "refund_amount", "refund"),
                Fields.req(m, "status", "refund"),
                Fields.req(m, "refunded_amount", "refund"),
                Fields.opt(m, "code"),
                Fields.opt(m, "sub_code"),
                Fields.opt(m, "sub_msg"),
                m);
    }
}
