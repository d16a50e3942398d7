"""The terminal client: every /v1 endpoint of docs/API.md section 1, signed,
retried safely, errors typed.

**Retries.** A request is serialised once; every attempt sends the same
bytes (so the same out_trade_no / out_request_no and the same content) with
a fresh timestamp and nonce. The switch is idempotent on those numbers
(ENGINE.md, "Idempotency"): a repeat never pays or refunds twice, it returns
the current state. An attempt is repeated, at most ``max_attempts`` times in
all, after

* no answer: the connection was refused, reset or closed before the answer,
  or the answer did not come within the time-out (for a pay: ``wait`` plus
  ``timeout_margin_s``);
* 503 (every code of it means "nothing was sent, retry the same request"),
  408 ``body_timeout``, a proxy's 502 or 504;
* 429 ``rate_limited`` / ``auth_nonce_memory_full``;

waiting ``backoff_initial_s`` doubled per attempt up to ``backoff_max_s``
(jittered down to half), or the answer's ``Retry-After`` when it says longer
(capped at ``retry_after_max_s``). Nothing else is retried: 400, 401, 403,
404 and 409 (``conflict``: the number was used with other content;
``trade_state``) are answers, raised at once. The client never makes up an
out_trade_no or out_request_no: the caller chooses them, once per sale or
refund, and keeps them until the operation is final.

Worst case per call: ``max_attempts`` x the attempt's time-out plus the
waits between them (defaults: 4 attempts, waits of at most 8 s each).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import ssl
import time
import email.utils
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from . import signing
from .errors import (
    ApiError,
    InvalidRequestError,
    ProtocolError,
    TransportError,
    error_from_answer,
)
from .models import Refund, Trade

__all__ = ["TerminalClient", "RETRYABLE_STATUSES", "__version__"]

__version__ = "0.1.0"

log = logging.getLogger("payswitch_client")
# A library: silent unless the application configures logging.
log.addHandler(logging.NullHandler())

_NUMBER = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
#: Statuses after which the same request is sent again.
RETRYABLE_STATUSES = frozenset({408, 502, 503, 504})
_RETRYABLE_429 = frozenset({"rate_limited", "auth_nonce_memory_full"})
#: The largest answer read (a trade is well under 2 KiB).
MAX_ANSWER_BYTES = 1 << 20

Amount = Union[str, Decimal]


def _amount(value: Amount, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, Decimal)):
        raise TypeError("%s must be a string (\"88.88\") or a Decimal, never a float or an int" % name)
    return value if isinstance(value, str) else format(value, "f")


def _number(value: str, name: str) -> str:
    if not isinstance(value, str) or not _NUMBER.match(value):
        raise InvalidRequestError(None, "invalid_field", "%s must be 1 to 64 letters, digits or '_' "
                                  "(checked before sending; nothing was sent)" % name, name)
    return value


def _retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds of a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


class TerminalClient:
    """A terminal of the switch.

    ``base_url``: the terminal listener, ``http(s)://host:port`` (no path).
    ``key_id``: the key id (``key=``). ``secret``: the HMAC secret, as the
    64 hex digits ``secret_hex`` of the admin API or the configuration, or
    as bytes; it is never shown by ``repr``, logs or errors.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: "signing.Secret | bytes | str",
        *,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        timeout_margin_s: float = 15.0,
        ssl_context: Optional[ssl.SSLContext] = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("base_url must be http(s)://host[:port]")
        if u.path not in ("", "/") or u.query or u.fragment or u.username or u.password:
            raise ValueError("base_url must be http(s)://host[:port] without a path: the signed path is /v1/...")
        if not 1 <= max_attempts <= 10:
            raise ValueError("max_attempts must be 1 to 10")
        self._scheme = u.scheme
        self._host = u.hostname
        self._port = u.port or (443 if u.scheme == "https" else 80)
        self.base_url = "%s://%s" % (u.scheme, u.netloc)
        self.key_id = key_id
        self._secret = signing.Secret(secret)
        # Checks the key id's shape once (a bad one raises here, not later).
        signing.authorization(key_id, self._secret, "GET", "/", 0, "0" * 16, b"")
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.connect_timeout_s = connect_timeout_s
        self.timeout_margin_s = timeout_margin_s
        self._ssl = ssl_context
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return "TerminalClient(base_url=%r, key_id=%r)" % (self.base_url, self.key_id)

    def __reduce__(self):
        raise TypeError("a TerminalClient holds a secret and is not picklable")

    # ------------------------------------------------------------ endpoints

    def pay(
        self,
        out_trade_no: str,
        auth_code: str,
        total_amount: Amount,
        subject: str,
        *,
        wait: int = 30,
        scene: Optional[str] = None,
        body: Optional[str] = None,
        operator_id: Optional[str] = None,
        timeout_express: Optional[str] = None,
        goods_detail: Optional[List[Dict[str, Any]]] = None,
    ) -> Trade:
        """``POST /v1/pay?wait=S``: a barcode payment. The switch holds the
        request up to ``wait`` seconds (0 to 60) and answers as soon as the
        trade is SUCCESS, FAILED, CLOSED or UNKNOWN; PAYING after the wait:
        poll with :meth:`wait_final`."""
        if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= 60:
            raise InvalidRequestError(None, "invalid_field", "wait must be a whole number from 0 to 60", "wait")
        doc: Dict[str, Any] = {
            "out_trade_no": _number(out_trade_no, "out_trade_no"),
            "auth_code": auth_code,
            "total_amount": _amount(total_amount, "total_amount"),
            "subject": subject,
        }
        for k, v in (("scene", scene), ("body", body), ("operator_id", operator_id),
                     ("timeout_express", timeout_express), ("goods_detail", goods_detail)):
            if v is not None:
                doc[k] = v
        return Trade.from_json(self._call("POST", "/v1/pay?wait=%d" % wait, doc, wait + self.timeout_margin_s))

    def precreate(
        self,
        out_trade_no: str,
        total_amount: Amount,
        subject: str,
        *,
        timeout_express: Optional[str] = None,
        body: Optional[str] = None,
        operator_id: Optional[str] = None,
        goods_detail: Optional[List[Dict[str, Any]]] = None,
        notify_url: Optional[str] = None,
    ) -> Trade:
        """``POST /v1/precreate``: a QR payment; the trade carries ``qr_code``
        (WAIT_BUYER_PAY until paid, expired or closed)."""
        doc: Dict[str, Any] = {
            "out_trade_no": _number(out_trade_no, "out_trade_no"),
            "total_amount": _amount(total_amount, "total_amount"),
            "subject": subject,
        }
        for k, v in (("timeout_express", timeout_express), ("body", body), ("operator_id", operator_id),
                     ("goods_detail", goods_detail), ("notify_url", notify_url)):
            if v is not None:
                doc[k] = v
        return Trade.from_json(self._call("POST", "/v1/precreate", doc, 60 + self.timeout_margin_s))

    def query(self, out_trade_no: str, *, refresh: bool = False) -> Trade:
        """``GET /v1/trades/{no}``: the trade from the journal; ``refresh``
        asks the gateway first (not for final trades)."""
        pq = "/v1/trades/%s%s" % (_number(out_trade_no, "out_trade_no"), "?refresh=1" if refresh else "")
        return Trade.from_json(self._call("GET", pq, None, 30 + self.timeout_margin_s))

    def cancel(self, out_trade_no: str) -> Trade:
        """``POST /v1/trades/{no}/cancel``; a paid trade raises
        :class:`TradeStateError` (refund it instead)."""
        pq = "/v1/trades/%s/cancel" % _number(out_trade_no, "out_trade_no")
        return Trade.from_json(self._call("POST", pq, None, 30 + self.timeout_margin_s))

    def close(self, out_trade_no: str) -> Trade:
        """``POST /v1/trades/{no}/close``; a paid trade raises
        :class:`TradeStateError`."""
        pq = "/v1/trades/%s/close" % _number(out_trade_no, "out_trade_no")
        return Trade.from_json(self._call("POST", pq, None, 30 + self.timeout_margin_s))

    def refund(self, out_trade_no: str, out_request_no: str, refund_amount: Amount, *,
               refund_reason: Optional[str] = None) -> Refund:
        """``POST /v1/trades/{no}/refunds``. The same out_request_no with the
        same content returns the refund as it stands (never a second one)."""
        doc: Dict[str, Any] = {
            "out_request_no": _number(out_request_no, "out_request_no"),
            "refund_amount": _amount(refund_amount, "refund_amount"),
        }
        if refund_reason is not None:
            doc["refund_reason"] = refund_reason
        pq = "/v1/trades/%s/refunds" % _number(out_trade_no, "out_trade_no")
        return Refund.from_json(self._call("POST", pq, doc, 30 + self.timeout_margin_s))

    def query_refund(self, out_trade_no: str, out_request_no: str) -> Refund:
        """``GET /v1/trades/{no}/refunds/{out_request_no}``."""
        pq = "/v1/trades/%s/refunds/%s" % (_number(out_trade_no, "out_trade_no"),
                                           _number(out_request_no, "out_request_no"))
        return Refund.from_json(self._call("GET", pq, None, 30 + self.timeout_margin_s))

    def health(self) -> bool:
        """``GET /healthz`` (not signed): whether the switch answers ok."""
        try:
            status, _, data = self._send("GET", "/healthz", b"", {}, 5.0)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and b'"ok"' in data

    # ------------------------------------------------------------ polling

    def wait_final(self, out_trade_no: str, *, timeout_s: float = 90.0, interval_s: float = 1.0) -> Trade:
        """Queries the trade every ``interval_s`` until it is SUCCESS, FAILED
        or CLOSED, for at most ``timeout_s``; returns the last trade seen
        (still PAYING, WAIT_BUYER_PAY or UNKNOWN when the time ran out: keep
        the goods and the out_trade_no, and ask again later)."""
        deadline = time.monotonic() + timeout_s
        while True:
            t = self.query(out_trade_no)
            if t.is_final or time.monotonic() + interval_s > deadline:
                return t
            self._sleep(interval_s)

    def wait_refund_final(self, out_trade_no: str, out_request_no: str, *, timeout_s: float = 90.0,
                          interval_s: float = 1.0) -> Refund:
        """As :meth:`wait_final`, for a refund (SUCCESS or FAILED)."""
        deadline = time.monotonic() + timeout_s
        while True:
            r = self.query_refund(out_trade_no, out_request_no)
            if r.is_final or time.monotonic() + interval_s > deadline:
                return r
            self._sleep(interval_s)

    # ------------------------------------------------------------ transport

    def _backoff(self, attempt: int) -> float:
        d = min(self.backoff_max_s, self.backoff_initial_s * (2 ** (attempt - 1)))
        return random.uniform(d / 2, d)

    def _call(self, method: str, pq: str, doc: Optional[Dict[str, Any]], timeout_s: float) -> Any:
        # Serialised once: every attempt sends these very bytes.
        body = b"" if doc is None else json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        path = pq.split("?", 1)[0]
        last_reason = ""
        for attempt in range(1, self.max_attempts + 1):
            ts = int(self._clock())
            nonce = signing.new_nonce()
            headers = {
                "Authorization": signing.authorization(self.key_id, self._secret, method, pq, ts, nonce, body),
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "payswitch-client-python/" + __version__,
            }
            try:
                status, answer_headers, data = self._send(method, pq, body, headers, timeout_s)
            except ssl.SSLCertVerificationError as e:
                raise TransportError(method, path, attempt, "TLS certificate not trusted: %s" % e.verify_message) from None
            except (OSError, http.client.HTTPException) as e:
                last_reason = type(e).__name__ + (": %s" % e if str(e) else "")
                if attempt < self.max_attempts:
                    wait_s = self._backoff(attempt)
                    log.warning("%s %s: no answer (%s); the same request again in %.2f s (attempt %d of %d)",
                                method, path, type(e).__name__, wait_s, attempt + 1, self.max_attempts)
                    self._sleep(wait_s)
                    continue
                raise TransportError(method, path, attempt, last_reason) from None
            if 200 <= status < 300:
                try:
                    return json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise ProtocolError("%s %s: HTTP %d with a body that is not JSON" % (method, path, status)) from None
            err = self._error(status, answer_headers, data, attempt)
            retryable = status in RETRYABLE_STATUSES or (status == 429 and err.code in _RETRYABLE_429)
            if retryable and attempt < self.max_attempts:
                wait_s = self._backoff(attempt)
                if err.retry_after_s is not None:
                    wait_s = max(wait_s, min(err.retry_after_s, self.retry_after_max_s))
                log.warning("%s %s: HTTP %d %s; the same request again in %.2f s (attempt %d of %d)",
                            method, path, status, err.code, wait_s, attempt + 1, self.max_attempts)
                self._sleep(wait_s)
                continue
            raise err
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, status: int, headers: Dict[str, str], data: bytes, attempts: int) -> ApiError:
        code, message, field = "http_%d" % status, "HTTP %d without the error JSON" % status, None
        try:
            e = json.loads(data.decode("utf-8"))["error"]
            if isinstance(e.get("code"), str):
                code = e["code"]
            if isinstance(e.get("message"), str):
                message = e["message"]
            if isinstance(e.get("field"), str):
                field = e["field"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            pass
        return error_from_answer(status, code, message, field, attempts,
                                 _retry_after(headers.get("retry-after"), self._clock()))

    def _send(self, method: str, pq: str, body: bytes, headers: Dict[str, str],
              timeout_s: float) -> Tuple[int, Dict[str, str], bytes]:
        if self._scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.connect_timeout_s,
                context=self._ssl or ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout_s)
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(timeout_s)
            conn.request(method, pq, body=body if method != "GET" else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read(MAX_ANSWER_BYTES + 1)
            if len(data) > MAX_ANSWER_BYTES:
                raise ProtocolError("%s %s: an answer larger than %d bytes" % (method, pq.split("?", 1)[0],
                                                                                MAX_ANSWER_BYTES))
            answer_headers = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, answer_headers, data
        finally:
            conn.close()
