"""Typed errors. Every answer the switch refuses with
``{"error": {"code", "message", "field"}}`` becomes an :class:`ApiError`
subclass chosen by its HTTP status (and, for 409, its code) carrying
``status``, ``code``, ``field`` and the switch's ``message``. No error
carries the terminal secret, the Authorization header or a request body
(a pay body holds the buyer's payment code).
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "PayswitchError",
    "TransportError",
    "ProtocolError",
    "ApiError",
    "InvalidRequestError",
    "AuthenticationError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "TradeStateError",
    "RateLimitedError",
    "UnavailableError",
    "error_from_answer",
]


class PayswitchError(Exception):
    """Base of every error of this package."""


class TransportError(PayswitchError):
    """No answer: every attempt failed to connect, was cut or timed out.

    For a pay, precreate, cancel, close or refund **the outcome is unknown**:
    the switch may have received it. Send the *same* request again (same
    out_trade_no / out_request_no, same content: the switch never pays twice)
    or query it; never start a new out_trade_no for the same sale.
    """

    def __init__(self, method: str, path: str, attempts: int, reason: str) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        self.reason = reason
        super().__init__("%s %s: no answer after %d attempt(s) (%s); the outcome is unknown: "
                         "send the same request again or query it" % (method, path, attempts, reason))


class ProtocolError(PayswitchError):
    """The switch answered 2xx with something that is not the documented JSON."""


class ApiError(PayswitchError):
    """The switch answered with an error (or a local check refused the
    request before anything was sent: then ``status`` is None)."""

    def __init__(self, status: Optional[int], code: str, message: str, field: Optional[str] = None,
                 attempts: int = 1, retry_after_s: Optional[float] = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.attempts = attempts
        self.retry_after_s = retry_after_s
        where = " (field %s)" % field if field else ""
        head = "HTTP %d" % status if status is not None else "not sent"
        super().__init__("%s %s%s: %s" % (head, code, where, message))


class InvalidRequestError(ApiError):
    """400 (``invalid_field``, ``missing_field``, ``invalid_json``,
    ``body_unreadable``) or 413 ``body_too_large``; ``field`` names the field
    at fault. Also raised before sending for an out_trade_no or
    out_request_no that cannot be a path segment. Fix the request; a retry
    would get the same answer."""


class AuthenticationError(ApiError):
    """401 ``auth_*``: wrong key id or secret, a clock more than the window
    (300 s) away from the switch's (``auth_timestamp_skew``), or a replayed
    nonce. Also 429 ``ip_limited`` (this address failed authentication too
    often). Not retried."""


class ForbiddenError(ApiError):
    """403 ``terminal_suspended`` / ``merchant_suspended``: new payments are
    refused; queries, cancels and refunds still work."""


class NotFoundError(ApiError):
    """404 ``not_found`` (no such trade or refund, or not visible to this
    terminal) or ``no_route``."""


class ConflictError(ApiError):
    """409 ``conflict``: this out_trade_no (or out_request_no) was used with
    different content. Never retried, and never "fixed" by a new number:
    it means two different sales share a number, or the request changed."""


class TradeStateError(ApiError):
    """409 ``trade_state``: the trade's state does not allow it (cancel or
    close of a paid trade: refund it instead; a refund of an unpaid trade)."""


class RateLimitedError(ApiError):
    """429 ``rate_limited`` / ``auth_nonce_memory_full`` after the last
    attempt: the terminal is over its rate."""


class UnavailableError(ApiError):
    """503 (``gateway_unavailable``, ``switch_busy``, ``shutting_down``,
    ``journal_unavailable``, ``journal_busy``), 408 ``body_timeout`` or a
    proxy's 502/504 after the last attempt. For the switch's own 503 nothing
    was sent; the same request may be sent again later."""


def error_from_answer(status: int, code: str, message: str, field: Optional[str], attempts: int,
                      retry_after_s: Optional[float]) -> ApiError:
    """The error class of an answer."""
    if status == 409:
        cls = TradeStateError if code == "trade_state" else ConflictError
    elif status == 429:
        cls = AuthenticationError if code == "ip_limited" else RateLimitedError
    else:
        cls = {
            400: InvalidRequestError,
            413: InvalidRequestError,
            401: AuthenticationError,
            403: ForbiddenError,
            404: NotFoundError,
            408: UnavailableError,
            502: UnavailableError,
            503: UnavailableError,
            504: UnavailableError,
        }.get(status, ApiError)
    return cls(status, code, message, field, attempts, retry_after_s)
