#!/usr/bin/env python3
"""Pay, query, refund: one sale and one partial refund through payswitch.

    PAYSWITCH_SECRET_HEX=... python3 pay_query_refund.py --url http://127.0.0.1:8080 --key-id T1

The switch's URL, the key id and the secret come from --url / --key-id /
--secret-hex or from PAYSWITCH_URL / PAYSWITCH_KEY_ID / PAYSWITCH_SECRET_HEX
(prefer the environment for the secret: arguments are visible to other users
in `ps`). The default auth code ends in 0000, a plain success in alipay-sim.

Prints the steps on stderr and, at the end, one JSON line on stdout with what
the switch answered. Exit 0 only if every step got the expected answer:
the pay SUCCESS for the amount, the query the same trade, the refund SUCCESS
for the refund amount, and the trade then showing it refunded; 1 otherwise
(an unexpected answer or an error), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from decimal import Decimal

from payswitch_client import PayswitchError, TerminalClient


class Unexpected(Exception):
    pass


def expect(what: str, got, want) -> None:
    if got != want:
        raise Unexpected("%s: expected %r, got %r" % (what, want, got))


def step(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("PAYSWITCH_URL"), help="the switch's terminal API (env PAYSWITCH_URL)")
    p.add_argument("--key-id", default=os.environ.get("PAYSWITCH_KEY_ID"), help="the terminal's key id (env PAYSWITCH_KEY_ID)")
    p.add_argument("--secret-hex", default=None, help="the terminal's secret, 64 hex digits (better: env PAYSWITCH_SECRET_HEX)")
    p.add_argument("--out-trade-no", default=None, help="default: PY_ + time + random digits")
    p.add_argument("--auth-code", default=None, help="the buyer's payment code; default 28 + 12 random digits + 0000")
    p.add_argument("--amount", default="0.10")
    p.add_argument("--refund-amount", default="0.04")
    p.add_argument("--wait", type=int, default=30, help="wait of POST /v1/pay (0 to 60)")
    a = p.parse_args(argv)
    # The client's retries (never the secret nor a body) on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="  %(name)s: %(message)s")
    secret = a.secret_hex or os.environ.get("PAYSWITCH_SECRET_HEX")
    if not a.url or not a.key_id or not secret:
        p.print_usage(sys.stderr)
        print("needs --url, --key-id and the secret (PAYSWITCH_SECRET_HEX or --secret-hex)", file=sys.stderr)
        return 2
    no = a.out_trade_no or "PY_%d_%s" % (int(time.time() * 1000), secrets.randbelow(10 ** 6))
    auth_code = a.auth_code or "28%012d0000" % secrets.randbelow(10 ** 12)
    amount = format(Decimal(a.amount).quantize(Decimal("0.01")), "f")
    refund_amount = format(Decimal(a.refund_amount).quantize(Decimal("0.01")), "f")
    request_no = no + "_R1"
    try:
        client = TerminalClient(a.url, a.key_id, secret)
    except ValueError as e:
        print("bad argument: %s" % e, file=sys.stderr)
        return 2

    try:
        step("pay %s %s (auth code ...%s)" % (no, amount, auth_code[-4:]))
        trade = client.pay(no, auth_code, amount, "payswitch example", wait=a.wait)
        if not trade.is_final:
            step("  %s (%s): polling" % (trade.status, trade.cashier_action))
            trade = client.wait_final(no, timeout_s=90)
        expect("pay status", trade.status, "SUCCESS")
        expect("pay out_trade_no", trade.out_trade_no, no)
        expect("pay total_amount", trade.total_amount, amount)
        if not trade.trade_no:
            raise Unexpected("the paid trade has no trade_no")
        step("  SUCCESS trade_no %s" % trade.trade_no)

        step("query %s" % no)
        queried = client.query(no)
        expect("query status", queried.status, "SUCCESS")
        expect("query trade_no", queried.trade_no, trade.trade_no)
        expect("query refunded_amount", queried.refunded_amount, "0.00")

        step("refund %s %s as %s" % (no, refund_amount, request_no))
        refund = client.refund(no, request_no, refund_amount, refund_reason="example refund")
        if not refund.is_final:
            step("  %s: polling" % refund.status)
            refund = client.wait_refund_final(no, request_no, timeout_s=90)
        expect("refund status", refund.status, "SUCCESS")
        expect("refund refund_amount", refund.refund_amount, refund_amount)
        expect("refund out_request_no", refund.out_request_no, request_no)

        again = client.query_refund(no, request_no)
        expect("refund query status", again.status, "SUCCESS")
        after = client.query(no)
        expect("trade refunded_amount", after.refunded_amount, refund_amount)
        step("  refunded %s of %s" % (after.refunded_amount, after.total_amount))
    except Unexpected as e:
        print("unexpected answer: %s" % e, file=sys.stderr)
        return 1
    except PayswitchError as e:
        print("error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1

    print(json.dumps({
        "client": "python",
        "out_trade_no": after.out_trade_no,
        "gateway_out_trade_no": after.gateway_out_trade_no,
        "trade_no": after.trade_no,
        "status": after.status,
        "total_amount": after.total_amount,
        "refunded_amount": after.refunded_amount,
        "refund": {"out_request_no": again.out_request_no, "status": again.status,
                   "refund_amount": again.refund_amount},
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
