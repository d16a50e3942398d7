//! The statuses a terminal sees and the one-way rule between them.
//!
//! Guarantees: [`Status::can_move_to`] is the only rule deciding whether a
//! trade's status may change, and it never lets a final status (`SUCCESS`,
//! `FAILED`, `CLOSED`) change: a terminal that was told a final status may
//! act on it. The switch applies every change through this rule.

use serde::{Deserialize, Serialize};

/// A trade's status as terminals see it (docs/API.md section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The switch is waiting for the gateway or the buyer (10003, pay in flight).
    Paying,
    /// A precreated QR trade waits for the buyer to scan and pay.
    WaitBuyerPay,
    /// Paid. Final.
    Success,
    /// Refused by the gateway (40004 and friends). Final.
    Failed,
    /// Not paid and never will be (cancelled, closed, no trade). Final.
    Closed,
    /// The outcome is not known yet; the switch resolves it in the background.
    Unknown,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 6] = [
        Status::Paying,
        Status::WaitBuyerPay,
        Status::Success,
        Status::Failed,
        Status::Closed,
        Status::Unknown,
    ];

    /// The word on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Paying => "PAYING",
            Status::WaitBuyerPay => "WAIT_BUYER_PAY",
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
            Status::Closed => "CLOSED",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The status a wire word names, if any.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the status never changes again.
    pub const fn is_final(self) -> bool {
        matches!(self, Status::Success | Status::Failed | Status::Closed)
    }

    /// Whether a terminal waiting on `?wait=` should be answered.
    pub const fn is_settled(self) -> bool {
        self.is_final() || matches!(self, Status::Unknown | Status::WaitBuyerPay)
    }

    /// The one-way rule: a final status stays; UNKNOWN never goes back to
    /// WAIT_BUYER_PAY (only a precreate in flight, PAYING, reaches it).
    pub fn can_move_to(self, to: Status) -> bool {
        if self == to {
            return true;
        }
        match self {
            Status::Success | Status::Failed | Status::Closed => false,
            // PAYING -> WAIT_BUYER_PAY: a precreate answered with its QR code.
            Status::Paying => matches!(
                to,
                Status::Success
                    | Status::Failed
                    | Status::Closed
                    | Status::Unknown
                    | Status::WaitBuyerPay
            ),
            Status::Unknown => matches!(
                to,
                Status::Success | Status::Failed | Status::Closed | Status::Paying
            ),
            Status::WaitBuyerPay => {
                matches!(to, Status::Success | Status::Closed | Status::Unknown)
            }
        }
    }
}

/// A refund's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// Refunded. Final.
    Success,
    /// Refused by the gateway. Final.
    Failed,
    /// The outcome is not known yet; the switch resolves it in the background.
    Unknown,
}

impl RefundStatus {
    /// The word on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Failed => "FAILED",
            RefundStatus::Unknown => "UNKNOWN",
        }
    }
}

/// What the cashier should do (docs/API.md section 1, `cashier_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashierAction {
    /// Ask the buyer to refresh the payment code and scan again (new out_trade_no).
    RescanCode,
    /// The buyer should pay another way.
    OtherPaymentMethod,
    /// Start a new order (new out_trade_no).
    NewOutTradeNo,
    /// The terminal sent something wrong.
    FixRequest,
    /// A merchant-side problem: contract, limits, blocked account, configuration.
    ContactAcquirer,
    /// Not definite yet: do not hand over the goods.
    Wait,
}

impl CashierAction {
    /// Every action.
    pub const ALL: [CashierAction; 6] = [
        CashierAction::RescanCode,
        CashierAction::OtherPaymentMethod,
        CashierAction::NewOutTradeNo,
        CashierAction::FixRequest,
        CashierAction::ContactAcquirer,
        CashierAction::Wait,
    ];

    /// The word on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            CashierAction::RescanCode => "rescan_code",
            CashierAction::OtherPaymentMethod => "other_payment_method",
            CashierAction::NewOutTradeNo => "new_out_trade_no",
            CashierAction::FixRequest => "fix_request",
            CashierAction::ContactAcquirer => "contact_acquirer",
            CashierAction::Wait => "wait",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_serde_and_parse() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for a in CashierAction::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        for r in [
            RefundStatus::Success,
            RefundStatus::Failed,
            RefundStatus::Unknown,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn final_is_final() {
        for from in Status::ALL.into_iter().filter(|s| s.is_final()) {
            for to in Status::ALL {
                assert_eq!(from.can_move_to(to), from == to, "{from} -> {to}");
            }
        }
    }
}
