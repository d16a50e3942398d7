"""payswitch_client: the terminal side of the payswitch terminal API
(docs/API.md section 1), standard library only.

    from payswitch_client import TerminalClient
    c = TerminalClient("http://127.0.0.1:8080", "T1", os.environ["PAYSWITCH_SECRET_HEX"])
    trade = c.pay("NJ001_0001", "281234567890120000", "88.88", "coffee", wait=30)
    if not trade.is_final:
        trade = c.wait_final(trade.out_trade_no)

Every request is signed (PSW1-HMAC-SHA256, :mod:`payswitch_client.signing`),
retried only in the ways that cannot pay twice (:mod:`payswitch_client.client`)
and refused with typed errors (:mod:`payswitch_client.errors`).
"""

from .client import RETRYABLE_STATUSES, TerminalClient, __version__
from .errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PayswitchError,
    ProtocolError,
    RateLimitedError,
    TradeStateError,
    TransportError,
    UnavailableError,
)
from .models import FINAL_REFUND_STATUSES, FINAL_TRADE_STATUSES, Refund, Trade
from .signing import Secret, authorization, sign, string_to_sign

__all__ = [
    "TerminalClient",
    "RETRYABLE_STATUSES",
    "__version__",
    "Trade",
    "Refund",
    "FINAL_TRADE_STATUSES",
    "FINAL_REFUND_STATUSES",
    "Secret",
    "sign",
    "string_to_sign",
    "authorization",
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
]
