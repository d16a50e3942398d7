//! The trade methods of the simulated gateway, over the ledger: pay,
//! precreate, create, query, cancel, close, refund, fastpay.refund.query and
//! the bill download URL, with the real gateway's rules for repeated requests
//! (docs/PROTOCOL.md §7) and the magic values and profile draws that choose outcomes.
//! Submodules: [`indirect`] (ant.merchant.expand.indirect.*, and the
//! `sub_merchant.merchant_id` check of an indirect app's trades) and
//! [`heartbeat`] (monitor.heartbeat.syn).
//!
//! Guarantees: every change to a trade happens under its ledger shard lock, so
//! concurrent identical requests cannot take money twice; outcomes depend only
//! on the request, the ledger and the profile seed; notifications are queued
//! after the lock is released.

pub mod heartbeat;
pub mod indirect;

use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use protocol::codes::{pay_sub_code_doc, sub, PAY_SUB_CODES};
use protocol::method::ExtMethod;
use protocol::response::{
    serialize_node, BillUrlResponse, CancelResponse, CloseResponse, CreateResponse, FundBill,
    PayResponse, PrecreateResponse, QueryResponse, RefundQueryResponse, RefundResponse,
};
use protocol::{clock, Code, Method, Money, TradeStatus};
use rand::Rng;
use time::OffsetDateTime;

use crate::biz::{Biz, BizError};
use crate::ledger::{self, CancelledUnknown, PendingLanding, Refund, Trade, TradeKind};
use crate::profile::{fnv1a, rng_for, split_funds, CancelUnknown, FundChannel, LatePayAfterCancel};
use crate::state::Sim;

/// What happens to the connection besides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Executed; the connection is held past the client's time-out, then dropped.
    Hang,
    /// Not executed; the connection is reset before any answer.
    Reset,
}

/// The outcome of a method: the response node (compact JSON, `/` escaped) or a fault.
#[derive(Debug, Clone)]
pub struct MethodReply {
    /// The `<method>_response` node the front door signs (empty with a fault).
    pub node_json: String,
    /// What the connection does instead of answering, if anything.
    pub fault: Option<Fault>,
}

impl MethodReply {
    fn node(node_json: String) -> MethodReply {
        MethodReply {
            node_json,
            fault: None,
        }
    }
    fn fault(f: Fault) -> MethodReply {
        MethodReply {
            node_json: String::new(),
            fault: Some(f),
        }
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn gt(t: OffsetDateTime) -> String {
    clock::format_gateway_time(t)
}

fn sub_msg(code: &str) -> String {
    sub::sub_msg_zh(code).unwrap_or("业务处理失败").to_owned()
}

/// The `sub_msg` of an alipay.trade.pay answer: the description of
/// alipay.trade.pay's error table (docs/PROTOCOL.md §10) where the sub-code
/// is in it, else [`sub_msg`].
fn pay_sub_msg(code: &str) -> String {
    pay_sub_code_doc(code).map_or_else(|| sub_msg(code), |d| d.description.to_owned())
}

/// A 40004 node of response type `T` with extra fields set by `f`.
macro_rules! failed {
    ($ty:ident, $sub:expr) => {
        failed!($ty, $sub, sub_msg($sub), |_r: &mut $ty| {})
    };
    ($ty:ident, $sub:expr, $msg:expr) => {
        failed!($ty, $sub, $msg, |_r: &mut $ty| {})
    };
    ($ty:ident, $sub:expr, $msg:expr, $f:expr) => {{
        let mut r = $ty {
            code: Code::BusinessFailed.as_str().into(),
            msg: Code::BusinessFailed.msg().into(),
            sub_code: Some(String::from($sub)),
            sub_msg: Some($msg),
            ..Default::default()
        };
        #[allow(clippy::redundant_closure_call)]
        ($f)(&mut r);
        MethodReply::node(serialize_node(&r))
    }};
}

fn biz_failed(e: BizError) -> MethodReply {
    // All response types share the status fields; QueryResponse has the widest shape
    // but a plain status node is what the gateway answers for a bad parameter.
    let node = protocol::response::GatewayStatus {
        code: Code::BusinessFailed.as_str().into(),
        msg: Code::BusinessFailed.msg().into(),
        sub_code: Some(e.sub_code.into()),
        sub_msg: Some(e.sub_msg),
    };
    MethodReply::node(serialize_node(&node))
}

fn unknown_error_node() -> String {
    serialize_node(&protocol::response::GatewayStatus {
        code: Code::ServiceUnavailable.as_str().into(),
        msg: Code::ServiceUnavailable.msg().into(),
        sub_code: Some(sub::ISP_UNKNOW_ERROR.into()),
        sub_msg: Some(sub_msg(sub::ISP_UNKNOW_ERROR)),
    })
}

/// `fund_bill_list` entries of (tool, fen) parts.
fn fund_bill_list(parts: &[(FundChannel, u64)]) -> Vec<FundBill> {
    parts
        .iter()
        .map(|(c, fen)| FundBill {
            fund_channel: c.as_str().into(),
            amount: Money::from_fen(*fen),
            real_amount: None,
            fund_type: None,
        })
        .collect()
}

fn fund_bills(t: &Trade) -> Vec<FundBill> {
    fund_bill_list(&t.fund_parts())
}

/// Takes the buyer's money ([`Trade::mark_paid`]): fixes the payment's
/// funding tools from the profile's `behaviour.fund_mix` and books it in the
/// income of the trade's (app, smid) for the current gateway day. Called
/// under the trade's shard lock. Returns whether money was taken.
fn take_money(sim: &Sim, t: &mut Trade, at: OffsetDateTime) -> bool {
    if !t.mark_paid(at) {
        return false;
    }
    let mix = &sim.profile().behaviour.fund_mix;
    if !mix.is_empty() {
        t.funds = split_funds(mix, t.total.fen());
    }
    sim.ledger.credit_income(
        &t.app_id,
        t.sub_merchant_id.as_deref(),
        sim.gateway_day(),
        t.paid_amount().fen(),
    );
    true
}

/// The alipay.trade.refund answer node: the SDK's RefundResponse with the
/// funding tools of this refund (`refund_detail_item_list`, docs/PROTOCOL.md §9.6).
#[derive(Debug, serde::Serialize)]
struct RefundNode {
    #[serde(flatten)]
    base: RefundResponse,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    refund_detail_item_list: Vec<FundBill>,
    /// The same tools under the name the pay answer uses (the issue's
    /// wording; the real gateway's refund answer has only
    /// `refund_detail_item_list`). SDKs ignore it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fund_bill_list: Vec<FundBill>,
}

/// The alipay.trade.fastpay.refund.query answer node, with the refund's tools.
#[derive(Debug, serde::Serialize)]
struct RefundQueryNode {
    #[serde(flatten)]
    base: RefundQueryResponse,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    refund_detail_item_list: Vec<FundBill>,
}

fn zero() -> Option<Money> {
    Some(Money::ZERO)
}

/// The scenario of a new alipay.trade.pay.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PayScenario {
    Success,
    /// Paid and booked, but the 10000 answer disagrees with the request (9004, 9005).
    Tampered(AnswerFault),
    Password {
        paid: bool,
    },
    Unknown {
        paid: bool,
    },
    Failed {
        sub_code: String,
        books: FailedBooks,
    },
    Hang,
    /// 9003: held like a hang, booked `late_landing` after the drop.
    LateLanding,
    /// The out_trade_no was cancelled while unbooked and the profile (or a
    /// `close_and_block` cancel) refuses later pays: ACQ.TRADE_HAS_CLOSE.
    RefusedAfterCancel,
    Reset,
}

/// What a 40004 answer to a new pay leaves in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailedBooks {
    /// No trade (the pay failed before a trade existed).
    Nothing,
    /// A TRADE_CLOSED trade, no money taken.
    Closed,
    /// A TRADE_SUCCESS trade (ACQ.TRADE_HAS_SUCCESS: an earlier attempt paid).
    Paid,
}

/// How a 10000 answer to a pay is made to disagree with its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerFault {
    /// 9004: `total_amount` 0.01 more than requested.
    AmountOffByOneFen,
    /// 9005: `out_trade_no` with "X" appended.
    OutTradeNoSuffixed,
}

/// The magic value `41NN` (NN = 01..37): the NN-th sub-code of
/// alipay.trade.pay's error table (docs/PROTOCOL.md §10).
fn magic_sub_code(last4: &str) -> Option<PayScenario> {
    let nn: usize = last4.strip_prefix("41")?.parse().ok()?;
    let doc = PAY_SUB_CODES.get(nn.checked_sub(1)?)?;
    let books = match doc.sub_code {
        sub::ACQ_TRADE_HAS_SUCCESS => FailedBooks::Paid,
        sub::ACQ_TRADE_HAS_CLOSE => FailedBooks::Closed,
        _ => FailedBooks::Nothing,
    };
    Some(PayScenario::Failed {
        sub_code: doc.sub_code.to_owned(),
        books,
    })
}

/// What a sub-code drawn from the profile's `pay.business_failed_sub_codes` books.
fn profile_failed_books(sub_code: &str) -> FailedBooks {
    match sub_code {
        sub::ACQ_TRADE_HAS_SUCCESS => FailedBooks::Paid,
        sub::ACQ_PAYMENT_AUTH_CODE_INVALID | sub::ACQ_SYSTEM_ERROR => FailedBooks::Nothing,
        _ => FailedBooks::Closed,
    }
}

/// Whether a pay (or a 9003 landing) for ledger key `k` is refused because
/// the out_trade_no was cancelled while unbooked. Reads only.
fn refused_after_cancel(sim: &Sim, k: &str) -> bool {
    sim.ledger.cancelled_unknown.get(k).is_some_and(|c| {
        c.block || sim.profile().behaviour.late_pay_after_cancel == LatePayAfterCancel::Refused
    })
}

fn decide_pay(sim: &Sim, last4: &str, total: Money, out_trade_no: &str) -> PayScenario {
    match last4 {
        "1003" => return PayScenario::Password { paid: true },
        "1004" => return PayScenario::Password { paid: false },
        "2000" => return PayScenario::Unknown { paid: true },
        "2001" => return PayScenario::Unknown { paid: false },
        "4004" => {
            return PayScenario::Failed {
                sub_code: sub::ACQ_PAYMENT_AUTH_CODE_INVALID.into(),
                books: FailedBooks::Nothing,
            }
        }
        "4005" => {
            return PayScenario::Failed {
                sub_code: sub::ACQ_BUYER_BALANCE_NOT_ENOUGH.into(),
                books: FailedBooks::Closed,
            }
        }
        "9001" => return PayScenario::Hang,
        "9002" => return PayScenario::Reset,
        "9003" => return PayScenario::LateLanding,
        "9004" => return PayScenario::Tampered(AnswerFault::AmountOffByOneFen),
        "9005" => return PayScenario::Tampered(AnswerFault::OutTradeNoSuffixed),
        _ => {}
    }
    if let Some(s) = magic_sub_code(last4) {
        return s;
    }
    if total >= Money::from_fen(100_000) {
        return PayScenario::Password { paid: true };
    }
    let p = sim.profile();
    let (f, s) = (&p.faults, &p.pay);
    if f.hang == 0.0
        && f.reset == 0.0
        && s.wait_password == 0.0
        && s.unknown_error == 0.0
        && s.business_failed == 0.0
    {
        return PayScenario::Success;
    }
    if f.hang > 0.0 || f.reset > 0.0 {
        // Transport faults are drawn per attempt (a retried pay after a reset
        // may get through); the business outcome below is drawn once per trade.
        let call = sim.next_call(out_trade_no, Method::TradePay.as_str());
        let mut frng = rng_for(p.seed, out_trade_no, "alipay.trade.pay/fault", call);
        let u: f64 = frng.gen();
        if u < f.hang {
            return PayScenario::Hang;
        }
        if u < f.hang + f.reset {
            return PayScenario::Reset;
        }
    }
    let mut rng = rng_for(p.seed, out_trade_no, Method::TradePay.as_str(), 0);
    let v: f64 = rng.gen();
    let w: f64 = rng.gen();
    if v < s.wait_password {
        return PayScenario::Password {
            paid: w < s.wait_password_paid,
        };
    }
    if v < s.wait_password + s.unknown_error {
        return PayScenario::Unknown {
            paid: w < s.unknown_error_paid,
        };
    }
    if v < s.wait_password + s.unknown_error + s.business_failed {
        let codes = &s.business_failed_sub_codes;
        let sub_code = if codes.is_empty() {
            sub::ACQ_BUYER_BALANCE_NOT_ENOUGH.to_owned()
        } else {
            codes[rng.gen_range(0..codes.len())].clone()
        };
        let books = profile_failed_books(&sub_code);
        return PayScenario::Failed { sub_code, books };
    }
    PayScenario::Success
}

/// The fields of a new trade.
struct NewTrade<'a> {
    app_id: &'a str,
    out_trade_no: &'a str,
    kind: TradeKind,
    total: Money,
    subject: String,
    body: Option<String>,
    store_id: Option<String>,
    terminal_id: Option<String>,
    operator_id: Option<String>,
    sub_merchant_id: Option<String>,
    timeout_minutes: Option<u32>,
    notify_url: Option<&'a str>,
}

fn new_trade(sim: &Sim, n: NewTrade<'_>, at: OffsetDateTime) -> Trade {
    let serial = sim.ledger.next_serial();
    let timeout = match n.timeout_minutes {
        Some(m) => time::Duration::minutes(i64::from(m)),
        None => time::Duration::try_from(sim.cfg.default_trade_timeout)
            .unwrap_or(time::Duration::hours(2)),
    };
    Trade {
        serial,
        app_id: n.app_id.to_owned(),
        out_trade_no: n.out_trade_no.to_owned(),
        trade_no: ledger::trade_no(at, n.out_trade_no, serial),
        kind: n.kind,
        status: TradeStatus::WaitBuyerPay,
        total: n.total,
        subject: n.subject,
        body: n.body,
        store_id: n.store_id,
        terminal_id: n.terminal_id,
        operator_id: n.operator_id,
        sub_merchant_id: n.sub_merchant_id,
        auth_code_hash: None,
        buyer_user_id: None,
        buyer_logon_id: None,
        created_at: at,
        paid_at: None,
        closed_at: None,
        expires_at: at.checked_add(timeout).unwrap_or(at),
        refunds: Vec::new(),
        refunded: Money::ZERO,
        history: vec![(TradeStatus::WaitBuyerPay, at)],
        pay_count: 0,
        notify_url: n.notify_url.map(str::to_owned),
        qr_code: None,
        cancel_action: None,
        visible: true,
        landed_late: false,
        funds: Vec::new(),
    }
}

fn pay_node(t: &Trade) -> PayResponse {
    let paid = t.pay_count > 0;
    PayResponse {
        code: Code::Success.as_str().into(),
        msg: Code::Success.msg().into(),
        trade_no: Some(t.trade_no.clone()),
        out_trade_no: Some(t.out_trade_no.clone()),
        buyer_logon_id: t.buyer_logon_id.clone(),
        buyer_user_id: t.buyer_user_id.clone(),
        total_amount: Some(t.total),
        receipt_amount: Some(t.paid_amount()),
        buyer_pay_amount: Some(t.paid_amount()),
        point_amount: zero(),
        invoice_amount: Some(t.paid_amount()),
        gmt_payment: t.paid_at.map(gt),
        fund_bill_list: paid.then(|| fund_bills(t)),
        store_name: t.store_id.as_ref().map(|s| format!("门店{s}")),
        ..Default::default()
    }
}

/// A 10000 pay answer made to disagree with the request (the ledger stays truthful).
fn tampered_pay_node(t: &Trade, f: AnswerFault) -> String {
    let mut r = pay_node(t);
    match f {
        AnswerFault::AmountOffByOneFen => {
            r.total_amount = Some(t.total.checked_add(Money::from_fen(1)).unwrap_or(t.total));
        }
        AnswerFault::OutTradeNoSuffixed => r.out_trade_no = Some(format!("{}X", t.out_trade_no)),
    }
    serialize_node(&r)
}

/// A 40004 answer to a pay: the sub_msg of docs/PROTOCOL.md §10, zero
/// amounts, the out_trade_no and (when a trade was booked) its trade_no and
/// buyer.
fn pay_failed(sub_code: &str, out: &str, booked: Option<&Trade>) -> MethodReply {
    let (tn, bl) = booked.map_or((None, None), |t| {
        (Some(t.trade_no.clone()), t.buyer_logon_id.clone())
    });
    failed!(
        PayResponse,
        sub_code,
        pay_sub_msg(sub_code),
        |r: &mut PayResponse| {
            r.out_trade_no = Some(out.to_owned());
            r.trade_no = tn;
            r.buyer_logon_id = bl;
            r.buyer_pay_amount = zero();
            r.invoice_amount = zero();
            r.point_amount = zero();
            r.receipt_amount = zero();
        }
    )
}

fn pay_in_process_node(t: &Trade) -> String {
    let mut r = pay_node(t);
    r.code = Code::PayInProcess.as_str().into();
    r.msg = Code::PayInProcess.msg().into();
    r.gmt_payment = None;
    r.fund_bill_list = None;
    r.store_name = None;
    serialize_node(&r)
}

/// Trades whose status changed, for the notifier (sent after the lock is released).
type Changed = Vec<Trade>;

/// alipay.trade.pay: the barcode payment. A new out_trade_no gets the
/// outcome its auth code's magic value or the profile draws (success, 10003
/// with a password payment later, 20000, 40004, a hang, a reset, a 9003
/// late landing); a repeat of a known one answers from the ledger (10003
/// again while waiting, `ACQ.TRADE_HAS_SUCCESS`, `ACQ.TRADE_HAS_CLOSE`,
/// `ACQ.CONTEXT_INCONSISTENT` when the amount, subject or kind differ,
/// `ACQ.TRADE_BUYER_NOT_MATCH` for another auth code) and never takes money
/// twice.
pub fn pay(sim: &Arc<Sim>, app_id: &str, notify_url: Option<&str>, biz: &Biz) -> MethodReply {
    let parsed = (|| -> Result<_, BizError> {
        let out = biz.out_trade_no()?;
        biz.scene()?;
        let auth = biz.auth_code()?;
        let subject = biz.subject()?;
        let total = biz.amount("total_amount")?;
        let smid = indirect::sub_merchant_id(biz)?;
        indirect::check_trade(sim, app_id, smid.as_deref())?;
        Ok((out, auth, subject, total, smid))
    })();
    let (out, auth, subject, total, sub_merchant_id) = match parsed {
        Ok(v) => v,
        Err(e) => {
            let out = biz.opt("out_trade_no").ok().flatten();
            // A field-naming ACQ.INVALID_PARAMETER keeps its own message; the
            // other sub-codes of the pay table carry their description in
            // docs/PROTOCOL.md §10.
            let msg = match pay_sub_code_doc(e.sub_code) {
                Some(d) if e.sub_code != sub::ACQ_INVALID_PARAMETER => d.description.to_owned(),
                _ => e.sub_msg,
            };
            return failed!(PayResponse, e.sub_code, msg, |r: &mut PayResponse| {
                r.out_trade_no = out;
                r.buyer_pay_amount = zero();
                r.invoice_amount = zero();
                r.point_amount = zero();
                r.receipt_amount = zero();
            });
        }
    };
    let extra = (|| -> Result<_, BizError> {
        Ok((
            biz.store_id()?,
            biz.terminal_id()?,
            biz.text("operator_id", 28)?,
            biz.timeout_minutes()?,
            biz.text("body", 128)?,
        ))
    })();
    let (store_id, terminal_id, operator_id, timeout_minutes, body) = match extra {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    let auth_hash = fnv1a(&[auth.as_str().as_bytes()]);
    let k = ledger::key(app_id, &out);
    let at = now();
    let mut changed: Changed = Vec::new();
    let mut schedule_password = None;
    let reply = match sim.ledger.trades.entry(k.clone()) {
        Entry::Occupied(mut o) => {
            let t = o.get_mut();
            if t.expire_if_due(at) {
                changed.push(t.clone());
            }
            let fail = |c: &str| failed!(PayResponse, c, pay_sub_msg(c));
            if t.kind != TradeKind::Pay || t.total != total || t.subject != subject {
                fail(sub::ACQ_CONTEXT_INCONSISTENT)
            } else {
                match t.status {
                    TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                        fail(sub::ACQ_TRADE_HAS_SUCCESS)
                    }
                    TradeStatus::TradeClosed => fail(sub::ACQ_TRADE_HAS_CLOSE),
                    TradeStatus::WaitBuyerPay => {
                        if t.auth_code_hash.is_some_and(|h| h != auth_hash) {
                            fail(sub::ACQ_TRADE_BUYER_NOT_MATCH)
                        } else {
                            // The buyer is still entering the password: same answer again.
                            MethodReply::node(pay_in_process_node(t))
                        }
                    }
                }
            }
        }
        Entry::Vacant(v) => {
            // Decision first (reads only), then its effects.
            let scenario = if refused_after_cancel(sim, &k) {
                PayScenario::RefusedAfterCancel
            } else {
                decide_pay(sim, auth.last4(), total, &out)
            };
            match &scenario {
                PayScenario::Reset => return MethodReply::fault(Fault::Reset),
                PayScenario::Unknown { paid: false } => {
                    return MethodReply::node(unknown_error_node())
                }
                PayScenario::RefusedAfterCancel => {
                    if let Some(mut c) = sim.ledger.cancelled_unknown.get_mut(&k) {
                        c.refused_pays += 1;
                    }
                    return pay_failed(sub::ACQ_TRADE_HAS_CLOSE, &out, None);
                }
                PayScenario::Failed {
                    sub_code,
                    books: FailedBooks::Nothing,
                } => return pay_failed(sub_code, &out, None),
                _ => {}
            }
            let mut t = new_trade(
                sim,
                NewTrade {
                    app_id,
                    out_trade_no: &out,
                    kind: TradeKind::Pay,
                    total,
                    subject,
                    body,
                    store_id,
                    terminal_id,
                    operator_id,
                    sub_merchant_id,
                    timeout_minutes,
                    notify_url,
                },
                at,
            );
            t.auth_code_hash = Some(auth_hash);
            let (bid, logon) = ledger::buyer_from(auth.as_str());
            t.buyer_user_id = Some(bid);
            t.buyer_logon_id = Some(logon);
            let reply = match scenario {
                PayScenario::LateLanding => {
                    // Not booked now: the trade lands after the dropped connection.
                    let wait = sim.cfg.client_timeout_hint + sim.cfg.late_landing;
                    let lands_at = at + time::Duration::try_from(wait).unwrap_or_default();
                    let serial = t.serial;
                    sim.ledger
                        .pending_late
                        .insert(serial, PendingLanding { trade: t, lands_at });
                    drop(v);
                    spawn_late_landing(sim, serial, wait);
                    return MethodReply::fault(Fault::Hang);
                }
                PayScenario::Success
                | PayScenario::Hang
                | PayScenario::Unknown { .. }
                | PayScenario::Tampered(_) => {
                    take_money(sim, &mut t, at);
                    changed.push(t.clone());
                    match scenario {
                        PayScenario::Hang => MethodReply::fault(Fault::Hang),
                        PayScenario::Unknown { .. } => MethodReply::node(unknown_error_node()),
                        PayScenario::Tampered(f) => MethodReply::node(tampered_pay_node(&t, f)),
                        _ => MethodReply::node(serialize_node(&pay_node(&t))),
                    }
                }
                PayScenario::Password { paid } => {
                    if paid {
                        schedule_password = Some(t.serial);
                    }
                    MethodReply::node(pay_in_process_node(&t))
                }
                PayScenario::Failed { sub_code, books } => {
                    if books == FailedBooks::Paid {
                        take_money(sim, &mut t, at);
                    } else {
                        t.set_status(TradeStatus::TradeClosed, at);
                    }
                    changed.push(t.clone());
                    pay_failed(&sub_code, &out, Some(&t))
                }
                PayScenario::Reset | PayScenario::RefusedAfterCancel => {
                    unreachable!("answered above")
                }
            };
            sim.ledger.index(&k, &t);
            v.insert(t);
            reply
        }
    };
    after_change(sim, changed);
    if let Some(serial) = schedule_password {
        spawn_password_payment(sim, k, serial);
    }
    reply
}

/// Magic 9003: the payment lands `wait` (the hold plus `late_landing`) after receipt.
fn spawn_late_landing(sim: &Arc<Sim>, serial: u64, wait: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        if sim.sleep_until(deadline).await {
            land_late(&sim, serial);
        }
    });
}

/// Books the pending 9003 payment `serial` now, as TRADE_SUCCESS, unless a
/// reset forgot it, a retried pay booked the out_trade_no first (money is
/// taken once), or a cancel of the unbooked out_trade_no refuses it.
/// Returns whether it booked.
pub fn land_late(sim: &Sim, serial: u64) -> bool {
    let Some((_, pending)) = sim.ledger.pending_late.remove(&serial) else {
        return false;
    };
    let mut t = pending.trade;
    let k = ledger::key(&t.app_id, &t.out_trade_no);
    let at = now();
    let mut changed = Vec::new();
    match sim.ledger.trades.entry(k.clone()) {
        Entry::Occupied(_) => {}
        Entry::Vacant(v) => {
            if refused_after_cancel(sim, &k) {
                if let Some(mut c) = sim.ledger.cancelled_unknown.get_mut(&k) {
                    c.blocked_landings += 1;
                }
            } else {
                take_money(sim, &mut t, at);
                t.landed_late = true;
                changed.push(t.clone());
                sim.ledger.index(&k, &t);
                v.insert(t);
            }
        }
    }
    let booked = !changed.is_empty();
    after_change(sim, changed);
    booked
}

/// The buyer enters the password after the (scaled) delay.
fn spawn_password_payment(sim: &Arc<Sim>, k: String, serial: u64) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let delay = sim.cfg.scaled(sim.cfg.password_delay);
        if !sim.sleep(delay).await {
            return;
        }
        let _ = buyer_pays(&sim, &k, Some(serial));
    });
}

/// The buyer pays the trade at key `k` now (password entered, QR scanned).
/// `serial` guards against a trade replaced by a reset. Returns whether money was taken.
pub fn buyer_pays(sim: &Sim, k: &str, serial: Option<u64>) -> bool {
    let at = now();
    let mut changed = Vec::new();
    let paid = match sim.ledger.trades.get_mut(k) {
        None => false,
        Some(mut t) => {
            if serial.is_some_and(|s| s != t.serial) {
                false
            } else {
                if t.expire_if_due(at) {
                    changed.push(t.clone());
                }
                if t.buyer_user_id.is_none() {
                    let (bid, logon) = ledger::buyer_from(&t.out_trade_no);
                    t.buyer_user_id = Some(bid);
                    t.buyer_logon_id = Some(logon);
                }
                t.visible = true;
                let ok = take_money(sim, &mut t, at);
                if ok {
                    changed.push(t.clone());
                }
                ok
            }
        }
    };
    after_change(sim, changed);
    paid
}

fn after_change(sim: &Sim, changed: Changed) {
    for t in changed {
        sim.notifier.trade_changed(sim, &t);
    }
}

fn qr_code(out_trade_no: &str, serial: u64) -> String {
    const ALPHA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut h = fnv1a(&[out_trade_no.as_bytes(), &serial.to_le_bytes()]);
    let mut s = String::from("https://qr.alipay.com/bax0");
    for _ in 0..20 {
        s.push(ALPHA[(h % 36) as usize] as char);
        h = (h / 36) ^ h.rotate_left(13);
    }
    s
}

/// alipay.trade.precreate (a QR code to scan) and alipay.trade.create (a
/// JSAPI trade for `buyer_id` / `buyer_open_id`), chosen by `method`: books a
/// WAIT_BUYER_PAY trade, paid later by the buyer (`POST
/// /_sim/trades/{no}/buyer-pay`). A repeat with the same amount and subject
/// answers the same trade while it waits.
pub fn precreate(
    sim: &Arc<Sim>,
    method: Method,
    app_id: &str,
    notify_url: Option<&str>,
    biz: &Biz,
) -> MethodReply {
    let is_create = method == Method::TradeCreate;
    let parsed = (|| -> Result<_, BizError> {
        let out = biz.out_trade_no()?;
        let total = biz.amount("total_amount")?;
        let subject = biz.subject()?;
        let buyer = if is_create {
            match biz.opt("buyer_id")? {
                Some(b) => Some(b),
                None => Some(biz.opt("buyer_open_id")?.ok_or_else(|| BizError {
                    sub_code: sub::ACQ_INVALID_PARAMETER,
                    sub_msg: "缺少必选参数buyer_id".into(),
                })?),
            }
        } else {
            None
        };
        let smid = indirect::sub_merchant_id(biz)?;
        indirect::check_trade(sim, app_id, smid.as_deref())?;
        Ok((
            out,
            total,
            subject,
            buyer,
            smid,
            biz.store_id()?,
            biz.terminal_id()?,
            biz.text("operator_id", 28)?,
            biz.timeout_minutes()?,
            biz.text("body", 128)?,
        ))
    })();
    let (
        out,
        total,
        subject,
        buyer,
        sub_merchant_id,
        store_id,
        terminal_id,
        operator_id,
        timeout_minutes,
        body,
    ) = match parsed {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    let kind = if is_create {
        TradeKind::Create
    } else {
        TradeKind::Precreate
    };
    let k = ledger::key(app_id, &out);
    let at = now();
    let mut changed = Vec::new();
    let success = |t: &Trade| -> MethodReply {
        if is_create {
            MethodReply::node(serialize_node(&CreateResponse {
                code: Code::Success.as_str().into(),
                msg: Code::Success.msg().into(),
                out_trade_no: Some(t.out_trade_no.clone()),
                trade_no: Some(t.trade_no.clone()),
                ..Default::default()
            }))
        } else {
            MethodReply::node(serialize_node(&PrecreateResponse {
                code: Code::Success.as_str().into(),
                msg: Code::Success.msg().into(),
                out_trade_no: Some(t.out_trade_no.clone()),
                qr_code: t.qr_code.clone(),
                ..Default::default()
            }))
        }
    };
    let reply = match sim.ledger.trades.entry(k.clone()) {
        Entry::Occupied(mut o) => {
            let t = o.get_mut();
            if t.expire_if_due(at) {
                changed.push(t.clone());
            }
            if t.kind != kind || t.total != total || t.subject != subject {
                failed!(PrecreateResponse, sub::ACQ_CONTEXT_INCONSISTENT)
            } else {
                match t.status {
                    TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                        failed!(PrecreateResponse, sub::ACQ_TRADE_HAS_SUCCESS)
                    }
                    TradeStatus::TradeClosed => {
                        failed!(PrecreateResponse, sub::ACQ_TRADE_HAS_CLOSE)
                    }
                    TradeStatus::WaitBuyerPay => success(t),
                }
            }
        }
        Entry::Vacant(v) => {
            let mut t = new_trade(
                sim,
                NewTrade {
                    app_id,
                    out_trade_no: &out,
                    kind,
                    total,
                    subject,
                    body,
                    store_id,
                    terminal_id,
                    operator_id,
                    sub_merchant_id,
                    timeout_minutes,
                    notify_url,
                },
                at,
            );
            if let Some(b) = buyer {
                let (_, logon) = ledger::buyer_from(&b);
                t.buyer_user_id = Some(b);
                t.buyer_logon_id = Some(logon);
            } else {
                t.qr_code = Some(qr_code(&out, t.serial));
                t.visible = !sim.profile().behaviour.precreate_hidden_until_scan;
            }
            let reply = success(&t);
            sim.ledger.index(&k, &t);
            v.insert(t);
            reply
        }
    };
    after_change(sim, changed);
    reply
}

fn not_exist_query(out: Option<String>) -> MethodReply {
    failed!(
        QueryResponse,
        sub::ACQ_TRADE_NOT_EXIST,
        sub_msg(sub::ACQ_TRADE_NOT_EXIST),
        |r: &mut QueryResponse| {
            r.out_trade_no = out;
            r.buyer_pay_amount = zero();
            r.invoice_amount = zero();
            r.point_amount = zero();
            r.receipt_amount = zero();
        }
    )
}

fn query_node(t: &Trade) -> QueryResponse {
    let paid = t.pay_count > 0;
    QueryResponse {
        code: Code::Success.as_str().into(),
        msg: Code::Success.msg().into(),
        trade_no: Some(t.trade_no.clone()),
        out_trade_no: Some(t.out_trade_no.clone()),
        buyer_logon_id: t.buyer_logon_id.clone(),
        trade_status: Some(t.status.as_str().into()),
        total_amount: Some(t.total),
        receipt_amount: Some(t.paid_amount()),
        buyer_pay_amount: Some(t.paid_amount()),
        point_amount: zero(),
        invoice_amount: Some(t.paid_amount()),
        send_pay_date: t.paid_at.map(gt),
        store_id: t.store_id.clone(),
        terminal_id: t.terminal_id.clone(),
        fund_bill_list: paid.then(|| fund_bills(t)),
        buyer_user_id: t.buyer_user_id.clone(),
        ..Default::default()
    }
}

/// Runs `f` on the trade a request names (after closing it if its time-out
/// passed, or finishing it if its refund window passed).
fn with_trade<R>(
    sim: &Sim,
    app_id: &str,
    otn: Option<&str>,
    tn: Option<&str>,
    f: impl FnOnce(&mut Trade, OffsetDateTime, &mut Changed) -> R,
) -> Option<R> {
    let k = sim.ledger.resolve(app_id, otn, tn)?;
    let at = now();
    let mut changed = Vec::new();
    let r = {
        let mut t = sim.ledger.trades.get_mut(&k)?;
        if t.expire_if_due(at) {
            changed.push(t.clone());
        }
        if t.finish_if_due(sim.gateway_now(), sim.cfg.refund_window()) {
            changed.push(t.clone());
        }
        t.visible.then(|| f(&mut t, at, &mut changed))
    };
    after_change(sim, changed);
    r
}

/// alipay.trade.query: the trade as the ledger holds it (closed first when
/// its time-out passed, finished when its refund window did), or 40004
/// `ACQ.TRADE_NOT_EXIST`.
pub fn query(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let (otn, tn) = match biz.trade_ref() {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    with_trade(sim, app_id, otn.as_deref(), tn.as_deref(), |t, _, _| {
        MethodReply::node(serialize_node(&query_node(t)))
    })
    .unwrap_or_else(|| not_exist_query(otn))
}

/// alipay.trade.cancel: closes an unpaid trade, refunds a paid one; only
/// within 24 hours of its creation. An out_trade_no the gateway has not
/// booked is answered as the profile's `behaviour.cancel_unknown` says.
pub fn cancel(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let (otn, tn) = match biz.trade_ref() {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    let (otn, tn) = (otn.as_deref(), tn.as_deref());
    // A trade booked between the two looks is cancelled as a known one.
    for _ in 0..3 {
        if let Some(r) = cancel_known(sim, app_id, otn, tn) {
            return r;
        }
        if let Some(r) = cancel_unknown(sim, app_id, otn, tn) {
            return r;
        }
    }
    cancel_unknown_node(sim.profile().behaviour.cancel_unknown, otn)
}

/// The cancel of a trade the gateway shows; `None` when it shows none.
fn cancel_known(
    sim: &Sim,
    app_id: &str,
    otn: Option<&str>,
    tn: Option<&str>,
) -> Option<MethodReply> {
    let ok = |t: &Trade, action: &'static str| {
        let gmt_refund_pay = (action == "refund")
            .then(|| t.refunds.last().map(|r| gt(r.at)))
            .flatten();
        MethodReply::node(serialize_node(&CancelResponse {
            code: Code::Success.as_str().into(),
            msg: Code::Success.msg().into(),
            trade_no: Some(t.trade_no.clone()),
            out_trade_no: Some(t.out_trade_no.clone()),
            retry_flag: Some("N".into()),
            action: Some(action.into()),
            gmt_refund_pay,
            ..Default::default()
        }))
    };
    let fail = |sub_code: &str, t: &Trade| {
        let (tn, otn) = (t.trade_no.clone(), t.out_trade_no.clone());
        failed!(
            CancelResponse,
            sub_code,
            sub_msg(sub_code),
            |r: &mut CancelResponse| {
                r.trade_no = Some(tn);
                r.out_trade_no = Some(otn);
                r.retry_flag = Some("N".into());
            }
        )
    };
    with_trade(sim, app_id, otn, tn, |t, at, changed| {
        if let Some(action) = t.cancel_action {
            return ok(t, action);
        }
        if at - t.created_at > time::Duration::hours(24) {
            return fail(sub::ACQ_TRADE_CANCEL_TIME_OUT, t);
        }
        match t.status {
            TradeStatus::WaitBuyerPay => {
                t.set_status(TradeStatus::TradeClosed, at);
                t.cancel_action = Some("close");
                changed.push(t.clone());
                ok(t, "close")
            }
            TradeStatus::TradeSuccess => {
                if !t.refunded.is_zero() {
                    return fail(sub::ACQ_REASON_TRADE_REFUND_FEE_ERR, t);
                }
                // The same day's payment undone: not subject to the income
                // check, but it takes from the day's income.
                let _ = sim.ledger.debit_income(
                    &t.app_id,
                    t.sub_merchant_id.as_deref(),
                    sim.gateway_day(),
                    t.total.fen(),
                    false,
                );
                t.refunds.push(Refund {
                    out_request_no: t.out_trade_no.clone(),
                    amount: t.total,
                    reason: Some("cancel".into()),
                    at,
                    store_id: None,
                    terminal_id: None,
                    operator_id: None,
                });
                t.refunded = t.total;
                t.set_status(TradeStatus::TradeClosed, at);
                t.cancel_action = Some("refund");
                changed.push(t.clone());
                ok(t, "refund")
            }
            TradeStatus::TradeClosed => {
                if t.pay_count == 0 {
                    ok(t, "close")
                } else {
                    fail(sub::ACQ_REASON_TRADE_REFUND_FEE_ERR, t)
                }
            }
            TradeStatus::TradeFinished => fail(sub::ACQ_TRADE_HAS_FINISHED, t),
        }
    })
}

/// The cancel of a trade the gateway does not show: answered as the profile's
/// `behaviour.cancel_unknown` says. An out_trade_no (without trade_no) not
/// booked is remembered, under the trade's shard lock, for
/// `behaviour.late_pay_after_cancel`. `None` when the trade was booked
/// meanwhile (the caller cancels it as a known one).
fn cancel_unknown(
    sim: &Sim,
    app_id: &str,
    otn: Option<&str>,
    tn: Option<&str>,
) -> Option<MethodReply> {
    let answer = sim.profile().behaviour.cancel_unknown;
    let (Some(out), None) = (otn, tn) else {
        return Some(cancel_unknown_node(answer, otn));
    };
    let k = ledger::key(app_id, out);
    match sim.ledger.trades.entry(k.clone()) {
        Entry::Occupied(o) => {
            if o.get().visible {
                return None;
            }
            // A precreated QR not scanned yet (hidden): answered, not remembered.
        }
        Entry::Vacant(_v) => {
            let block = answer == CancelUnknown::CloseAndBlock;
            sim.ledger
                .cancelled_unknown
                .entry(k)
                .and_modify(|c| c.block |= block)
                .or_insert_with(|| CancelledUnknown {
                    app_id: app_id.to_owned(),
                    out_trade_no: out.to_owned(),
                    at: now(),
                    block,
                    refused_pays: 0,
                    blocked_landings: 0,
                });
        }
    }
    Some(cancel_unknown_node(answer, otn))
}

fn cancel_unknown_node(answer: CancelUnknown, otn: Option<&str>) -> MethodReply {
    let otn = otn.map(str::to_owned);
    match answer {
        CancelUnknown::Success | CancelUnknown::CloseAndBlock => {
            MethodReply::node(serialize_node(&CancelResponse {
                code: Code::Success.as_str().into(),
                msg: Code::Success.msg().into(),
                out_trade_no: otn,
                retry_flag: Some("N".into()),
                ..Default::default()
            }))
        }
        CancelUnknown::TradeNotExist => failed!(
            CancelResponse,
            sub::ACQ_TRADE_NOT_EXIST,
            sub_msg(sub::ACQ_TRADE_NOT_EXIST),
            |r: &mut CancelResponse| {
                r.out_trade_no = otn;
                r.retry_flag = Some("N".into());
            }
        ),
    }
}

/// alipay.trade.close: only a WAIT_BUYER_PAY trade.
pub fn close(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let (otn, tn) = match biz.trade_ref() {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    with_trade(
        sim,
        app_id,
        otn.as_deref(),
        tn.as_deref(),
        |t, at, changed| {
            if t.status != TradeStatus::WaitBuyerPay {
                return failed!(CloseResponse, sub::ACQ_TRADE_STATUS_ERROR);
            }
            t.set_status(TradeStatus::TradeClosed, at);
            changed.push(t.clone());
            MethodReply::node(serialize_node(&CloseResponse {
                code: Code::Success.as_str().into(),
                msg: Code::Success.msg().into(),
                trade_no: Some(t.trade_no.clone()),
                out_trade_no: Some(t.out_trade_no.clone()),
                ..Default::default()
            }))
        },
    )
    .unwrap_or_else(|| failed!(CloseResponse, sub::ACQ_TRADE_NOT_EXIST))
}

/// alipay.trade.refund: partial or full, idempotent by out_request_no.
pub fn refund(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let parsed = (|| -> Result<_, BizError> {
        let r = biz.trade_ref()?;
        let amount = biz.amount("refund_amount")?;
        let orn = biz.out_request_no()?;
        let reason = biz.text("refund_reason", 256)?;
        let place = (
            biz.store_id()?,
            biz.terminal_id()?,
            biz.text("operator_id", 28)?,
        );
        Ok((r, amount, orn, reason, place))
    })();
    let ((otn, tn), amount, orn, reason, (store_id, terminal_id, operator_id)) = match parsed {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    with_trade(
        sim,
        app_id,
        otn.as_deref(),
        tn.as_deref(),
        |t, at, changed| {
            let orn = orn.clone().unwrap_or_else(|| t.out_trade_no.clone());
            // The answer for the `index`-th refund of the trade.
            let ok = |t: &Trade, index: usize, fund_change: &str, refund_at: OffsetDateTime| {
                MethodReply::node(serialize_node(&RefundNode {
                    base: RefundResponse {
                        code: Code::Success.as_str().into(),
                        msg: Code::Success.msg().into(),
                        trade_no: Some(t.trade_no.clone()),
                        out_trade_no: Some(t.out_trade_no.clone()),
                        buyer_logon_id: t.buyer_logon_id.clone(),
                        fund_change: Some(fund_change.into()),
                        refund_fee: Some(t.refunded),
                        gmt_refund_pay: Some(gt(refund_at)),
                        buyer_user_id: t.buyer_user_id.clone(),
                        send_back_fee: Some(amount),
                        ..Default::default()
                    },
                    refund_detail_item_list: fund_bill_list(&t.refund_detail(index)),
                    fund_bill_list: fund_bill_list(&t.refund_detail(index)),
                }))
            };
            if let Some((i, prev)) = t
                .refunds
                .iter()
                .enumerate()
                .find(|(_, r)| r.out_request_no == orn)
            {
                if prev.amount == amount {
                    let prev_at = prev.at;
                    return ok(t, i, "N", prev_at);
                }
                return failed!(RefundResponse, sub::ACQ_DISCORDANT_REPEAT_REQUEST);
            }
            match t.status {
                TradeStatus::WaitBuyerPay => {
                    return failed!(RefundResponse, sub::ACQ_TRADE_STATUS_ERROR)
                }
                TradeStatus::TradeFinished => {
                    return failed!(RefundResponse, sub::ACQ_TRADE_HAS_FINISHED)
                }
                TradeStatus::TradeClosed if t.pay_count == 0 => {
                    return failed!(RefundResponse, sub::ACQ_TRADE_STATUS_ERROR)
                }
                _ => {}
            }
            let Some(new_total) = t.refunded.checked_add(amount).filter(|n| *n <= t.total) else {
                return failed!(RefundResponse, sub::ACQ_REFUND_AMT_NOT_EQUAL_TOTAL);
            };
            // docs/PROTOCOL.md §9.6: the sub-merchant's income of the day must
            // cover the refund; checked and booked under one counter lock.
            let check = sim.profile().behaviour.refund_needs_day_income;
            if sim
                .ledger
                .debit_income(
                    &t.app_id,
                    t.sub_merchant_id.as_deref(),
                    sim.gateway_day(),
                    amount.fen(),
                    check,
                )
                .is_err()
            {
                return failed!(RefundResponse, sub::ACQ_SELLER_BALANCE_NOT_ENOUGH);
            }
            t.refunds.push(Refund {
                out_request_no: orn,
                amount,
                reason: reason.clone(),
                at,
                store_id: store_id.clone(),
                terminal_id: terminal_id.clone(),
                operator_id: operator_id.clone(),
            });
            t.refunded = new_total;
            if new_total == t.total {
                t.set_status(TradeStatus::TradeClosed, at);
                changed.push(t.clone());
            } else if sim.profile().notify.on_partial_refund {
                changed.push(t.clone());
            }
            ok(t, t.refunds.len() - 1, "Y", at)
        },
    )
    .unwrap_or_else(|| failed!(RefundResponse, sub::ACQ_TRADE_NOT_EXIST))
}

/// alipay.trade.fastpay.refund.query: the refund of `out_request_no`
/// (`refund_status` `REFUND_SUCCESS`, its amount and funding tools); a 10000
/// without refund fields when the trade has no such refund.
pub fn refund_query(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let parsed = (|| -> Result<_, BizError> {
        let r = biz.trade_ref()?;
        let orn = biz.out_request_no()?.ok_or_else(|| BizError {
            sub_code: sub::ACQ_INVALID_PARAMETER,
            sub_msg: "缺少必选参数out_request_no".into(),
        })?;
        Ok((r, orn))
    })();
    let ((otn, tn), orn) = match parsed {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    with_trade(sim, app_id, otn.as_deref(), tn.as_deref(), |t, _, _| {
        let mut r = RefundQueryNode {
            base: RefundQueryResponse {
                code: Code::Success.as_str().into(),
                msg: Code::Success.msg().into(),
                trade_no: Some(t.trade_no.clone()),
                out_trade_no: Some(t.out_trade_no.clone()),
                out_request_no: Some(orn.clone()),
                ..Default::default()
            },
            refund_detail_item_list: Vec::new(),
        };
        if let Some((i, rf)) = t
            .refunds
            .iter()
            .enumerate()
            .find(|(_, x)| x.out_request_no == orn)
        {
            r.base.total_amount = Some(t.total);
            r.base.refund_amount = Some(rf.amount);
            r.base.refund_status = Some("REFUND_SUCCESS".into());
            r.base.gmt_refund_pay = Some(gt(rf.at));
            r.refund_detail_item_list = fund_bill_list(&t.refund_detail(i));
        }
        MethodReply::node(serialize_node(&r))
    })
    .unwrap_or_else(|| failed!(RefundQueryResponse, sub::ACQ_TRADE_NOT_EXIST))
}

/// alipay.data.dataservice.bill.downloadurl.query: a URL on the simulator,
/// valid 30 seconds, serving the day's (or month's) trade bill.
pub fn bill_url(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let parsed = (|| -> Result<_, BizError> {
        let bill_type = biz.req("bill_type")?;
        if bill_type != "trade" && bill_type != "signcustomer" {
            return Err(BizError {
                sub_code: sub::ACQ_INVALID_PARAMETER,
                sub_msg: "参数无效: bill_type".into(),
            });
        }
        let bill_date = biz.req("bill_date")?;
        Ok((bill_type, bill_date))
    })();
    let (bill_type, bill_date) = match parsed {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    let Some(range) = crate::bill::date_range(&bill_date) else {
        return failed!(
            BillUrlResponse,
            sub::ACQ_INVALID_PARAMETER,
            "参数无效: bill_date".into()
        );
    };
    match bill_availability(
        range,
        sim.gateway_now(),
        sim.started_at,
        crate::bill::row_count(sim, app_id, range),
    ) {
        BillAvailability::NotExist => failed!(BillUrlResponse, sub::ISP_BILL_NOT_EXIST),
        a => {
            let expires = (sim.gateway_now() + time::Duration::seconds(30)).unix_timestamp();
            let url = format!(
                "{}/_sim/bill/download?app_id={}&bill_type={}&bill_date={}&expires={}",
                sim.base_url, app_id, bill_type, bill_date, expires
            );
            let mut node = serialize_node(&BillUrlResponse {
                code: Code::Success.as_str().into(),
                msg: Code::Success.msg().into(),
                bill_download_url: Some(url),
                ..Default::default()
            });
            if a == BillAvailability::Empty && node.ends_with('}') {
                node.pop();
                node.push_str(",\"bill_file_code\":\"EMPTY_DATA_WITH_BILL_FILE\"}");
            }
            MethodReply::node(node)
        }
    }
}

/// Whether a bill period can be served (docs/PROTOCOL.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillAvailability {
    /// Today, the future, or before the app existed: `isp.bill_not_exist`.
    NotExist,
    /// A past period without rows: a file with no rows, `EMPTY_DATA_WITH_BILL_FILE`.
    Empty,
    /// A past period with rows.
    Rows,
}

/// The pure decision: a period `[start, end)` is billed once it has ended in
/// gateway time (T+1) and if it ends after the day the app started.
pub fn bill_availability(
    (_start, end): (OffsetDateTime, OffsetDateTime),
    gateway_now: OffsetDateTime,
    app_since: OffsetDateTime,
    rows: u64,
) -> BillAvailability {
    if end > gateway_now || end <= app_since {
        BillAvailability::NotExist
    } else if rows == 0 {
        BillAvailability::Empty
    } else {
        BillAvailability::Rows
    }
}

/// Runs a method (after the front door accepted the request), applying the
/// profile's faults to methods other than pay (pay draws its own).
pub fn execute(
    sim: &Arc<Sim>,
    method: Method,
    app_id: &str,
    notify_url: Option<&str>,
    biz: &Biz,
) -> MethodReply {
    if method != Method::TradePay {
        if let Some(f) = draw_fault(sim, method, biz) {
            match f {
                Drawn::Reset => return MethodReply::fault(Fault::Reset),
                Drawn::Unknown => return MethodReply::node(unknown_error_node()),
                Drawn::Hang => {
                    let _ = run(sim, method, app_id, notify_url, biz);
                    return MethodReply::fault(Fault::Hang);
                }
            }
        }
    }
    run(sim, method, app_id, notify_url, biz)
}

fn run(
    sim: &Arc<Sim>,
    method: Method,
    app_id: &str,
    notify_url: Option<&str>,
    biz: &Biz,
) -> MethodReply {
    match method {
        Method::TradePay => pay(sim, app_id, notify_url, biz),
        Method::TradePrecreate | Method::TradeCreate => {
            precreate(sim, method, app_id, notify_url, biz)
        }
        Method::TradeQuery => query(sim, app_id, biz),
        Method::TradeCancel => cancel(sim, app_id, biz),
        Method::TradeClose => close(sim, app_id, biz),
        Method::TradeRefund => refund(sim, app_id, biz),
        Method::TradeFastpayRefundQuery => refund_query(sim, app_id, biz),
        Method::BillDownloadUrlQuery => bill_url(sim, app_id, biz),
    }
}

/// Runs a method outside the trade product (merchant onboarding, the
/// heartbeat). The profile's random faults and latency do not apply to them;
/// `behaviour.heartbeat_fail` does.
pub fn execute_ext(sim: &Arc<Sim>, method: ExtMethod, app_id: &str, biz: &Biz) -> MethodReply {
    match method {
        ExtMethod::IndirectCreate => indirect::create(sim, app_id, biz),
        ExtMethod::IndirectQuery => indirect::query(sim, app_id, biz),
        ExtMethod::IndirectModify => indirect::modify(sim, app_id, biz),
        ExtMethod::HeartbeatSyn => heartbeat::heartbeat(sim, app_id, biz),
    }
}

enum Drawn {
    Hang,
    Reset,
    Unknown,
}

/// Draws a fault for a non-pay method from (seed, trade, method, call number).
fn draw_fault(sim: &Sim, method: Method, biz: &Biz) -> Option<Drawn> {
    let p = sim.profile();
    let f = &p.faults;
    if f.hang == 0.0 && f.reset == 0.0 && f.unknown_error == 0.0 {
        return None;
    }
    let ident = biz
        .opt("trade_no")
        .ok()
        .flatten()
        .or_else(|| biz.opt("out_trade_no").ok().flatten())
        .unwrap_or_default();
    let call = sim.next_call(&ident, method.as_str());
    let mut rng = rng_for(p.seed, &ident, method.as_str(), call);
    let u: f64 = rng.gen();
    if u < f.hang {
        Some(Drawn::Hang)
    } else if u < f.hang + f.reset {
        Some(Drawn::Reset)
    } else if u < f.hang + f.reset + f.unknown_error {
        Some(Drawn::Unknown)
    } else {
        None
    }
}
