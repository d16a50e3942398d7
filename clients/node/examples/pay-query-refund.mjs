#!/usr/bin/env node
// Pay, query, refund: one sale and one partial refund through payswitch.
//
//   PAYSWITCH_SECRET_HEX=... node examples/pay-query-refund.mjs --url http://127.0.0.1:8080 --key-id T1
//
// The switch's URL, key id and secret come from --url / --key-id /
// --secret-hex or PAYSWITCH_URL / PAYSWITCH_KEY_ID / PAYSWITCH_SECRET_HEX
// (prefer the environment for the secret). Other flags: --out-trade-no,
// --auth-code (default 28 + 12 random digits + 0000, a plain success in
// alipay-sim), --amount (0.10), --refund-amount (0.04), --wait (30).
//
// Steps on stderr, then one JSON line on stdout. Exit 0 only if every step
// got the expected answer; 1 otherwise; 2 for a usage error.

import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { PayswitchError, TerminalClient, isFinal, isRefundFinal } from "payswitch-client";

class Unexpected extends Error {}

function expect(what, got, want) {
  if (got !== want) throw new Unexpected(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

const step = (s) => process.stderr.write(`${s}\n`);

/** "0.1" -> "0.10"; refuses more than two decimals. */
function twoDecimals(s) {
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) throw new TypeError(`not an amount with at most two decimals: ${s}`);
  return `${BigInt(m[1])}.${(m[2] ?? "").padEnd(2, "0")}`;
}

async function main() {
  let a;
  try {
    a = parseArgs({
      options: {
        url: { type: "string" },
        "key-id": { type: "string" },
        "secret-hex": { type: "string" },
        "out-trade-no": { type: "string" },
        "auth-code": { type: "string" },
        amount: { type: "string", default: "0.10" },
        "refund-amount": { type: "string", default: "0.04" },
        wait: { type: "string", default: "30" },
      },
    }).values;
  } catch (e) {
    step(`usage: ${e.message}`);
    return 2;
  }
  const url = a.url ?? process.env.PAYSWITCH_URL;
  const keyId = a["key-id"] ?? process.env.PAYSWITCH_KEY_ID;
  const secret = a["secret-hex"] ?? process.env.PAYSWITCH_SECRET_HEX;
  if (!url || !keyId || !secret) {
    step("needs --url, --key-id and the secret (PAYSWITCH_SECRET_HEX or --secret-hex)");
    return 2;
  }
  const no = a["out-trade-no"] ?? `NODE_${Date.now()}_${randomInt(1_000_000)}`;
  const authCode = a["auth-code"] ?? `28${String(randomInt(1_000_000) * 1_000_000 + randomInt(1_000_000)).padStart(12, "0")}0000`;
  let amount, refundAmount, wait, client;
  try {
    amount = twoDecimals(a.amount);
    refundAmount = twoDecimals(a["refund-amount"]);
    wait = Number(a.wait);
    if (!Number.isInteger(wait)) throw new TypeError(`--wait must be a whole number of seconds: ${a.wait}`);
    client = new TerminalClient(url, keyId, secret, { logger: console });
  } catch (e) {
    step(`bad argument: ${e.message}`);
    return 2;
  }
  const requestNo = `${no}_R1`;
  let after, again;
  try {
    step(`pay ${no} ${amount} (auth code ...${authCode.slice(-4)})`);
    let trade = await client.pay({ out_trade_no: no, auth_code: authCode, total_amount: amount, subject: "payswitch example" }, { wait });
    if (!isFinal(trade)) {
      step(`  ${trade.status} (${trade.cashier_action}): polling`);
      trade = await client.waitFinal(no, { timeoutMs: 90000 });
    }
    expect("pay status", trade.status, "SUCCESS");
    expect("pay out_trade_no", trade.out_trade_no, no);
    expect("pay total_amount", trade.total_amount, amount);
    if (!trade.trade_no) throw new Unexpected("the paid trade has no trade_no");
    step(`  SUCCESS trade_no ${trade.trade_no}`);

    step(`query ${no}`);
    const queried = await client.query(no);
    expect("query status", queried.status, "SUCCESS");
    expect("query trade_no", queried.trade_no, trade.trade_no);
    expect("query refunded_amount", queried.refunded_amount, "0.00");

    step(`refund ${no} ${refundAmount} as ${requestNo}`);
    let refund = await client.refund(no, { out_request_no: requestNo, refund_amount: refundAmount, refund_reason: "example refund" });
    if (!isRefundFinal(refund)) {
      step(`  ${refund.status}: polling`);
      refund = await client.waitRefundFinal(no, requestNo, { timeoutMs: 90000 });
    }
    expect("refund status", refund.status, "SUCCESS");
    expect("refund refund_amount", refund.refund_amount, refundAmount);
    expect("refund out_request_no", refund.out_request_no, requestNo);

    again = await client.queryRefund(no, requestNo);
    expect("refund query status", again.status, "SUCCESS");
    after = await client.query(no);
    expect("trade refunded_amount", after.refunded_amount, refundAmount);
    step(`  refunded ${after.refunded_amount} of ${after.total_amount}`);
  } catch (e) {
    if (e instanceof Unexpected) step(`unexpected answer: ${e.message}`);
    else if (e instanceof PayswitchError) step(`error: ${e.name}: ${e.message}`);
    else throw e;
    return 1;
  }
  process.stdout.write(
    `${JSON.stringify({
      client: "node",
      out_trade_no: after.out_trade_no,
      gateway_out_trade_no: after.gateway_out_trade_no ?? null,
      trade_no: after.trade_no,
      status: after.status,
      total_amount: after.total_amount,
      refunded_amount: after.refunded_amount,
      refund: { out_request_no: again.out_request_no, status: again.status, refund_amount: again.refund_amount },
    })}\n`,
  );
  return 0;
}

process.exitCode = await main();
