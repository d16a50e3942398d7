//! The trade and refund records and the one-way state machine over them.
//!
//! Guarantees: [`Status::can_move_to`] (the terminal contract's rule, in
//! `payswitch-terminal`) is the only rule deciding whether a trade's status
//! may change, and it never lets a final status (`SUCCESS`, `FAILED`,
//! `CLOSED`) change. The flow module applies every change through
//! [`Trade::transition`], which enforces it. Pure data, no I/O.

use protocol::Money;
use serde::{Deserialize, Serialize};

pub use terminal::Status;

/// Which API created the trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// alipay.trade.pay (barcode).
    Pay,
    /// alipay.trade.precreate (QR).
    Precreate,
}

/// Background work the trade still owes; what recovery looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Nothing in flight.
    Idle,
    /// The pay/precreate request is about to be (or was) sent; no answer yet.
    Sending,
    /// 10003: polling with alipay.trade.query.
    Polling,
    /// A cancel (or close) is about to be (or was) sent; only its answer decides.
    CancelPending,
    /// The outcome is unknown; being resolved in the background.
    Resolving,
    /// CLOSED for the terminal, but the switch's own request may still land
    /// at the gateway: the late-landing watch queries and undoes it.
    Watching,
}

/// The late-landing watch of a CLOSED trade (see [`Phase::Watching`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateWatch {
    /// When the cancel that did not find the trade was answered.
    pub started_ms: i64,
    /// Queries done so far.
    pub checks_done: u32,
    /// Late landings found and undone on this trade.
    pub undone: u32,
}

/// A trade as the journal holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// The Alipay app (`app_id`) the trade was sent under; with
    /// `out_trade_no` it is the journal's key.
    pub app_id: String,
    /// The out_trade_no the gateway sees: the terminal's own, or one made
    /// unique across merchants ([`crate::merchants::numbers`]); see
    /// [`Trade::terminal_out_trade_no`] for the terminal's.
    pub out_trade_no: String,
    /// Which API created the trade (barcode pay or QR precreate).
    pub kind: Kind,
    /// The trade's status; changed only through [`Trade::transition`].
    pub status: Status,
    /// The background work the trade still owes (what recovery resumes).
    pub phase: Phase,
    /// SHA-256 of the request's content, for idempotency.
    pub fingerprint: String,
    /// The key id of the terminal that created the trade.
    pub terminal: String,
    /// The amount asked for (`total_amount`).
    pub total_amount: Money,
    /// The order title sent to the gateway (`subject`).
    pub subject: String,
    /// Alipay's trade number, once an answer or notification gave it.
    pub trade_no: Option<String>,
    /// What the merchant actually received (`receipt_amount`, 商户实收), once
    /// known: the amount fees are computed on ([`crate::fees`]).
    pub receipt_amount: Option<Money>,
    /// The buyer's masked Alipay account, as the gateway gave it.
    pub buyer_logon_id: Option<String>,
    /// When the buyer paid (`gmt_payment`, `yyyy-MM-dd HH:mm:ss` Beijing
    /// time), once known; dates the trade on the bill ([`Trade::book_day`]).
    pub gmt_payment: Option<String>,
    /// The sum of the trade's successful refunds.
    pub refunded_amount: Money,
    /// The last gateway `code` that decided the trade (e.g. `10000`,
    /// `40004`), if any.
    pub code: Option<String>,
    /// The last gateway `sub_code` (a business error such as
    /// `ACQ.TRADE_HAS_CLOSE`), if any.
    pub sub_code: Option<String>,
    /// The gateway's `sub_msg` with `sub_code`, shown to the cashier.
    pub sub_msg: Option<String>,
    /// The QR code content of a precreate trade, once the gateway gave it.
    pub qr_code: Option<String>,
    /// The merchant's own URL for relayed results (precreate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_notify_url: Option<String>,
    /// The terminal's own out_trade_no when it differs from `out_trade_no`
    /// (the gateway's, made unique across merchants: [`crate::merchants::numbers`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_no: Option<String>,
    /// A cancel stopped the pay or precreate before it was sent: the gateway
    /// never saw it, so nothing can land.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_sent: bool,
    /// Refunds sent whose outcome is not known yet (part of the ceiling).
    #[serde(default, skip_serializing_if = "is_zero_money")]
    pub refunding_amount: Money,
    /// The late-landing watch, while [`Phase::Watching`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<LateWatch>,
    /// When a QR trade expires (its timeout_express, or the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    /// Queries the QR watch has made.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub qr_checks_done: u32,
    /// When the trade was journalled first (Unix milliseconds).
    pub created_ms: i64,
    /// When the trade last changed (Unix milliseconds).
    pub updated_ms: i64,
    /// The journal row's version: 0 when created, one more at every change
    /// ([`crate::store::Write::TradeNext`] replaces version − 1 only, so two
    /// writers of one trade, on one node or two, can never overwrite each
    /// other's change unseen).
    #[serde(default)]
    pub version: u64,
}

impl Trade {
    /// Whether the trade still owes background work (a status to settle, a
    /// cancel in doubt, a late-landing watch, a refund whose outcome is
    /// unknown): what a node's lease on it covers.
    pub fn needs_work(&self) -> bool {
        !self.status.is_final()
            || matches!(self.phase, Phase::CancelPending | Phase::Watching)
            || !self.refunding_amount.is_zero()
    }
}

fn is_zero_money(v: &Money) -> bool {
    v.is_zero()
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// A refused status change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trade status cannot move from {} to {}", .from.as_str(), .to.as_str())]
pub struct IllegalTransition {
    /// The status the trade has (and keeps).
    pub from: Status,
    /// The status that was refused.
    pub to: Status,
}

impl Trade {
    /// The out_trade_no the terminal knows the trade by.
    pub fn terminal_out_trade_no(&self) -> &str {
        self.terminal_no.as_deref().unwrap_or(&self.out_trade_no)
    }

    /// Moves the trade to `to` if the one-way rule ([`Status::can_move_to`])
    /// allows it; a final status also ends the phase (back to
    /// [`Phase::Idle`]) unless the late-landing watch runs. Returns whether
    /// the status changed (moving to the same status is allowed and is
    /// `false`).
    ///
    /// # Errors
    /// [`IllegalTransition`] when the rule refuses the move (e.g. out of a
    /// final status); the trade is then unchanged.
    pub fn transition(&mut self, to: Status) -> Result<bool, IllegalTransition> {
        if !self.status.can_move_to(to) {
            return Err(IllegalTransition {
                from: self.status,
                to,
            });
        }
        let changed = self.status != to;
        self.status = to;
        if to.is_final() && self.phase != Phase::Watching {
            self.phase = Phase::Idle;
        }
        Ok(changed)
    }

    /// Whether recovery must drive this trade.
    pub fn needs_recovery(&self) -> bool {
        matches!(
            self.status,
            Status::Paying | Status::Unknown | Status::WaitBuyerPay
        ) || matches!(self.phase, Phase::CancelPending | Phase::Watching)
    }
}

pub use terminal::RefundStatus;

/// A refund request as the journal holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    /// The Alipay app of the refunded trade.
    pub app_id: String,
    /// The refunded trade's out_trade_no (the gateway's, as in
    /// [`Trade::out_trade_no`]).
    pub out_trade_no: String,
    /// The refund's own number, unique within its trade; retries of one
    /// refund keep it, so the gateway refunds at most once.
    pub out_request_no: String,
    /// The amount to give back.
    pub refund_amount: Money,
    /// The reason sent to the gateway, if the terminal gave one.
    pub refund_reason: Option<String>,
    /// The refund's status (one-way, like a trade's).
    pub status: RefundStatus,
    /// SHA-256 of the request's content, for idempotency.
    pub fingerprint: String,
    /// The last gateway `code` for the refund, if any.
    pub code: Option<String>,
    /// The last gateway `sub_code` (a business error), if any.
    pub sub_code: Option<String>,
    /// The gateway's `sub_msg` with `sub_code`.
    pub sub_msg: Option<String>,
    /// When the gateway says the refund was paid back (`gmt_refund_pay`,
    /// Beijing time), once known: the day it is on the gateway's bill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_refund_pay: Option<String>,
    /// When the refund was journalled first (Unix milliseconds).
    pub created_ms: i64,
    /// When the refund last changed (Unix milliseconds).
    pub updated_ms: i64,
}

impl Refund {
    /// The gateway day (`yyyy-MM-dd`, Beijing time) the refund is booked on:
    /// the day of `gmt_refund_pay`, else the day of the last update. Only
    /// meaningful for a successful refund.
    pub fn book_day(&self) -> String {
        gateway_day(self.gmt_refund_pay.as_deref(), self.updated_ms)
    }
}

impl Trade {
    /// The gateway day (`yyyy-MM-dd`, Beijing time) the payment is booked on
    /// (the bill dates a trade by gmt_payment, docs/PROTOCOL.md §9.6): the day of
    /// `gmt_payment`, else the day of the last update. Only meaningful for a
    /// paid trade.
    pub fn book_day(&self) -> String {
        gateway_day(self.gmt_payment.as_deref(), self.updated_ms)
    }
}

/// Beijing time, the gateway's (UTC+8, no daylight saving).
pub const GATEWAY_UTC_OFFSET_SECS: i64 = 8 * 3600;

/// The `yyyy-MM-dd` of a gateway time `yyyy-MM-dd HH:mm:ss` when it has that
/// shape, else the gateway day of `fallback_ms` (Unix milliseconds).
pub fn gateway_day(gmt: Option<&str>, fallback_ms: i64) -> String {
    if let Some(g) = gmt {
        let b = g.as_bytes();
        if b.len() >= 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b[..10]
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        {
            return g[..10].to_owned();
        }
    }
    day_of_ms(fallback_ms)
}

/// The gateway day (`yyyy-MM-dd`) of Unix milliseconds.
pub fn day_of_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + GATEWAY_UTC_OFFSET_SECS;
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-to-civil (proleptic Gregorian), for any i64 day.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trade() -> Trade {
        Trade {
            app_id: "1".into(),
            out_trade_no: "o".into(),
            kind: Kind::Pay,
            status: Status::Paying,
            phase: Phase::Sending,
            fingerprint: String::new(),
            terminal: "T".into(),
            total_amount: Money::from_fen(1),
            subject: "s".into(),
            trade_no: None,
            receipt_amount: None,
            buyer_logon_id: None,
            gmt_payment: None,
            refunded_amount: Money::ZERO,
            code: None,
            sub_code: None,
            sub_msg: None,
            qr_code: None,
            merchant_notify_url: None,
            terminal_no: None,
            never_sent: false,
            refunding_amount: Money::ZERO,
            watch: None,
            expires_ms: None,
            qr_checks_done: 0,
            created_ms: 0,
            updated_ms: 0,
            version: 0,
        }
    }

    fn status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    #[test]
    fn gateway_days() {
        assert_eq!(day_of_ms(0), "1970-01-01");
        // 2026-06-05 15:59:59 UTC is 23:59:59 in Beijing; a second later the next day.
        assert_eq!(day_of_ms(1_780_675_199_000), "2026-06-05");
        assert_eq!(day_of_ms(1_780_675_200_000), "2026-06-06");
        assert_eq!(gateway_day(Some("2026-06-05 23:59:59"), 0), "2026-06-05");
        assert_eq!(gateway_day(Some("garbage"), 0), "1970-01-01");
        assert_eq!(gateway_day(None, 951_782_400_000), "2000-02-29");
    }

    proptest! {
        /// Whatever sequence of changes the flows, notifications and queries
        /// attempt, once a trade is final its status never changes again.
        #[test]
        fn final_states_never_change(start in status(), steps in prop::collection::vec(status(), 0..40)) {
            let mut t = trade();
            t.status = start;
            if start.is_final() {
                t.phase = Phase::Idle;
            }
            let mut final_seen: Option<Status> = if start.is_final() { Some(start) } else { None };
            for s in steps {
                let before = t.status;
                let r = t.transition(s);
                if let Some(f) = final_seen {
                    prop_assert_eq!(t.status, f);
                    prop_assert!(r.is_err() || s == f);
                }
                if r.is_err() {
                    prop_assert_eq!(t.status, before);
                }
                if t.status.is_final() {
                    final_seen = Some(t.status);
                    prop_assert_eq!(t.phase, Phase::Idle);
                }
            }
        }
    }

    #[test]
    fn nothing_returns_to_wait_buyer_pay() {
        assert!(!Status::Unknown.can_move_to(Status::WaitBuyerPay));
        assert!(Status::WaitBuyerPay.can_move_to(Status::Success));
        assert!(!Status::Success.can_move_to(Status::Closed));
    }
}
