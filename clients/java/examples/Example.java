import com.payswitch.client.Json;
import com.payswitch.client.PayRequest;
import com.payswitch.client.PayswitchException;
import com.payswitch.client.Refund;
import com.payswitch.client.RefundRequest;
import com.payswitch.client.TerminalClient;
import com.payswitch.client.Trade;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Pay, query, refund: one sale and one partial refund through payswitch.
 *
 * <pre>
 * javac -d out $(find src/main/java -name '*.java') examples/Example.java
 * PAYSWITCH_SECRET_HEX=... java -cp out Example --url http://127.0.0.1:8080 --key-id T1
 * </pre>
 *
 * The switch's URL, key id and secret come from --url / --key-id /
 * --secret-hex or PAYSWITCH_URL / PAYSWITCH_KEY_ID / PAYSWITCH_SECRET_HEX
 * (prefer the environment for the secret). Other flags: --out-trade-no,
 * --auth-code (default 28 + 12 random digits + 0000, a plain success in
 * alipay-sim), --amount (0.10), --refund-amount (0.04), --wait (30).
 *
 * Steps on stderr, then one JSON line on stdout. Exit 0 only if every step
 * got the expected answer; 1 otherwise; 2 for a usage error.
 */
public final class Example {
    private static final class Unexpected extends Exception {
        private static final long serialVersionUID = 1L;

        Unexpected(String m) {
            super(m);
        }
    }

    private static void expect(String what, Object got, Object want) throws Unexpected {
        if (!Objects.equals(got, want)) {
            throw new Unexpected(what + ": expected " + want + ", got " + got);
        }
    }

    private static void step(String s) {
        System.err.println(s);
    }

    public static void main(String[] argv) throws InterruptedException {
        System.exit(run(argv));
    }

    static int run(String[] argv) throws InterruptedException {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                System.err.println("usage: Example --url URL --key-id KEY [--secret-hex HEX] [--out-trade-no NO] "
                        + "[--auth-code CODE] [--amount A] [--refund-amount A] [--wait S]");
                return 2;
            }
            a.put(argv[i].substring(2), argv[++i]);
        }
        String url = a.getOrDefault("url", System.getenv("PAYSWITCH_URL"));
        String keyId = a.getOrDefault("key-id", System.getenv("PAYSWITCH_KEY_ID"));
        String secret = a.getOrDefault("secret-hex", System.getenv("PAYSWITCH_SECRET_HEX"));
        if (url == null || keyId == null || secret == null) {
            System.err.println("needs --url, --key-id and the secret (PAYSWITCH_SECRET_HEX or --secret-hex)");
            return 2;
        }
        SecureRandom rnd = new SecureRandom();
        String no = a.getOrDefault("out-trade-no", "JAVA_" + System.currentTimeMillis() + "_" + rnd.nextInt(1_000_000));
        String authCode = a.getOrDefault("auth-code",
                String.format("28%012d0000", (rnd.nextLong() & Long.MAX_VALUE) % 1_000_000_000_000L));
        String amount;
        String refundAmount;
        int wait;
        TerminalClient client;
        try {
            amount = new BigDecimal(a.getOrDefault("amount", "0.10")).setScale(2, RoundingMode.UNNECESSARY).toPlainString();
            refundAmount = new BigDecimal(a.getOrDefault("refund-amount", "0.04")).setScale(2, RoundingMode.UNNECESSARY)
                    .toPlainString();
            wait = Integer.parseInt(a.getOrDefault("wait", "30"));
            client = TerminalClient.builder(url, keyId, secret).build();
        } catch (IllegalArgumentException | ArithmeticException e) {
            System.err.println("bad argument: " + e.getMessage());
            return 2;
        }
        String requestNo = no + "_R1";
        Trade after;
        Refund again;
        try {
            step("pay " + no + " " + amount + " (auth code ..." + authCode.substring(authCode.length() - 4) + ")");
            Trade trade = client.pay(PayRequest.of(no, authCode, amount, "payswitch example"), wait);
            if (!trade.isFinal()) {
                step("  " + trade.status() + " (" + trade.cashierAction() + "): polling");
                trade = client.waitFinal(no, Duration.ofSeconds(90), Duration.ofSeconds(1));
            }
            expect("pay status", trade.status(), "SUCCESS");
            expect("pay out_trade_no", trade.outTradeNo(), no);
            expect("pay total_amount", trade.totalAmount(), amount);
            if (trade.tradeNo() == null) {
                throw new Unexpected("the paid trade has no trade_no");
            }
            step("  SUCCESS trade_no " + trade.tradeNo());

            step("query " + no);
            Trade queried = client.query(no);
            expect("query status", queried.status(), "SUCCESS");
            expect("query trade_no", queried.tradeNo(), trade.tradeNo());
            expect("query refunded_amount", queried.refundedAmount(), "0.00");

            step("refund " + no + " " + refundAmount + " as " + requestNo);
            Refund refund = client.refund(no, RefundRequest.of(requestNo, refundAmount).refundReason("example refund"));
            if (!refund.isFinal()) {
                step("  " + refund.status() + ": polling");
                refund = client.waitRefundFinal(no, requestNo, Duration.ofSeconds(90), Duration.ofSeconds(1));
            }
            expect("refund status", refund.status(), "SUCCESS");
            expect("refund refund_amount", refund.refundAmount(), refundAmount);
            expect("refund out_request_no", refund.outRequestNo(), requestNo);

            again = client.queryRefund(no, requestNo);
            expect("refund query status", again.status(), "SUCCESS");
            after = client.query(no);
            expect("trade refunded_amount", after.refundedAmount(), refundAmount);
            step("  refunded " + after.refundedAmount() + " of " + after.totalAmount());
        } catch (Unexpected e) {
            System.err.println("unexpected answer: " + e.getMessage());
            return 1;
        } catch (PayswitchException e) {
            System.err.println("error: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            return 1;
        }
        Map<String, Object> refundSummary = new LinkedHashMap<>();
        refundSummary.put("out_request_no", again.outRequestNo());
        refundSummary.put("status", again.status());
        refundSummary.put("refund_amount", again.refundAmount());
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("client", "java");
        summary.put("out_trade_no", after.outTradeNo());
        summary.put("gateway_out_trade_no", after.gatewayOutTradeNo());
        summary.put("trade_no", after.tradeNo());
        summary.put("status", after.status());
        summary.put("total_amount", after.totalAmount());
        summary.put("refunded_amount", after.refundedAmount());
        summary.put("refund", refundSummary);
        System.out.println(Json.write(summary));
        return 0;
    }
}
