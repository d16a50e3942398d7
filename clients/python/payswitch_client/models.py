"""The answers: the trade and the refund of docs/API.md section 1, as the
switch writes them (engine/src/contract.rs). Amounts stay the strings of the
wire (``"88.88"``, two decimals): use :func:`decimal.Decimal` on them, never
``float``. Fields a newer switch adds are kept in ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .errors import ProtocolError

__all__ = ["Trade", "Refund", "FINAL_TRADE_STATUSES", "FINAL_REFUND_STATUSES"]

#: A trade in one of these never changes status again.
FINAL_TRADE_STATUSES = frozenset({"SUCCESS", "FAILED", "CLOSED"})
#: A refund in one of these never changes status again.
FINAL_REFUND_STATUSES = frozenset({"SUCCESS", "FAILED"})


def _req(d: Dict[str, Any], k: str, what: str) -> str:
    v = d.get(k)
    if not isinstance(v, str):
        raise ProtocolError("the %s answer has no string %r" % (what, k))
    return v


def _opt(d: Dict[str, Any], k: str) -> Optional[str]:
    v = d.get(k)
    return v if isinstance(v, str) else None


@dataclass(frozen=True)
class Trade:
    """A trade. ``status``: PAYING, WAIT_BUYER_PAY, SUCCESS, FAILED, CLOSED,
    UNKNOWN. ``cashier_action`` (every status but SUCCESS): wait,
    new_out_trade_no, rescan_code, other_payment_method, fix_request,
    contact_acquirer."""

    out_trade_no: str
    status: str
    total_amount: str
    refunded_amount: str
    gateway_out_trade_no: Optional[str] = None
    trade_no: Optional[str] = None
    receipt_amount: Optional[str] = None
    buyer_logon_id: Optional[str] = None
    gmt_payment: Optional[str] = None
    qr_code: Optional[str] = None
    code: Optional[str] = None
    sub_code: Optional[str] = None
    sub_msg: Optional[str] = None
    cashier_action: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_final(self) -> bool:
        """SUCCESS, FAILED or CLOSED: it will not change any more."""
        return self.status in FINAL_TRADE_STATUSES

    @property
    def is_paid(self) -> bool:
        """SUCCESS: hand over the goods."""
        return self.status == "SUCCESS"

    @classmethod
    def from_json(cls, d: Any) -> "Trade":
        if not isinstance(d, dict):
            raise ProtocolError("the trade answer is not a JSON object")
        return cls(
            out_trade_no=_req(d, "out_trade_no", "trade"),
            status=_req(d, "status", "trade"),
            total_amount=_req(d, "total_amount", "trade"),
            refunded_amount=_req(d, "refunded_amount", "trade"),
            gateway_out_trade_no=_opt(d, "gateway_out_trade_no"),
            trade_no=_opt(d, "trade_no"),
            receipt_amount=_opt(d, "receipt_amount"),
            buyer_logon_id=_opt(d, "buyer_logon_id"),
            gmt_payment=_opt(d, "gmt_payment"),
            qr_code=_opt(d, "qr_code"),
            code=_opt(d, "code"),
            sub_code=_opt(d, "sub_code"),
            sub_msg=_opt(d, "sub_msg"),
            cashier_action=_opt(d, "cashier_action"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Refund:
    """A refund. ``status``: SUCCESS, FAILED, UNKNOWN; ``refunded_amount``
    is the trade's total refunded so far."""

    out_trade_no: str
    out_request_no: str
    refund_amount: str
    status: str
    refunded_amount: str
    code: Optional[str] = None
    sub_code: Optional[str] = None
    sub_msg: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_REFUND_STATUSES

    @classmethod
    def from_json(cls, d: Any) -> "Refund":
        if not isinstance(d, dict):
            raise ProtocolError("the refund answer is not a JSON object")
        return cls(
            out_trade_no=_req(d, "out_trade_no", "refund"),
            out_request_no=_req(d, "out_request_no", "refund"),
            refund_amount=_req(d, "refund_amount", "refund"),
            status=_req(d, "status", "refund"),
            refunded_amount=_req(d, "refunded_amount", "refund"),
            code=_opt(d, "code"),
            sub_code=_opt(d, "sub_code"),
            sub_msg=_opt(d, "sub_msg"),
            raw=dict(d),
        )
