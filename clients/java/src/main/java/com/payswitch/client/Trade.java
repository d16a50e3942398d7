package com.payswitch.client;

import java.util.Map;
import java.util.Set;

/**
 * A trade as the switch answers it (docs/API.md section 1). Amounts are the
 * wire's strings with two decimals ({@code "88.88"}): use {@code new
 * BigDecimal(..)}, never {@code double}. Fields absent from the answer are
 * {@code null}; {@link #raw()} keeps the whole answer (fields a newer switch
 * adds too).
 *
 * @param status PAYING, WAIT_BUYER_PAY, SUCCESS, FAILED, CLOSED or UNKNOWN
 * @param cashierAction every status but SUCCESS: wait, new_out_trade_no,
 *     rescan_code, other_payment_method, fix_request, contact_acquirer
 */
public record Trade(
        String outTradeNo,
        String status,
        String totalAmount,
        String refundedAmount,
        String gatewayOutTradeNo,
        String tradeNo,
        String receiptAmount,
        String buyerLogonId,
        String gmtPayment,
        String qrCode,
        String code,
        String subCode,
        String subMsg,
        String cashierAction,
        Map<String, Object> raw) {

    /** A trade in one of these never changes status again. */
    public static final Set<String> FINAL_STATUSES = Set.of("SUCCESS", "FAILED", "CLOSED");

    /** SUCCESS, FAILED or CLOSED: it will not change any more. */
    public boolean isFinal() {
        return FINAL_STATUSES.contains(status);
    }

    /** SUCCESS: hand over the goods. */
    public boolean isPaid() {
        return "SUCCESS".equals(status);
    }

    static Trade fromJson(Object v) throws ProtocolException {
        Map<String, Object> m = Fields.object(v, "trade");
        return new Trade(
                Fields.req(m, "out_trade_no", "trade"),
                Fields.req(m, "status", "trade"),
                Fields.req(m, "total_amount", "trade"),
                Fields.req(m, "refunded_amount", "trade"),
                Fields.opt(m, "gateway_out_trade_no"),
                Fields.opt(m, "trade_no"),
                Fields.opt(m, "receipt_amount"),
                Fields.opt(m, "buyer_logon_id"),
                Fields.opt(m, "gmt_payment"),
                Fields.opt(m, "qr_code"),
                Fields.opt(m, "code"),
                Fields.opt(m, "sub_code"),
                Fields.opt(m, "sub_msg"),
                Fields.opt(m, "cashier_action"),
                m);
    }
}
