"""The client against a scripted HTTP server on loopback: what is retried
(and that a retry is the same request, freshly signed), what is not, and
how answers become typed errors. engine/tests/clients.rs runs the example
against a live switch."""

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import unittest

from payswitch_client import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TerminalClient,
    TradeStateError,
    TransportError,
    UnavailableError,
)

SECRET_HEX = "33" * 32
TRADE = {"out_trade_no": "A1", "status": "SUCCESS", "trade_no": "2026", "total_amount": "1.00",
         "refunded_amount": "0.00"}


def error(status, code, field=None, headers=None):
    e = {"code": code, "message": "scripted %s" % code}
    if field:
        e["field"] = field
    return ("answer", status, {"error": e}, headers or {})


def ok(doc):
    return ("answer", 200, doc, {})


DROP = ("drop",)


class Scripted(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n)
        srv = self.server
        srv.seen.append({"method": self.command, "path": self.path, "auth": self.headers.get("authorization"),
                         "body": body, "at": time.monotonic()})
        action = srv.script.pop(0) if srv.script else ok(TRADE)
        if action[0] == "drop":
            self.close_connection = True
            return
        _, status, doc, headers = action
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve


def verify(seen):
    """The signature of a recorded request, as the switch checks it."""
    fields = dict(p.strip().split("=", 1) for p in seen["auth"][len("PSW1-HMAC-SHA256 "):].split(","))
    text = "\n".join([seen["method"], seen["path"], fields["ts"], fields["nonce"],
                      hashlib.sha256(seen["body"]).hexdigest()])
    want = base64.b64encode(hmac.new(bytes.fromhex(SECRET_HEX), text.encode(), hashlib.sha256).digest()).decode()
    return fields["key"] == "T9" and hmac.compare_digest(want, fields["sig"]), fields["nonce"]


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
        self.srv.daemon_threads = True
        self.srv.script = []
        self.srv.seen = []
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        self.sleeps = []
        self.client = TerminalClient("http://127.0.0.1:%d" % self.srv.server_address[1], "T9", SECRET_HEX,
                                     backoff_initial_s=0.01, backoff_max_s=0.02, timeout_margin_s=2.0,
                                     sleep=self._sleep)

    def _sleep(self, s):
        self.sleeps.append(s)
        time.sleep(min(s, 0.05))

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()

    def pay(self):
        return self.client.pay("A1", "281234567890120000", "1.00", "coffee", wait=0)

    def test_a_lost_answer_is_asked_again_with_the_same_body(self):
        self.srv.script = [DROP, error(503, "journal_unavailable"), ok(TRADE)]
        t = self.pay()
        self.assertEqual((t.status, t.trade_no), ("SUCCESS", "2026"))
        self.assertEqual(len(self.srv.seen), 3)
        bodies = {s["body"] for s in self.srv.seen}
        self.assertEqual(len(bodies), 1, "every attempt sends the same bytes")
        self.assertEqual(json.loads(bodies.pop())["out_trade_no"], "A1")
        checks = [verify(s) for s in self.srv.seen]
        self.assertTrue(all(good for good, _ in checks), "every attempt is validly signed")
        self.assertEqual(len({nonce for _, nonce in checks}), 3, "every attempt has its own nonce")
        self.assertEqual({s["path"] for s in self.srv.seen}, {"/v1/pay?wait=0"})

    def test_retry_after_is_honoured_and_attempts_are_bounded(self):
        self.srv.script = [error(429, "rate_limited", headers={"retry-after": "3"})] + [
            error(503, "switch_busy")] * 10
        with self.assertRaises(UnavailableError) as e:
            self.pay()
        self.assertEqual((e.exception.status, e.exception.code, e.exception.attempts), (503, "switch_busy", 4))
        self.assertEqual(len(self.srv.seen), 4, "max_attempts is 4")
        self.assertGreaterEqual(self.sleeps[0], 3.0, "Retry-After: 3 is waited")
        self.assertEqual(len(self.sleeps), 3)

    def test_no_answer_at_all_is_a_transport_error(self):
        self.srv.script = [DROP] * 4
        with self.assertRaises(TransportError) as e:
            self.client.refund("A1", "R1", "0.50")
        self.assertEqual(e.exception.attempts, 4)
        self.assertIn("outcome is unknown", str(e.exception))
        self.assertEqual(len({s["body"] for s in self.srv.seen}), 1)

    def test_answers_that_are_not_retried(self):
        cases = [
            (error(409, "conflict"), ConflictError),
            (error(409, "trade_state"), TradeStateError),
            (error(400, "invalid_field", "refund_amount"), InvalidRequestError),
            (error(401, "auth_timestamp_skew"), AuthenticationError),
            (error(429, "ip_limited"), AuthenticationError),
            (error(403, "terminal_suspended"), ForbiddenError),
            (error(404, "not_found"), NotFoundError),
        ]
        for answer, cls in cases:
            with self.subTest(answer[2]["error"]["code"]):
                self.srv.seen.clear()
                self.srv.script = [answer, ok(TRADE)]
                with self.assertRaises(cls) as e:
                    self.client.refund("A1", "R1", "0.50")
                self.assertEqual(len(self.srv.seen), 1, "not retried")
                self.assertEqual((e.exception.status, e.exception.code, e.exception.field),
                                 (answer[1], answer[2]["error"]["code"], answer[2]["error"].get("field")))
                self.srv.script.clear()

    def test_an_answer_over_the_limit_is_refused(self):
        from payswitch_client import ProtocolError
        from payswitch_client.client import MAX_ANSWER_BYTES
        self.srv.script = [ok("x" * (MAX_ANSWER_BYTES + 10))]
        with self.assertRaises(ProtocolError) as e:
            self.client.query("A1")
        self.assertIn("larger than", str(e.exception))
        self.assertEqual(len(self.srv.seen), 1, "not retried")

    def test_rate_limited_to_the_end(self):
        self.srv.script = [error(429, "rate_limited")] * 4
        with self.assertRaises(RateLimitedError):
            self.client.query("A1")

    def test_local_checks_send_nothing(self):
        with self.assertRaises(InvalidRequestError) as e:
            self.client.query("A-1/../x")
        self.assertEqual((e.exception.status, e.exception.field), (None, "out_trade_no"))
        with self.assertRaises(TypeError):
            self.client.pay("A1", "281234567890120000", 1.0, "coffee")
        with self.assertRaises(InvalidRequestError):
            self.client.pay("A1", "281234567890120000", "1.00", "coffee", wait=61)
        self.assertEqual(self.srv.seen, [])

    def test_errors_and_logs_hold_no_secret_nor_payment_code(self):
        self.srv.script = [error(400, "invalid_field", "subject")]
        with self.assertLogs("payswitch_client", level="WARNING") as logs:
            self.srv.script = [DROP, error(400, "invalid_field", "subject")]
            with self.assertRaises(InvalidRequestError) as e:
                self.pay()
        text = str(e.exception) + repr(e.exception) + "\n".join(logs.output) + repr(self.client)
        for needle in ("3333", "281234567890120000", "PSW1", "sig="):
            self.assertNotIn(needle, text)

    def test_queries_and_paths(self):
        self.srv.script = [ok(TRADE), ok(TRADE), ok(TRADE), ok(TRADE),
                           ok({"out_trade_no": "A1", "out_request_no": "R1", "refund_amount": "0.50",
                               "status": "SUCCESS", "refunded_amount": "0.50"})]
        self.client.query("A1")
        self.client.query("A1", refresh=True)
        self.client.cancel("A1")
        self.client.close("A1")
        r = self.client.query_refund("A1", "R1")
        self.assertEqual((r.status, r.refunded_amount), ("SUCCESS", "0.50"))
        self.assertEqual([(s["method"], s["path"], s["body"]) for s in self.srv.seen], [
            ("GET", "/v1/trades/A1", b""),
            ("GET", "/v1/trades/A1?refresh=1", b""),
            ("POST", "/v1/trades/A1/cancel", b""),
            ("POST", "/v1/trades/A1/close", b""),
            ("GET", "/v1/trades/A1/refunds/R1", b""),
        ])
        self.assertTrue(all(verify(s)[0] for s in self.srv.seen))


if __name__ == "__main__":
    unittest.main()
