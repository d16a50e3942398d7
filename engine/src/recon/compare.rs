//! The comparison of one day's bill with the journal: decisions only.
//!
//! [`Comparer`] takes the journal's book of the day ([`Book`]: the trades it
//! dates on that day as paid, and the refunds it dates on that day as
//! done), then the bill's rows one at a time, and ends with every
//! [`Candidate`] difference, each classified, plus the day's tallies per
//! sub-merchant (from the bill: the gateway's money). No I/O of its own:
//! the journal is read through [`JournalView`], rates through [`RateBook`].
//!
//! Memory: the book holds one small entry per journal trade and refund of
//! the day; the bill is never held (a row is compared and dropped); what
//! waits for a later row (a paid row of a trade the switch closed, waiting
//! for its reversal) is bounded by the number of such rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use protocol::Money;
use serde::Serialize;
use serde_json::{json, Value};

use super::bill::{BillKind, BillRow};
use crate::fees::{self, FeeRate, FeeRates, TradeFees};
use crate::store::StoreError;
use crate::trade::{Refund, RefundStatus, Status, Trade};

/// The class of a difference (docs/RECONCILIATION.md, "The five classes,
/// and what to do about the open ones").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The gateway has it, the switch does not.
    BillOnly,
    /// The switch has it as done, the bill does not.
    JournalOnly,
    /// Both have it, with different amounts.
    AmountMismatch,
    /// The bill has it paid (or refunded), the switch has it in another state.
    StatusMismatch,
    /// The bill's 服务费 differs from the fee the switch computes.
    FeeMismatch,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 5] = [
        Class::BillOnly,
        Class::JournalOnly,
        Class::AmountMismatch,
        Class::StatusMismatch,
        Class::FeeMismatch,
    ];

    /// The class's name in the report (`bill_only`, ...), as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::BillOnly => "bill_only",
            Class::JournalOnly => "journal_only",
            Class::AmountMismatch => "amount_mismatch",
            Class::StatusMismatch => "status_mismatch",
            Class::FeeMismatch => "fee_mismatch",
        }
    }
}

/// Whether a difference is about a payment or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// A payment (a bill row `交易`, a journal trade).
    Trade,
    /// A refund (a bill row `退款`, a journal refund).
    Refund,
}

/// A difference found by the comparison, before any repair.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// What kind of difference.
    pub class: Class,
    /// About a payment or a refund.
    pub entry: Entry,
    /// The trade's out_trade_no (the gateway's).
    pub out_trade_no: String,
    /// Alipay's trade_no, when the bill row gives it.
    pub trade_no: Option<String>,
    /// The refund's out_request_no, for a refund.
    pub out_request_no: Option<String>,
    /// The sub-merchant the entry belongs to, when known.
    pub smid: Option<String>,
    /// What the switch holds (JSON: status, amount, fee...), Null when nothing.
    pub switch: Value,
    /// What the bill says (JSON: kind, amount, fee, line), Null when nothing.
    pub bill: Value,
    /// The journal's trade status when the journal has the trade.
    pub journal_status: Option<Status>,
    /// The amount in question, fen (the bill's when it has one).
    pub amount_fen: u64,
}

impl Candidate {
    /// The key a difference keeps across runs of the same date.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.class.as_str(),
            self.out_trade_no,
            self.out_request_no.as_deref().unwrap_or("")
        )
    }
}

/// The journal, read by out_trade_no (point lookups).
pub trait JournalView {
    /// The trade of the reconciled app by out_trade_no (the gateway's).
    ///
    /// # Errors
    /// The journal's [`StoreError`] when the read fails.
    fn trade(&self, out_trade_no: &str) -> Result<Option<Trade>, StoreError>;
    /// A refund of the reconciled app by its trade and out_request_no.
    ///
    /// # Errors
    /// The journal's [`StoreError`] when the read fails.
    fn refund(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<Option<Refund>, StoreError>;
    /// Every refund of a trade, oldest first.
    ///
    /// # Errors
    /// The journal's [`StoreError`] when the read fails.
    fn refunds_of(&self, out_trade_no: &str) -> Result<Vec<Refund>, StoreError>;
}

/// A terminal's sub-merchant (None: a merchant without a smid) and rates.
pub type TerminalRates = (Option<Arc<str>>, FeeRates);

/// Who a terminal's trades belong to and at which rates.
pub trait RateBook {
    /// The smid and rates of a terminal's trades; None for a terminal the
    /// registry does not know.
    fn terminal(&self, key_id: &str) -> Option<TerminalRates>;
    /// The rates of a sub-merchant by smid (a bill row the switch does not
    /// know, attributed by its number's prefix).
    fn smid(&self, smid: &str) -> Option<FeeRates>;
}

/// The out_request_no the switch uses to undo a late landing by refund
/// (a refund of that number is the switch's own, not a merchant's).
pub fn undo_request_no(out_trade_no: &str) -> String {
    crate::flow::undo_request_no(out_trade_no)
}

#[derive(Debug, Clone)]
struct BookTrade {
    total: u64,
    receipt: u64,
    /// Index into [`Book::terminals`].
    terminal: u32,
    seen: bool,
}

#[derive(Debug, Clone)]
struct BookRefund {
    amount: u64,
    terminal: u32,
    seen: bool,
}

/// The journal's side of one day, compact: its paid trades and done
/// refunds, each marked once a bill row matches it.
#[derive(Debug, Default)]
pub struct Book {
    trades: HashMap<Box<str>, BookTrade>,
    refunds: HashMap<(Box<str>, Box<str>), BookRefund>,
    terminals: Vec<Box<str>>,
    terminal_index: HashMap<Box<str>, u32>,
}

impl Book {
    /// An empty book.
    pub fn new() -> Book {
        Book::default()
    }

    fn terminal_id(&mut self, key: &str) -> u32 {
        if let Some(i) = self.terminal_index.get(key) {
            return *i;
        }
        let i = u32::try_from(self.terminals.len()).unwrap_or(u32::MAX);
        self.terminals.push(key.into());
        self.terminal_index.insert(key.into(), i);
        i
    }

    /// Adds a paid trade of the day as the journal's book line gives it.
    pub fn add_line(&mut self, l: &crate::store::BookLine<'_>) {
        let terminal = self.terminal_id(l.terminal);
        self.trades.insert(
            l.out_trade_no.into(),
            BookTrade {
                total: l.total_fen,
                receipt: l.receipt_fen,
                terminal,
                seen: false,
            },
        );
    }

    /// Adds a refund the journal dates on the day as done, of a trade made
    /// at terminal `terminal`.
    pub fn add_refund(&mut self, r: &Refund, terminal: &str) {
        let terminal = self.terminal_id(terminal);
        self.refunds.insert(
            (
                r.out_trade_no.as_str().into(),
                r.out_request_no.as_str().into(),
            ),
            BookRefund {
                amount: r.refund_amount.fen(),
                terminal,
                seen: false,
            },
        );
    }

    /// The terminal of a trade already in the book.
    pub fn terminal_of(&self, out_trade_no: &str) -> Option<&str> {
        let t = self.trades.get(out_trade_no)?;
        self.terminals.get(t.terminal as usize).map(|k| &**k)
    }

    /// The paid trades in the book.
    pub fn trade_count(&self) -> usize {
        self.trades.len()
    }

    /// The done refunds in the book.
    pub fn refund_count(&self) -> usize {
        self.refunds.len()
    }
}

/// One sub-merchant's day as the bill books it (the gateway's money) with
/// the switch's fees.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MerchantDay {
    /// Payment rows of the merchant on the bill.
    pub trade_count: u64,
    /// 商家实收 of the payments, fen.
    pub trade_fen: i64,
    /// Refund rows of the merchant on the bill.
    pub refund_count: u64,
    /// Refunded, fen (positive).
    pub refund_fen: i64,
    /// The gateway's fee net of returns, as the bill has it (fen, positive = charged).
    pub gateway_fee_fen: i64,
    /// The switch's merchant fee net of returns (fen, positive = charged).
    pub merchant_fee_fen: i64,
    /// Rows of this merchant the comparison matched.
    pub matched: u64,
}

/// What a comparison found.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Detail rows compared.
    pub bill_rows: u64,
    /// Rows that matched the journal exactly (no difference).
    pub matched: u64,
    /// Every difference, classified; the journal-only ones sorted by
    /// [`Candidate::key`] at the end.
    pub candidates: Vec<Candidate>,
    /// Per smid ("" for trades without a sub-merchant), from the bill.
    pub merchants: BTreeMap<String, MerchantDay>,
    /// Journal trades of the day (paid, dated on it).
    pub journal_trades: u64,
    /// Journal refunds of the day (done, dated on it).
    pub journal_refunds: u64,
}

/// The comparison of one day (see the module doc).
pub struct Comparer<'a> {
    book: Book,
    journal: &'a dyn JournalView,
    rates: &'a dyn RateBook,
    /// Paid rows of trades the switch holds as not paid, by out_trade_no,
    /// waiting for a reversal row later in the bill.
    waiting: HashMap<String, Candidate>,
    /// Reversal rows seen for trades whose paid row may come later.
    reversed: HashMap<String, u64>,
    out: Comparison,
}

fn smid_of_number(no: &str) -> Option<String> {
    crate::merchants::numbers::smid_of(no)
}

fn bill_json(row: &BillRow) -> Value {
    json!({
        "kind": match row.kind { BillKind::Trade => "交易", BillKind::Refund => "退款" },
        "line": row.line,
        "order_amount": row.order_amount.to_string(),
        "received": row.received.to_string(),
        "service_fee": row.service_fee.to_string(),
        "finished_at": row
            .finished_at
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap_or_default(),
        "store_id": row.store_id,
        "terminal_id": row.terminal_id,
    })
}

/// A difference about one bill row, with what every such difference
/// shares (the row's numbers, its JSON); the caller adds who and what state.
fn on_row(class: Class, row: &BillRow, amount_fen: u64, switch: Value) -> Candidate {
    let refund = row.kind == BillKind::Refund;
    Candidate {
        class,
        entry: if refund { Entry::Refund } else { Entry::Trade },
        out_trade_no: row.out_trade_no.clone(),
        trade_no: Some(row.trade_no.clone()),
        out_request_no: refund.then(|| row.refund_request_no.clone()),
        smid: None,
        switch,
        bill: bill_json(row),
        journal_status: None,
        amount_fen,
    }
}

/// The journal's side of a difference, as the operator reads it in the
/// reconciliation report (not the terminal's trade answer).
fn journal_trade_view(t: &Trade) -> Value {
    json!({
        "status": t.status.as_str(),
        "total_amount": t.total_amount.to_wire(),
        "refunded_amount": t.refunded_amount.to_wire(),
        "terminal": t.terminal,
        "book_day": (t.status == Status::Success).then(|| t.book_day()),
    })
}

fn journal_refund_view(r: &Refund) -> Value {
    json!({
        "status": r.status.as_str(),
        "refund_amount": r.refund_amount.to_wire(),
        "book_day": (r.status == RefundStatus::Success).then(|| r.book_day()),
    })
}

fn money(fen: u64) -> String {
    Money::from_fen(fen).to_wire()
}

impl<'a> Comparer<'a> {
    /// A comparison of the day of `book`, looking up trades not in it in
    /// `journal` and rates in `rates`.
    pub fn new(book: Book, journal: &'a dyn JournalView, rates: &'a dyn RateBook) -> Comparer<'a> {
        let out = Comparison {
            journal_trades: book.trades.len() as u64,
            journal_refunds: book.refunds.len() as u64,
            ..Comparison::default()
        };
        Comparer {
            book,
            journal,
            rates,
            waiting: HashMap::new(),
            reversed: HashMap::new(),
            out,
        }
    }

    fn terminal_rates(&self, idx: u32) -> (Option<String>, Option<FeeRates>) {
        let key = self.book.terminals.get(idx as usize).map(|k| &**k);
        match key.and_then(|k| self.rates.terminal(k)) {
            Some((smid, rates)) => (smid.map(|s| s.to_string()), Some(rates)),
            None => (None, None),
        }
    }

    fn attribution(&self, terminal: Option<&str>, no: &str) -> (Option<String>, Option<FeeRates>) {
        if let Some((smid, rates)) = terminal.and_then(|k| self.rates.terminal(k)) {
            return (smid.map(|s| s.to_string()), Some(rates));
        }
        match smid_of_number(no) {
            Some(s) => {
                let r = self.rates.smid(&s);
                (Some(s), r)
            }
            None => (None, None),
        }
    }

    fn merchant(&mut self, smid: &Option<String>) -> &mut MerchantDay {
        self.out
            .merchants
            .entry(smid.clone().unwrap_or_default())
            .or_default()
    }

    /// Books a row's money in its merchant's day (the bill is the gateway's
    /// money, whatever the comparison finds).
    fn tally(&mut self, row: &BillRow, smid: &Option<String>, merchant_fee: i64, matched: bool) {
        let m = self.merchant(smid);
        match row.kind {
            BillKind::Trade => {
                m.trade_count += 1;
                m.trade_fen += row.received.0;
                m.gateway_fee_fen += row.service_fee.0.abs();
            }
            BillKind::Refund => {
                m.refund_count += 1;
                m.refund_fen += row.received.0.abs();
                m.gateway_fee_fen -= row.service_fee.0.abs();
            }
        }
        m.merchant_fee_fen += merchant_fee;
        m.matched += u64::from(matched);
    }

    fn push(&mut self, c: Candidate) {
        self.out.candidates.push(c);
    }

    /// Compares one bill row.
    ///
    /// # Errors
    /// The journal's [`StoreError`] when a lookup of the row's trade or
    /// refunds fails; the row then counts as not compared.
    pub fn feed(&mut self, row: &BillRow) -> Result<(), StoreError> {
        self.out.bill_rows += 1;
        match row.kind {
            BillKind::Trade => self.feed_trade(row),
            BillKind::Refund => self.feed_refund(row),
        }
    }

    fn feed_trade(&mut self, row: &BillRow) -> Result<(), StoreError> {
        let amount = row.order_amount.0.unsigned_abs();
        let fee_bill = row.service_fee.0.unsigned_abs();
        if let Some(b) = self.book.trades.get_mut(row.out_trade_no.as_str()) {
            b.seen = true;
            let b = b.clone();
            let (smid, rates) = self.terminal_rates(b.terminal);
            let receipt = Money::from_fen(b.receipt);
            let merchant_fee = rates.map_or(0, |r| fees::trade_fee(receipt, r.merchant).fen());
            let mut clean = true;
            if b.total != amount {
                clean = false;
                self.push(Candidate {
                    smid: smid.clone(),
                    journal_status: Some(Status::Success),
                    ..on_row(
                        Class::AmountMismatch,
                        row,
                        amount,
                        json!({"total_amount": money(b.total)}),
                    )
                });
            }
            if let Some(r) = rates {
                let want = fees::trade_fee(receipt, r.gateway).fen();
                if want != fee_bill {
                    clean = false;
                    self.push(Candidate {
                        smid: smid.clone(),
                        journal_status: Some(Status::Success),
                        ..on_row(Class::FeeMismatch, row, amount, json!({"gateway_fee": money(want), "gateway_fee_bps": r.gateway.bps(), "receipt_amount": money(b.receipt)}))
                    });
                }
            }
            self.out.matched += u64::from(clean);
            self.tally(row, &smid, merchant_fee as i64, clean);
            return Ok(());
        }
        // Not paid on this day in the journal: look the trade up.
        let t = self.journal.trade(&row.out_trade_no)?;
        let (smid, rates) =
            self.attribution(t.as_ref().map(|t| t.terminal.as_str()), &row.out_trade_no);
        match t {
            None => {
                self.tally(row, &smid, 0, false);
                self.push(Candidate {
                    smid,
                    journal_status: None,
                    ..on_row(Class::BillOnly, row, amount, Value::Null)
                });
            }
            Some(t) if t.status == Status::Success => {
                // Paid in the journal, dated on another day: the gateway's day wins.
                let merchant_fee = rates.map_or(0, |r| {
                    fees::trade_fee(t.receipt_amount.unwrap_or(t.total_amount), r.merchant).fen()
                });
                let clean = t.total_amount.fen() == amount;
                if clean {
                    self.out.matched += 1;
                } else {
                    self.push(Candidate {
                        smid: smid.clone(),
                        journal_status: Some(t.status),
                        ..on_row(Class::AmountMismatch, row, amount, journal_trade_view(&t))
                    });
                }
                self.tally(row, &smid, merchant_fee as i64, clean);
            }
            Some(t) => {
                // The gateway booked a payment the switch holds as not paid.
                self.tally(row, &smid, 0, false);
                let c = Candidate {
                    smid,
                    journal_status: Some(t.status),
                    ..on_row(Class::StatusMismatch, row, amount, journal_trade_view(&t))
                };
                if let Some(n) = self.reversed.get_mut(&row.out_trade_no) {
                    if *n == amount {
                        self.reversed.remove(&row.out_trade_no);
                        self.reversal_matched(&c);
                        return Ok(());
                    }
                }
                self.waiting.insert(row.out_trade_no.clone(), c);
            }
        }
        Ok(())
    }

    /// A payment and its full reversal on the same bill, for a trade the
    /// switch holds as not paid: the buyer got the money back, both rows match.
    fn reversal_matched(&mut self, c: &Candidate) {
        self.out.matched += 2;
        let m = self.merchant(&c.smid);
        m.matched += 2;
    }

    fn feed_refund(&mut self, row: &BillRow) -> Result<(), StoreError> {
        let amount = row.received.0.unsigned_abs();
        let fee_bill = row.service_fee.0.unsigned_abs();
        let req = row.refund_request_no.clone();
        let key: (Box<str>, Box<str>) = (row.out_trade_no.as_str().into(), req.as_str().into());
        if let Some(b) = self.book.refunds.get_mut(&key) {
            b.seen = true;
            let b = b.clone();
            let (smid, rates) = self.terminal_rates(b.terminal);
            let (want_gw, want_mf) = match rates {
                Some(r) => self.fee_returns(&row.out_trade_no, &req, r)?,
                None => (None, 0),
            };
            let mut clean = true;
            if b.amount != amount {
                clean = false;
                self.push(Candidate {
                    smid: smid.clone(),
                    journal_status: None,
                    ..on_row(
                        Class::AmountMismatch,
                        row,
                        amount,
                        json!({"refund_amount": money(b.amount)}),
                    )
                });
            }
            if let (Some(want), Some(r)) = (want_gw, rates) {
                if want != fee_bill {
                    clean = false;
                    self.push(Candidate {
                        smid: smid.clone(),
                        journal_status: None,
                        ..on_row(Class::FeeMismatch, row, amount, json!({"gateway_fee_returned": money(want), "gateway_fee_bps": r.gateway.bps()}))
                    });
                }
            }
            self.out.matched += u64::from(clean);
            self.tally(row, &smid, -(want_mf as i64), clean);
            return Ok(());
        }
        let t = self.journal.trade(&row.out_trade_no)?;
        let (smid, rates) =
            self.attribution(t.as_ref().map(|t| t.terminal.as_str()), &row.out_trade_no);
        // A reversal of a payment the switch holds as not paid: a cancel that
        // refunded (its request no is the out_trade_no) or the switch's undo.
        if let Some(t) = &t {
            let reversal = (req == t.out_trade_no || req == undo_request_no(&t.out_trade_no))
                && t.status != Status::Success
                && amount == t.total_amount.fen();
            if reversal {
                self.tally(row, &smid, 0, false);
                if let Some(c) = self.waiting.remove(&row.out_trade_no) {
                    self.reversal_matched(&c);
                } else {
                    // The payment was on an earlier bill (found then) or
                    // comes later in this one.
                    *self.reversed.entry(row.out_trade_no.clone()).or_default() = amount;
                }
                return Ok(());
            }
        }
        let r = match &t {
            Some(_) => self.journal.refund(&row.out_trade_no, &req)?,
            None => None,
        };
        match r {
            Some(r) if r.status == RefundStatus::Success => {
                // Done in the journal, dated on another day.
                let want_mf = match rates {
                    Some(rt) => self.fee_returns(&row.out_trade_no, &req, rt)?.1,
                    None => 0,
                };
                let clean = r.refund_amount.fen() == amount;
                if clean {
                    self.out.matched += 1;
                } else {
                    self.push(Candidate {
                        smid: smid.clone(),
                        journal_status: t.as_ref().map(|t| t.status),
                        ..on_row(Class::AmountMismatch, row, amount, journal_refund_view(&r))
                    });
                }
                self.tally(row, &smid, -(want_mf as i64), clean);
            }
            Some(r) => {
                self.tally(row, &smid, 0, false);
                self.push(Candidate {
                    smid,
                    journal_status: t.as_ref().map(|t| t.status),
                    ..on_row(Class::StatusMismatch, row, amount, journal_refund_view(&r))
                });
            }
            None => {
                self.tally(row, &smid, 0, false);
                self.push(Candidate {
                    smid,
                    journal_status: t.as_ref().map(|t| t.status),
                    ..on_row(
                        Class::BillOnly,
                        row,
                        amount,
                        t.as_ref().map_or(Value::Null, journal_trade_view),
                    )
                });
            }
        }
        Ok(())
    }

    /// The gateway fee (None when the journal cannot say) and the merchant
    /// fee a refund returns, replaying the trade's successful refunds in order.
    fn fee_returns(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        rates: FeeRates,
    ) -> Result<(Option<u64>, u64), StoreError> {
        let Some(t) = self.journal.trade(out_trade_no)? else {
            return Ok((None, 0));
        };
        let receipt = t.receipt_amount.unwrap_or(t.total_amount);
        let mut gw = TradeFees::new(receipt, rates.gateway);
        let mut mf = TradeFees::new(receipt, rates.merchant);
        for r in self.journal.refunds_of(out_trade_no)? {
            if r.status != RefundStatus::Success {
                continue;
            }
            let (g, m) = match (gw.refund(r.refund_amount), mf.refund(r.refund_amount)) {
                (Ok(g), Ok(m)) => (g, m),
                _ => return Ok((None, 0)),
            };
            if r.out_request_no == out_request_no {
                return Ok((Some(g.fen()), m.fen()));
            }
        }
        Ok((None, 0))
    }

    /// Ends the comparison: what the journal has and the bill did not, and
    /// the paid rows of not-paid trades that no reversal followed.
    pub fn finish(mut self) -> Comparison {
        let mut left: Vec<Candidate> = self.waiting.drain().map(|(_, c)| c).collect();
        for (no, b) in &self.book.trades {
            if b.seen {
                continue;
            }
            let (smid, _) = self.terminal_rates(b.terminal);
            left.push(Candidate {
                class: Class::JournalOnly,
                entry: Entry::Trade,
                out_trade_no: no.to_string(),
                trade_no: None,
                out_request_no: None,
                smid,
                switch: json!({"status": "SUCCESS", "total_amount": money(b.total)}),
                bill: Value::Null,
                journal_status: Some(Status::Success),
                amount_fen: b.total,
            });
        }
        for ((no, req), b) in &self.book.refunds {
            if b.seen {
                continue;
            }
            let (smid, _) = self.terminal_rates(b.terminal);
            left.push(Candidate {
                class: Class::JournalOnly,
                entry: Entry::Refund,
                out_trade_no: no.to_string(),
                trade_no: None,
                out_request_no: Some(req.to_string()),
                smid,
                switch: json!({"status": "SUCCESS", "refund_amount": money(b.amount)}),
                bill: Value::Null,
                journal_status: None,
                amount_fen: b.amount,
            });
        }
        left.sort_by_key(Candidate::key);
        self.out.candidates.extend(left);
        self.out
    }
}

/// A rate by basis points, capped at 100% (the rates of the registry are
/// checked at entry, so the cap is never expected to apply).
pub fn rate(bps: u32) -> FeeRate {
    FeeRate::new(bps.min(fees::MAX_BPS)).unwrap_or(FeeRate::ZERO)
}
