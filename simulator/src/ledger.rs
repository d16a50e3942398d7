//! The simulator's ledger: every trade the simulated gateway knows, with its
//! refunds and the history of its status changes.
//!
//! Guarantees: a trade is keyed by (app_id, out_trade_no) in a sharded
//! `DashMap`, so requests for different trades never wait on a common lock;
//! all changes to one trade happen under its shard's lock, so money is taken
//! at most once per trade (`pay_count` never exceeds 1) and refunds never
//! exceed the amount paid. Identifiers look like Alipay's: 28-digit,
//! date-prefixed trade numbers, `2088` + 12-digit buyer ids, masked logon ids.
//! The income of each (app, sub-merchant, gateway day) is kept as running
//! counters (O(1) per payment and refund), for the refund rule of
//! docs/PROTOCOL.md §9.6.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use protocol::{Money, TradeStatus};
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::profile::{fnv1a, refund_split, FundChannel};

/// How a trade was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeKind {
    /// alipay.trade.pay (barcode).
    Pay,
    /// alipay.trade.precreate (QR code).
    Precreate,
    /// alipay.trade.create (JSAPI).
    Create,
}

/// One refund of a trade (a successful alipay.trade.refund, or the refund
/// of a paid trade's cancel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The refund's idempotency key: the request's `out_request_no`, or the
    /// out_trade_no when it sent none (and for a cancel).
    pub out_request_no: String,
    /// The amount refunded.
    pub amount: Money,
    /// `refund_reason` as sent (`cancel` for a cancel's refund).
    pub reason: Option<String>,
    /// When it was booked (wall clock).
    pub at: OffsetDateTime,
    /// `store_id` as the refund request carried it.
    pub store_id: Option<String>,
    /// `terminal_id` as the refund request carried it.
    pub terminal_id: Option<String>,
    /// `operator_id` as the refund request carried it.
    pub operator_id: Option<String>,
}

/// One trade. Times are wall clock (UTC); the wire shows them in Beijing time.
#[derive(Debug, Clone)]
pub struct Trade {
    /// Unique per trade object across resets; background tasks check it.
    pub serial: u64,
    /// The app that created it.
    pub app_id: String,
    /// The merchant's order number (unique per app).
    pub out_trade_no: String,
    /// The gateway's 28-digit trade number ([`trade_no`]).
    pub trade_no: String,
    /// Which method created it.
    pub kind: TradeKind,
    /// The current status.
    pub status: TradeStatus,
    /// `total_amount` as requested.
    pub total: Money,
    /// `subject` as requested.
    pub subject: String,
    /// `body` (the order description) as requested.
    pub body: Option<String>,
    /// `store_id` as requested.
    pub store_id: Option<String>,
    /// `terminal_id` as requested.
    pub terminal_id: Option<String>,
    /// `operator_id` as requested.
    pub operator_id: Option<String>,
    /// `sub_merchant.merchant_id` as the request carried it (the smid).
    pub sub_merchant_id: Option<String>,
    /// Hash of the auth code (the code itself is a credential and is not kept).
    pub auth_code_hash: Option<u64>,
    /// The buyer's `2088...` user id ([`buyer_from`]), once known (at a
    /// barcode pay, a create's `buyer_id`, or when the buyer pays).
    pub buyer_user_id: Option<String>,
    /// The buyer's masked logon id, with `buyer_user_id`.
    pub buyer_logon_id: Option<String>,
    /// When the trade was created (`gmt_create`).
    pub created_at: OffsetDateTime,
    /// When the money was taken (`gmt_payment`).
    pub paid_at: Option<OffsetDateTime>,
    /// When it became TRADE_CLOSED (`gmt_close`).
    pub closed_at: Option<OffsetDateTime>,
    /// An unpaid trade closes by itself at this time.
    pub expires_at: OffsetDateTime,
    /// Its refunds, oldest first.
    pub refunds: Vec<Refund>,
    /// The sum of `refunds` (never above `total`).
    pub refunded: Money,
    /// Every status it had, with when it got it, oldest first (starts with
    /// WAIT_BUYER_PAY at creation).
    pub history: Vec<(TradeStatus, OffsetDateTime)>,
    /// How many times money was taken for this trade (0 or 1).
    pub pay_count: u32,
    /// The request's `notify_url`: where its notifications go (none without).
    pub notify_url: Option<String>,
    /// The QR code URL of a precreated trade.
    pub qr_code: Option<String>,
    /// After a successful cancel: `close` or `refund`.
    pub cancel_action: Option<&'static str>,
    /// Whether the gateway shows the trade to query/close/cancel/refund. A
    /// precreated QR is hidden until the buyer scans it when the profile's
    /// `behaviour.precreate_hidden_until_scan` is set (as on the real gateway).
    pub visible: bool,
    /// Booked by a 9003 late landing (after the connection was dropped).
    pub landed_late: bool,
    /// The funding tools of the payment (fen per tool), fixed when the money
    /// is taken (profile `behaviour.fund_mix`). Empty: all ALIPAYACCOUNT.
    pub funds: Vec<(FundChannel, u64)>,
}

/// An out_trade_no that alipay.trade.cancel was asked to cancel while the
/// gateway had not booked it (profile `behaviour.cancel_unknown`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledUnknown {
    /// The app that sent the cancel.
    pub app_id: String,
    /// The out_trade_no it named.
    pub out_trade_no: String,
    /// The first such cancel.
    pub at: OffsetDateTime,
    /// Cancelled under `cancel_unknown = "close_and_block"`: later pays are
    /// refused whatever `late_pay_after_cancel` says.
    pub block: bool,
    /// Pays refused (ACQ.TRADE_HAS_CLOSE) since.
    pub refused_pays: u32,
    /// 9003 late landings that did not book since.
    pub blocked_landings: u32,
}

/// A 9003 payment accepted but not booked yet: it lands at `lands_at`.
#[derive(Debug, Clone)]
pub struct PendingLanding {
    /// The trade as it will be booked (still WAIT_BUYER_PAY).
    pub trade: Trade,
    /// When it is due to land (wall clock).
    pub lands_at: OffsetDateTime,
}

impl Trade {
    /// Moves the trade to `status`, recording the change in `history` (no
    /// entry when it already has it) and setting `closed_at` the first time
    /// it is TRADE_CLOSED. Checks no transition rule: callers do.
    pub fn set_status(&mut self, status: TradeStatus, at: OffsetDateTime) {
        if self.status != status {
            self.status = status;
            self.history.push((status, at));
        }
        if status == TradeStatus::TradeClosed && self.closed_at.is_none() {
            self.closed_at = Some(at);
        }
    }

    /// Takes the buyer's money: TRADE_SUCCESS, `pay_count` + 1, `paid_at`.
    /// Refuses (returns false, changes nothing) when the trade is not
    /// waiting for payment (so money is never taken twice).
    pub fn mark_paid(&mut self, at: OffsetDateTime) -> bool {
        if self.status != TradeStatus::WaitBuyerPay || self.pay_count > 0 {
            return false;
        }
        self.pay_count += 1;
        self.paid_at = Some(at);
        self.set_status(TradeStatus::TradeSuccess, at);
        true
    }

    /// The amount the buyer paid (zero before payment).
    pub fn paid_amount(&self) -> Money {
        if self.pay_count > 0 {
            self.total
        } else {
            Money::ZERO
        }
    }

    /// The funding tools of the payment, fen per tool (empty before payment).
    pub fn fund_parts(&self) -> Vec<(FundChannel, u64)> {
        if self.pay_count == 0 {
            Vec::new()
        } else if self.funds.is_empty() {
            vec![(FundChannel::Alipayaccount, self.total.fen())]
        } else {
            self.funds.clone()
        }
    }

    /// The tools the `index`-th refund of the trade took from: in the
    /// priority order of docs/PROTOCOL.md §9.6, continuing where the earlier
    /// refunds left off (empty for an index without a refund).
    pub fn refund_detail(&self, index: usize) -> Vec<(FundChannel, u64)> {
        let Some(r) = self.refunds.get(index) else {
            return Vec::new();
        };
        let before: u64 = self.refunds[..index].iter().map(|x| x.amount.fen()).sum();
        refund_split(&self.fund_parts(), before, r.amount.fen())
    }

    /// A paid trade (TRADE_SUCCESS) whose refund window (`window` after
    /// payment) has passed at `gateway_now` becomes TRADE_FINISHED, at the
    /// end of the window. Returns whether it did.
    pub fn finish_if_due(&mut self, gateway_now: OffsetDateTime, window: time::Duration) -> bool {
        let Some(end) = self.paid_at.and_then(|p| p.checked_add(window)) else {
            return false;
        };
        if self.status == TradeStatus::TradeSuccess && gateway_now >= end {
            self.set_status(TradeStatus::TradeFinished, end);
            return true;
        }
        false
    }

    /// Closes an unpaid trade whose time-out (`expires_at`) has passed at
    /// `now`, as of `expires_at`. Returns whether it did.
    pub fn expire_if_due(&mut self, now: OffsetDateTime) -> bool {
        if self.status == TradeStatus::WaitBuyerPay && now >= self.expires_at {
            self.set_status(TradeStatus::TradeClosed, self.expires_at);
            return true;
        }
        false
    }

    /// Moves every time of the trade back by `by` (control API, to test the
    /// 24-hour cancel window and bill dates).
    pub fn backdate(&mut self, by: time::Duration) {
        self.created_at -= by;
        self.expires_at -= by;
        if let Some(t) = self.paid_at.as_mut() {
            *t -= by;
        }
        if let Some(t) = self.closed_at.as_mut() {
            *t -= by;
        }
        for r in &mut self.refunds {
            r.at -= by;
        }
        for h in &mut self.history {
            h.1 -= by;
        }
    }
}

/// The ledger key of a trade: `app_id` and `out_trade_no` joined by a
/// control character that neither may hold.
pub fn key(app_id: &str, out_trade_no: &str) -> String {
    let mut k = String::with_capacity(app_id.len() + out_trade_no.len() + 1);
    k.push_str(app_id);
    k.push('\u{1}');
    k.push_str(out_trade_no);
    k
}

/// The ledger: trades by (app_id, out_trade_no), with indexes by trade_no and
/// by out_trade_no alone (for the control API).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Every trade, by [`key`].
    pub trades: DashMap<String, Trade>,
    /// trade_no -> [`key`].
    pub by_trade_no: DashMap<String, String>,
    /// out_trade_no -> [`key`] of the last trade indexed under it (any app;
    /// for the control API, which names trades by out_trade_no alone).
    pub by_out_trade_no: DashMap<String, String>,
    /// Cancels of unbooked out_trade_nos, by ledger key. Lock order: a
    /// `trades` shard may be held while this map is touched, never the reverse.
    pub cancelled_unknown: DashMap<String, CancelledUnknown>,
    /// 9003 payments waiting to land, by trade serial (same lock order).
    pub pending_late: DashMap<u64, PendingLanding>,
    /// The income of each (app, sub-merchant, gateway day), by
    /// [`income_key`]. Same lock order: a `trades` shard may be held while
    /// this map is touched, never the reverse.
    pub day_income: DashMap<String, DayIncome>,
    serial: AtomicU64,
}

/// The income of one (app, sub-merchant, gateway day): payments booked and
/// refunds made (cancels that refunded included) that day, in fen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayIncome {
    /// The app (acquirer or merchant) the income belongs to.
    pub app_id: String,
    /// The sub-merchant (smid) of the trades; `None` for trades without one.
    pub sub_merchant_id: Option<String>,
    /// The gateway day (Beijing).
    pub day: Date,
    /// Payments booked that day, fen.
    pub paid: u64,
    /// Refunds made that day (a paid trade's cancel included), fen.
    pub refunded: u64,
}

impl DayIncome {
    /// Payments minus refunds (negative after a cancel of an earlier day's payment).
    pub fn balance(&self) -> i128 {
        i128::from(self.paid) - i128::from(self.refunded)
    }
}

/// Why a refund could not be booked against the day's income.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the day's income ({balance} fen) does not cover the refund ({amount} fen)")]
pub struct IncomeShort {
    /// The day's balance before the refund ([`DayIncome::balance`]), fen.
    pub balance: i128,
    /// The refund asked for, fen.
    pub amount: u64,
}

/// The [`Ledger::day_income`] key of (app, smid, day).
pub fn income_key(app_id: &str, smid: Option<&str>, day: Date) -> String {
    let smid = smid.unwrap_or("");
    let mut k = String::with_capacity(app_id.len() + smid.len() + 12);
    k.push_str(app_id);
    k.push('\u{1}');
    k.push_str(smid);
    k.push('\u{1}');
    k.push_str(&day.to_julian_day().to_string());
    k
}

impl Ledger {
    /// A fresh serial number for a new trade (also the trade_no counter).
    pub fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records the indexes of a new trade stored (or about to be stored)
    /// under key `k`.
    pub fn index(&self, k: &str, t: &Trade) {
        self.by_trade_no.insert(t.trade_no.clone(), k.to_owned());
        self.by_out_trade_no
            .insert(t.out_trade_no.clone(), k.to_owned());
    }

    /// The key of the trade a request names: `trade_no` wins over
    /// `out_trade_no`. `None` when no trade of `app_id` matches (a trade_no
    /// of another app included).
    pub fn resolve(
        &self,
        app_id: &str,
        out_trade_no: Option<&str>,
        trade_no: Option<&str>,
    ) -> Option<String> {
        if let Some(tn) = trade_no {
            let k = self.by_trade_no.get(tn)?.value().clone();
            // A trade number of another app is not found for this one.
            let mine = k
                .strip_prefix(app_id)
                .is_some_and(|rest| rest.starts_with('\u{1}'));
            return mine.then_some(k);
        }
        let k = key(app_id, out_trade_no?);
        self.trades.contains_key(&k).then_some(k)
    }

    /// The key of a trade by its out_trade_no alone (control API).
    pub fn key_of_out_trade_no(&self, out_trade_no: &str) -> Option<String> {
        self.by_out_trade_no
            .get(out_trade_no)
            .map(|v| v.value().clone())
    }

    /// Forgets trades that reached a final status (or are paid) and have not
    /// changed for `retention`; unpaid trades stay until they close. Returns
    /// the out_trade_no of every trade forgotten.
    pub fn sweep(&self, now: OffsetDateTime, retention: time::Duration) -> Vec<String> {
        let mut gone: Vec<(String, String, String)> = Vec::new();
        self.trades.retain(|k, t| {
            let last = t
                .history
                .last()
                .map(|h| h.1)
                .into_iter()
                .chain(t.refunds.last().map(|r| r.at))
                .max()
                .unwrap_or(t.created_at);
            let keep = t.status == TradeStatus::WaitBuyerPay || now - last < retention;
            if !keep {
                gone.push((k.clone(), t.trade_no.clone(), t.out_trade_no.clone()));
            }
            keep
        });
        self.cancelled_unknown.retain(|_, c| now - c.at < retention);
        gone.into_iter()
            .map(|(k, tn, otn)| {
                self.by_trade_no.remove(&tn);
                self.by_out_trade_no.remove_if(&otn, |_, v| *v == k);
                otn
            })
            .collect()
    }

    /// Adds a payment of `fen` to the income of (app, smid, day).
    pub fn credit_income(&self, app_id: &str, smid: Option<&str>, day: Date, fen: u64) {
        let mut e = self
            .day_income
            .entry(income_key(app_id, smid, day))
            .or_insert_with(|| DayIncome {
                app_id: app_id.to_owned(),
                sub_merchant_id: smid.map(str::to_owned),
                day,
                paid: 0,
                refunded: 0,
            });
        e.paid = e.paid.saturating_add(fen);
    }

    /// Takes a refund of `fen` from the income of (app, smid, day). With
    /// `check`, refuses (taking nothing) when the day's balance is short.
    /// The check and the booking happen under one entry lock.
    ///
    /// # Errors
    ///
    /// [`IncomeShort`] when `check` is set and the day's balance is below
    /// `fen`; never without `check`.
    pub fn debit_income(
        &self,
        app_id: &str,
        smid: Option<&str>,
        day: Date,
        fen: u64,
        check: bool,
    ) -> Result<(), IncomeShort> {
        let mut e = self
            .day_income
            .entry(income_key(app_id, smid, day))
            .or_insert_with(|| DayIncome {
                app_id: app_id.to_owned(),
                sub_merchant_id: smid.map(str::to_owned),
                day,
                paid: 0,
                refunded: 0,
            });
        let balance = e.balance();
        if check && balance < i128::from(fen) {
            return Err(IncomeShort {
                balance,
                amount: fen,
            });
        }
        e.refunded = e.refunded.saturating_add(fen);
        Ok(())
    }

    /// The income counters, by app, smid and day (control API).
    pub fn incomes(&self) -> Vec<DayIncome> {
        let mut v: Vec<DayIncome> = self.day_income.iter().map(|e| e.value().clone()).collect();
        v.sort_by(|a, b| {
            (a.day, &a.app_id, &a.sub_merchant_id).cmp(&(b.day, &b.app_id, &b.sub_merchant_id))
        });
        v
    }

    /// Forgets everything but the serial counter (`POST /_sim/reset`), so a
    /// trade made after a reset never takes an earlier trade's serial.
    pub fn clear(&self) {
        self.trades.clear();
        self.by_trade_no.clear();
        self.by_out_trade_no.clear();
        self.cancelled_unknown.clear();
        self.pending_late.clear();
        self.day_income.clear();
    }

    /// The cancel of an unbooked out_trade_no, if any (control API).
    pub fn cancelled_unknown_of(&self, out_trade_no: &str) -> Option<CancelledUnknown> {
        self.cancelled_unknown
            .iter()
            .find(|e| e.value().out_trade_no == out_trade_no)
            .map(|e| e.value().clone())
    }

    /// The earliest pending 9003 landing of an out_trade_no, if any (control API).
    pub fn pending_landing_of(&self, out_trade_no: &str) -> Option<OffsetDateTime> {
        self.pending_late
            .iter()
            .filter(|e| e.value().trade.out_trade_no == out_trade_no)
            .map(|e| e.value().lands_at)
            .min()
    }
}

/// A 28-digit trade number: the Beijing date, `22001`, six digits derived
/// from the out_trade_no and a nine-digit serial.
pub fn trade_no(at: OffsetDateTime, out_trade_no: &str, serial: u64) -> String {
    let d = at.to_offset(protocol::clock::BEIJING);
    let h = fnv1a(&[out_trade_no.as_bytes()]) % 1_000_000;
    format!(
        "{:04}{:02}{:02}22001{:06}{:09}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        h,
        serial % 1_000_000_000
    )
}

/// A buyer derived from a seed string (an auth code, a buyer id or an
/// out_trade_no): `2088` + 12 digits, and a masked logon id.
pub fn buyer_from(seed: &str) -> (String, String) {
    let h = fnv1a(&[b"buyer", seed.as_bytes()]);
    let id = format!("2088{:012}", h % 1_000_000_000_000);
    let logon = if h % 3 == 0 {
        format!("1{:02}******{:02}", 30 + (h >> 8) % 60, (h >> 16) % 100)
    } else {
        const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
        let l = |s: u64| LETTERS[(s % 26) as usize] as char;
        let domain = ["alipay.com", "126.com", "qq.com", "163.com"][((h >> 24) % 4) as usize];
        format!("{}{}{}***@{}", l(h >> 30), l(h >> 35), l(h >> 40), domain)
    };
    (id, logon)
}

/// The seller id of an app: `2088` + 12 digits derived from the app id.
pub fn seller_id(app_id: &str) -> String {
    format!(
        "2088{:012}",
        fnv1a(&[b"seller", app_id.as_bytes()]) % 1_000_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_alipay_shapes() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let n = trade_no(t, "T1", 42);
        assert_eq!(n.len(), 28);
        assert!(n.starts_with("20231115"));
        assert!(n.bytes().all(|c| c.is_ascii_digit()));
        let (id, logon) = buyer_from("281234567890121003");
        assert_eq!(id.len(), 16);
        assert!(id.starts_with("2088"));
        assert!(logon.contains('*'));
        assert_eq!(buyer_from("x"), buyer_from("x"));
    }
}
