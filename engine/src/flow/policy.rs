//! The money rules: pure functions from (what the switch knows of a trade,
//! what the gateway answered) to the next step. No I/O, no clock, no locks:
//! the drivers around this module send, commit and wait; this module decides.
//!
//! Every function matches on [`protocol::Code`] and the sub-code constants
//! of [`protocol::codes::sub`], never on string literals. The whole policy is
//! rendered as tables by [`state_table_markdown`] and [`pay_sub_code_table_markdown`];
//! docs/ENGINE.md carries both and a test checks that they are equal.
//!
//! The rules (docs/PROTOCOL.md §9.7 and §10, docs/ARCHITECTURE.md):
//! - pay 10000: SUCCESS. 10003: PAYING, poll, then cancel.
//! - 20000, ACQ.SYSTEM_ERROR, ACQ.TRADE_HAS_SUCCESS, an unknown code, a lost
//!   answer, an answer not tied to its request: query, query once more,
//!   then cancel until definite.
//! - any other 40004 (and the gateway's 4000x refusals): FAILED.
//! - a cancel proves the trade closed only when it names its `action`
//!   (`close`, `refund`) or a query shows TRADE_CLOSED; a cancel that does not
//!   find the trade while the switch's own request may still land makes the
//!   trade CLOSED *and* starts the late-landing watch, which undoes a late
//!   payment (cancel, or refund once the 24 h cancel limit has passed).

use protocol::codes::{sub, Code};
use protocol::Money;

use crate::trade::{Kind, Status};

/// A gateway reply, reduced to what the money rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// No verified answer (time-out, reset, unsigned or badly signed body):
    /// the request may or may not have taken effect.
    Lost,
    /// A verified answer: its code (`None`: a code this switch does not
    /// know) and sub-code.
    Answer {
        /// The gateway code; `None` for a code this switch does not know.
        code: Option<Code>,
        /// The business sub-code, when the answer carries one.
        sub_code: Option<&'a str>,
    },
}

impl<'a> Reply<'a> {
    /// From the wire fields of a verified answer (`code` as the gateway
    /// wrote it; an unknown code becomes `None`).
    pub fn answer(code: &str, sub_code: Option<&'a str>) -> Reply<'a> {
        Reply::Answer {
            code: Code::parse(code),
            sub_code,
        }
    }

    fn code(self) -> Option<Code> {
        match self {
            Reply::Lost => None,
            Reply::Answer { code, .. } => code,
        }
    }

    fn sub(self) -> Option<&'a str> {
        match self {
            Reply::Lost => None,
            Reply::Answer { sub_code, .. } => sub_code,
        }
    }
}

/// What the cashier should do (docs/API.md §1, `cashier_action`).
pub use terminal::CashierAction;

// ---------- pay ----------

/// The next step after the answer to alipay.trade.pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayStep {
    /// Paid: SUCCESS.
    Success,
    /// 10003: PAYING; query every poll interval, then cancel.
    Poll,
    /// The outcome is not known: query, query once more, then cancel.
    Resolve,
    /// Refused: FAILED with the gateway's code, sub_code and sub_msg.
    Fail,
}

impl PayStep {
    /// The step as docs/ENGINE.md's tables write it (`SUCCESS`, `FAILED`,
    /// `PAYING, poll then cancel`, `query, query again, then cancel`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PayStep::Success => "SUCCESS",
            PayStep::Poll => "PAYING, poll then cancel",
            PayStep::Resolve => "query, query again, then cancel",
            PayStep::Fail => "FAILED",
        }
    }
}

/// The next step and the cashier's action for a 40004 sub-code of
/// alipay.trade.pay (docs/PROTOCOL.md §10's table, and the remedy it
/// gives). A sub-code the table does not list is FAILED, contact the
/// acquirer.
pub fn pay_sub_code(sub_code: &str) -> (PayStep, CashierAction) {
    use CashierAction as A;
    use PayStep::{Fail, Resolve};
    match sub_code {
        // "请立即调用查询订单API": the outcome is unknown.
        sub::ACQ_SYSTEM_ERROR => (Resolve, A::Wait),
        // "确认该笔交易信息是否为当前买家的": confirm by query.
        sub::ACQ_TRADE_HAS_SUCCESS => (Resolve, A::Wait),
        sub::ACQ_INVALID_PARAMETER | sub::ACQ_EXIST_FORBIDDEN_WORD | sub::ACQ_TOTAL_FEE_EXCEED => {
            (Fail, A::FixRequest)
        }
        sub::ACQ_ACCESS_FORBIDDEN
        | sub::ACQ_PARTNER_ERROR
        | sub::ACQ_BEYOND_PAY_RESTRICTION
        | sub::ACQ_BEYOND_PER_RECEIPT_RESTRICTION
        | sub::ACQ_SELLER_BEEN_BLOCKED
        | sub::ACQ_INVALID_STORE_ID
        | sub::ACQ_SUB_MERCHANT_CREATE_FAIL
        | sub::ACQ_SUB_MERCHANT_TYPE_INVALID
        | sub::ACQ_MERCHANT_AGREEMENT_NOT_EXIST
        | sub::ACQ_MERCHANT_AGREEMENT_INVALID
        | sub::ACQ_MERCHANT_STATUS_NOT_NORMAL => (Fail, A::ContactAcquirer),
        sub::ACQ_PAYMENT_AUTH_CODE_INVALID
        | sub::ACQ_PULL_MOBILE_CASHIER_FAIL
        | sub::ACQ_PAYMENT_FAIL
        | sub::ACQ_ERROR_BALANCE_PAYMENT_DISABLE
        | sub::ACQ_MOBILE_PAYMENT_SWITCH_OFF
        | sub::ACQ_USER_FACE_PAYMENT_SWITCH_OFF => (Fail, A::RescanCode),
        sub::ACQ_CONTEXT_INCONSISTENT
        | sub::ACQ_TRADE_HAS_CLOSE
        | sub::ACQ_TRADE_BUYER_NOT_MATCH => (Fail, A::NewOutTradeNo),
        sub::ACQ_BUYER_BALANCE_NOT_ENOUGH
        | sub::ACQ_BUYER_BANKCARD_BALANCE_NOT_ENOUGH
        | sub::ACQ_BUYER_SELLER_EQUAL
        | sub::ACQ_BUYER_ENABLE_STATUS_FORBID
        | sub::ACQ_BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR
        | sub::ACQ_BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR
        | sub::ACQ_ERROR_BUYER_CERTIFY_LEVEL_LIMIT
        | sub::ACQ_PAYMENT_REQUEST_HAS_RISK
        | sub::ACQ_NO_PAYMENT_INSTRUMENTS_AVAILABLE
        | sub::ACQ_AGREEMENT_NOT_EXIST
        | sub::ACQ_AGREEMENT_INVALID
        | sub::ACQ_AGREEMENT_STATUS_NOT_NORMAL => (Fail, A::OtherPaymentMethod),
        // A 40004 this switch does not know: refused, a person must look.
        _ => (Fail, A::ContactAcquirer),
    }
}

/// The next step after the answer to alipay.trade.pay. `tied` is false when
/// the answer names another out_trade_no or another total_amount than the
/// request (then nothing in it is believed).
pub fn pay_answer(reply: Reply<'_>, tied: bool) -> PayStep {
    match reply {
        Reply::Lost => PayStep::Resolve,
        Reply::Answer { .. } if !tied => PayStep::Resolve,
        Reply::Answer { code, sub_code } => match code {
            Some(Code::Success) => PayStep::Success,
            Some(Code::PayInProcess) => PayStep::Poll,
            Some(Code::ServiceUnavailable) | None => PayStep::Resolve,
            Some(Code::BusinessFailed) => pay_sub_code(sub_code.unwrap_or_default()).0,
            // The gateway refused the call before any business processing
            // (auth token, arguments, permissions, call limit): no trade.
            Some(
                Code::InsufficientTokenPermissions
                | Code::MissingRequiredArguments
                | Code::InvalidArguments
                | Code::InsufficientConditions
                | Code::CallLimited
                | Code::InsufficientPermissions,
            ) => PayStep::Fail,
        },
    }
}

/// The next step after the answer to alipay.trade.precreate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrecreateStep {
    /// 10000 with a QR code: WAIT_BUYER_PAY, owned by the QR watch.
    WaitBuyer,
    /// Refused: FAILED.
    Fail,
    /// The QR code never reached the terminal: cancel until definite, so
    /// that nobody can pay it.
    Cancel,
}

/// The next step after the answer to alipay.trade.precreate. `tied` is false
/// when the answer names another out_trade_no or total_amount than the
/// request; `has_qr` whether it carries a `qr_code`. Anything but a tied
/// 10000 with a QR code or a definite refusal is cancelled: the QR code
/// never reached the terminal.
pub fn precreate_answer(reply: Reply<'_>, tied: bool, has_qr: bool) -> PrecreateStep {
    match reply {
        Reply::Lost => PrecreateStep::Cancel,
        Reply::Answer { .. } if !tied => PrecreateStep::Cancel,
        Reply::Answer { code, .. } => match code {
            Some(Code::Success) if has_qr => PrecreateStep::WaitBuyer,
            Some(Code::Success) | Some(Code::ServiceUnavailable) | None => PrecreateStep::Cancel,
            Some(_) => match pay_answer(reply, true) {
                PayStep::Fail => PrecreateStep::Fail,
                _ => PrecreateStep::Cancel,
            },
        },
    }
}

// ---------- query ----------

/// What an alipay.trade.query showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seen {
    /// TRADE_SUCCESS or TRADE_FINISHED: the buyer's money is taken.
    Paid,
    /// TRADE_CLOSED: not paid, never will be (or fully refunded).
    Closed,
    /// WAIT_BUYER_PAY.
    Waiting,
    /// ACQ.TRADE_NOT_EXIST: the gateway has not booked it (yet).
    NotExist,
    /// Anything else: no answer, an error, an answer not tied to the trade.
    Unknown,
}

impl Seen {
    /// Every value, in the order of docs/ENGINE.md's table.
    pub const ALL: [Seen; 5] = [
        Seen::Paid,
        Seen::Closed,
        Seen::Waiting,
        Seen::NotExist,
        Seen::Unknown,
    ];
}

/// The gateway's trade_status strings (docs/PROTOCOL.md §5, alipay.trade.query).
pub mod trade_status {
    use protocol::TradeStatus;
    /// Created, not paid yet (a QR code waiting for its buyer).
    pub const WAIT_BUYER_PAY: &str = TradeStatus::WaitBuyerPay.as_str();
    /// Paid; still refundable.
    pub const TRADE_SUCCESS: &str = TradeStatus::TradeSuccess.as_str();
    /// Paid and no longer refundable.
    pub const TRADE_FINISHED: &str = TradeStatus::TradeFinished.as_str();
    /// Closed unpaid at expiry or by a cancel, or fully refunded.
    pub const TRADE_CLOSED: &str = TradeStatus::TradeClosed.as_str();
}

/// Classifies a query answer. `tied` is false when it names another
/// out_trade_no or total_amount than the trade.
pub fn query_seen(reply: Reply<'_>, status: Option<&str>, tied: bool) -> Seen {
    match reply.code() {
        Some(Code::Success) if tied => match status {
            Some(trade_status::TRADE_SUCCESS) | Some(trade_status::TRADE_FINISHED) => Seen::Paid,
            Some(trade_status::TRADE_CLOSED) => Seen::Closed,
            Some(trade_status::WAIT_BUYER_PAY) => Seen::Waiting,
            _ => Seen::Unknown,
        },
        Some(Code::BusinessFailed) if reply.sub() == Some(sub::ACQ_TRADE_NOT_EXIST) => {
            Seen::NotExist
        }
        _ => Seen::Unknown,
    }
}

/// A step of the unknown-outcome and polling loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryStep {
    /// The trade is definite.
    Final(Status),
    /// The buyer has to act (10003 found by a query): poll.
    Poll,
    /// Query again after the interval.
    Again,
    /// Cancel until definite.
    Cancel,
}

/// How many queries resolve an unknown pay outcome before the cancel
/// (docs/PROTOCOL.md §9.7: query, then retry the query once).
pub const RESOLVE_QUERIES: u32 = 2;

/// Resolving an unknown outcome, after query number `done` (1-based): a
/// definite query ends it, WAIT_BUYER_PAY turns it into polling, anything
/// else queries again until [`RESOLVE_QUERIES`] are done, then cancels.
pub fn resolve_after_query(seen: Seen, done: u32) -> QueryStep {
    match seen {
        Seen::Paid => QueryStep::Final(Status::Success),
        Seen::Closed => QueryStep::Final(Status::Closed),
        Seen::Waiting => QueryStep::Poll,
        Seen::NotExist | Seen::Unknown if done < RESOLVE_QUERIES => QueryStep::Again,
        Seen::NotExist | Seen::Unknown => QueryStep::Cancel,
    }
}

/// Polling a 10003 trade, after poll number `done` of `count` (1-based):
/// paid or closed ends it; otherwise poll again, and cancel after the last.
pub fn poll_after_query(seen: Seen, done: u32, count: u32) -> QueryStep {
    match seen {
        Seen::Paid => QueryStep::Final(Status::Success),
        Seen::Closed => QueryStep::Final(Status::Closed),
        _ if done < count => QueryStep::Again,
        _ => QueryStep::Cancel,
    }
}

// ---------- cancel and close ----------

/// What a cancel answer proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelSeen {
    /// 10000 naming its action (`close`: unpaid, closed; `refund`: the money
    /// went back), retry_flag not Y: the trade is closed.
    Closed,
    /// 10000 without action, or ACQ.TRADE_NOT_EXIST: the gateway has not
    /// booked this out_trade_no (yet). Not a proof of anything.
    NotFound,
    /// A definite refusal (40004 other than ACQ.SYSTEM_ERROR): the cancel
    /// did not happen; carries on by query.
    Refused,
    /// No definite answer (lost, 20000, ACQ.SYSTEM_ERROR, retry_flag Y, an
    /// unexpected answer): cancel again.
    Retry,
}

/// The cancel answer's `action` values (docs/PROTOCOL.md §5, alipay.trade.cancel).
pub mod cancel_action {
    /// The trade was not paid: the gateway closed it.
    pub const CLOSE: &str = "close";
    /// The trade was paid: the gateway refunded the buyer in full.
    pub const REFUND: &str = "refund";
}

/// Classifies an alipay.trade.cancel answer: its `action` and
/// `retry_flag` fields as the gateway wrote them.
pub fn cancel_seen(reply: Reply<'_>, action: Option<&str>, retry_flag: Option<&str>) -> CancelSeen {
    match reply.code() {
        Some(Code::Success) if retry_flag == Some("Y") => CancelSeen::Retry,
        Some(Code::Success) => match action {
            Some(cancel_action::CLOSE) | Some(cancel_action::REFUND) => CancelSeen::Closed,
            None => CancelSeen::NotFound,
            Some(_) => CancelSeen::Retry,
        },
        Some(Code::BusinessFailed) => match reply.sub() {
            Some(sub::ACQ_TRADE_NOT_EXIST) => CancelSeen::NotFound,
            Some(sub::ACQ_SYSTEM_ERROR) => CancelSeen::Retry,
            _ => CancelSeen::Refused,
        },
        _ => CancelSeen::Retry,
    }
}

/// The next step of the cancel loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelStep {
    /// CLOSED.
    Closed,
    /// CLOSED for the terminal, and the late-landing watch starts: the
    /// switch's own request may still land.
    ClosedAndWatch,
    /// The cancel was refused: query to learn the truth.
    Query,
    /// Cancel again after a back-off.
    Retry {
        /// The trade is UNKNOWN now ([`CANCEL_FAILURES_TO_UNKNOWN`] cancels
        /// without a definite answer).
        unknown: bool,
    },
}

/// Cancels without a definite answer after which the trade shows UNKNOWN.
pub const CANCEL_FAILURES_TO_UNKNOWN: u32 = 2;

/// After a cancel answer. `may_land`: the switch's own pay or precreate was
/// (or may have been) sent, so the gateway may still book it. `failures`:
/// cancels without a definite answer so far, this one included.
pub fn cancel_next(seen: CancelSeen, may_land: bool, failures: u32) -> CancelStep {
    match seen {
        CancelSeen::Closed => CancelStep::Closed,
        CancelSeen::NotFound if may_land => CancelStep::ClosedAndWatch,
        CancelSeen::NotFound => CancelStep::Closed,
        CancelSeen::Refused => CancelStep::Query,
        CancelSeen::Retry => CancelStep::Retry {
            unknown: failures >= CANCEL_FAILURES_TO_UNKNOWN,
        },
    }
}

/// After a refused cancel, what the query showed decides the next step
/// (`may_land` as in [`cancel_next`]). A paid trade is answered `Retry`
/// here: the caller checks [`refused_cancel_is_paid`] first.
pub fn refused_cancel_after_query(seen: Seen, may_land: bool) -> CancelStep {
    match seen {
        // SUCCESS is handled by the caller as final (the cancel could not
        // undo it: the terminal reverses it with a refund).
        Seen::Paid => CancelStep::Retry { unknown: false },
        Seen::Closed => CancelStep::Closed,
        Seen::NotExist if may_land => CancelStep::ClosedAndWatch,
        Seen::NotExist => CancelStep::Closed,
        Seen::Waiting | Seen::Unknown => CancelStep::Retry { unknown: false },
    }
}

/// Whether a refused cancel's query makes the trade SUCCESS (final).
pub fn refused_cancel_is_paid(seen: Seen) -> bool {
    seen == Seen::Paid
}

/// alipay.trade.close (the terminal's close, or a QR at expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseStep {
    /// 10000: CLOSED.
    Closed,
    /// Anything else: the cancel policy decides (it works whether or not
    /// the gateway has booked the trade).
    Cancel,
}

/// After the answer to alipay.trade.close: only a 10000 closes the trade;
/// anything else goes on as a cancel.
pub fn close_answer(reply: Reply<'_>) -> CloseStep {
    match reply.code() {
        Some(Code::Success) => CloseStep::Closed,
        _ => CloseStep::Cancel,
    }
}

// ---------- the late-landing watch ----------

/// The next step of the late-landing watch after a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchStep {
    /// The gateway holds the buyer's money (or an open trade) for a trade
    /// the terminal was told CLOSED: undo it (cancel; refund after 24 h).
    Undo,
    /// The gateway shows TRADE_CLOSED: nothing can land any more.
    Done,
    /// Nothing booked (yet): check again at the next offset.
    Continue,
    /// No definite answer: the check did not happen; repeat it after a
    /// back-off (an unanswered query never uses up the window).
    Retry,
}

/// The late-landing watch after a query: money or an open trade at the
/// gateway is undone, TRADE_CLOSED ends the watch, ACQ.TRADE_NOT_EXIST
/// waits for the next offset, no definite answer retries the check.
pub fn watch_after_query(seen: Seen) -> WatchStep {
    match seen {
        Seen::Paid | Seen::Waiting => WatchStep::Undo,
        Seen::Closed => WatchStep::Done,
        Seen::NotExist => WatchStep::Continue,
        Seen::Unknown => WatchStep::Retry,
    }
}

/// How long after its start a watch whose checks go unanswered gives up
/// (with an incident), in milliseconds (23 h): inside the gateway's 24 h
/// cancel limit.
pub const WATCH_GIVE_UP_MS: i64 = 23 * 3_600_000;

/// The time (Unix ms) of the watch's check number `done` (0-based), or
/// `None` when every check is done. `offsets_ms` are counted from the
/// watch's start (`started_ms`, Unix ms).
pub fn watch_check_at(started_ms: i64, offsets_ms: &[u64], done: u32) -> Option<i64> {
    let off = *offsets_ms.get(usize::try_from(done).ok()?)?;
    started_ms.checked_add(i64::try_from(off).ok()?)
}

/// How the undo of a late landing goes on after its cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UndoStep {
    /// The cancel took the money back (or closed the open trade).
    Done,
    /// Past the gateway's 24 h cancel limit: refund the whole amount.
    Refund,
    /// Try again after a back-off.
    Retry,
}

/// The undo of a late landing after its cancel (`seen` classified by
/// [`cancel_seen`]): closed is done; a refusal with
/// ACQ.TRADE_CANCEL_TIME_OUT (past 24 h) turns into a full refund; anything
/// else is tried again.
pub fn undo_after_cancel(reply: Reply<'_>, seen: CancelSeen) -> UndoStep {
    match seen {
        CancelSeen::Closed => UndoStep::Done,
        CancelSeen::Refused if reply.sub() == Some(sub::ACQ_TRADE_CANCEL_TIME_OUT) => {
            UndoStep::Refund
        }
        _ => UndoStep::Retry,
    }
}

// ---------- QR trades ----------

/// The next step of the QR watch after a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QrStep {
    /// The trade is definite.
    Final(Status),
    /// Not paid, not expired: check again later.
    Later,
    /// Expired: close it (alipay.trade.close, falling back to cancel).
    Close,
}

/// The QR watch after a query, at `now_ms` for a trade expiring at
/// `expires_ms` (both Unix ms): paid or closed is final; otherwise close it
/// once expired, or check again later.
pub fn qr_after_query(seen: Seen, now_ms: i64, expires_ms: i64) -> QrStep {
    match seen {
        Seen::Paid => QrStep::Final(Status::Success),
        Seen::Closed => QrStep::Final(Status::Closed),
        _ if now_ms >= expires_ms => QrStep::Close,
        _ => QrStep::Later,
    }
}

/// When the QR watch queries (Unix ms), check number `done` (0-based):
/// `after_ms` from creation (1 min, 5 min by default; those past the
/// expiry are skipped), then at expiry. `None` when every check is done.
pub fn qr_check_at(created_ms: i64, expires_ms: i64, after_ms: &[u64], done: u32) -> Option<i64> {
    let mut times: Vec<i64> = after_ms
        .iter()
        .filter_map(|a| created_ms.checked_add(i64::try_from(*a).ok()?))
        .filter(|t| *t < expires_ms)
        .collect();
    times.push(expires_ms);
    times.get(usize::try_from(done).ok()?).copied()
}

// ---------- notifications ----------

/// What the switch checks in a verified notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyFacts {
    /// `app_id` is the switch's.
    pub app_id_ok: bool,
    /// `seller_id` equals the configured one (true when none is configured).
    pub seller_ok: bool,
    /// `total_amount` is present and equals the trade's.
    pub amount_ok: bool,
    /// What the notification says.
    pub status: NotifiedStatus,
}

/// The trade_status of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifiedStatus {
    /// TRADE_SUCCESS or TRADE_FINISHED.
    Paid,
    /// TRADE_CLOSED.
    Closed,
    /// Any other status (WAIT_BUYER_PAY): informative only.
    Waiting,
    /// No trade_status in the notification.
    Missing,
}

/// The trade a notification names, as the switch holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The trade's status in the journal.
    pub status: Status,
    /// A cancel is in doubt: only its answer decides the trade.
    pub cancel_pending: bool,
}

/// Why a notification does not move a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// The notification's app_id is not the switch's.
    WrongAppId,
    /// Its seller_id is not the configured `gateway.seller_id`.
    WrongSellerId,
    /// Its total_amount is missing or differs from the trade's.
    AmountMismatch,
    /// Paid at the gateway while the switch holds the trade CLOSED or FAILED.
    PaidWhileClosed,
}

impl IncidentKind {
    /// The incident's kind as journaled and as the `kind` label of
    /// `payswitch_notify_incidents_total` (`wrong_app_id`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentKind::WrongAppId => "wrong_app_id",
            IncidentKind::WrongSellerId => "wrong_seller_id",
            IncidentKind::AmountMismatch => "amount_mismatch",
            IncidentKind::PaidWhileClosed => "paid_while_closed",
        }
    }
}

/// What a verified notification does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyStep {
    /// Move the trade to this status.
    Apply(Status),
    /// Journal it, change nothing (a duplicate, a reordered or informative
    /// notification, or one that arrives while a cancel is in doubt).
    Journal,
    /// Journal an incident, change nothing.
    Incident(IncidentKind),
    /// Journal an incident and undo the payment (as a late landing).
    IncidentAndUndo,
    /// The switch never saw this out_trade_no: journal it as an orphan.
    Orphan,
}

/// What a verified notification does to the trade it names (`held`: `None`
/// when the switch never saw the out_trade_no). The app_id and seller_id
/// are checked before the trade matters (a failure is not about a trade of
/// ours), then whether the trade is known, then the amount; only then the
/// status: a final trade and a cancel in doubt are never moved, and a paid
/// notification for a CLOSED or FAILED trade is undone as a late landing.
pub fn on_notification(held: Option<Held>, n: NotifyFacts) -> NotifyStep {
    if !n.app_id_ok {
        return NotifyStep::Incident(IncidentKind::WrongAppId);
    }
    if !n.seller_ok {
        return NotifyStep::Incident(IncidentKind::WrongSellerId);
    }
    let Some(held) = held else {
        return NotifyStep::Orphan;
    };
    if !n.amount_ok {
        return NotifyStep::Incident(IncidentKind::AmountMismatch);
    }
    match n.status {
        NotifiedStatus::Paid => match held.status {
            Status::Success => NotifyStep::Journal,
            Status::Closed | Status::Failed => NotifyStep::IncidentAndUndo,
            _ if held.cancel_pending => NotifyStep::Journal,
            _ => NotifyStep::Apply(Status::Success),
        },
        NotifiedStatus::Closed => match held.status {
            s if s.is_final() => NotifyStep::Journal,
            _ if held.cancel_pending => NotifyStep::Journal,
            _ => NotifyStep::Apply(Status::Closed),
        },
        NotifiedStatus::Waiting | NotifiedStatus::Missing => NotifyStep::Journal,
    }
}

// ---------- refunds ----------

/// Why a refund is refused before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    /// The trade is not SUCCESS (its status given).
    #[error("only a paid (SUCCESS) trade can be refunded; this one is {}", .0.as_str())]
    NotPaid(Status),
    /// The amount is above what is still refundable.
    #[error("refund_amount {asked} is more than the {available} still refundable (total minus refunded minus refunds in flight)")]
    Ceiling {
        /// The refund's amount.
        asked: Money,
        /// Total minus refunded minus refunds in flight.
        available: Money,
    },
    /// Refunded plus in flight does not fit in a [`Money`].
    #[error("the refunded sums of this trade overflow")]
    Overflow,
}

/// The refund ceiling: `amount <= total - refunded - in_flight`, in checked
/// arithmetic (a sum that cannot be represented is refused, never wrapped).
///
/// # Errors
/// [`RefundRefusal::NotPaid`] when `status` is not SUCCESS;
/// [`RefundRefusal::Overflow`] when `refunded + in_flight` overflows;
/// [`RefundRefusal::Ceiling`] when `amount` is above what is left.
pub fn refund_admissible(
    status: Status,
    total: Money,
    refunded: Money,
    in_flight: Money,
    amount: Money,
) -> Result<(), RefundRefusal> {
    if status != Status::Success {
        return Err(RefundRefusal::NotPaid(status));
    }
    let committed = refunded
        .checked_add(in_flight)
        .ok_or(RefundRefusal::Overflow)?;
    let available = total.checked_sub(committed).unwrap_or(Money::ZERO);
    if amount > available {
        return Err(RefundRefusal::Ceiling {
            asked: amount,
            available,
        });
    }
    Ok(())
}

/// The next step of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStep {
    /// The money went back (`fund_change` Y, or REFUND_SUCCESS by query).
    Success,
    /// A definite refusal: the refund did not happen.
    Failed,
    /// Ask alipay.trade.fastpay.refund.query, then resend (same
    /// out_request_no: idempotent at the gateway).
    Query,
}

/// After the answer to alipay.trade.refund (`fund_change` as the gateway
/// wrote it): only 10000 with `fund_change` Y is a success, only a 40004
/// other than ACQ.SYSTEM_ERROR a failure; anything else is asked again.
pub fn refund_answer(reply: Reply<'_>, fund_change: Option<&str>) -> RefundStep {
    match reply.code() {
        Some(Code::Success) if fund_change == Some("Y") => RefundStep::Success,
        Some(Code::BusinessFailed) if reply.sub() != Some(sub::ACQ_SYSTEM_ERROR) => {
            RefundStep::Failed
        }
        _ => RefundStep::Query,
    }
}

/// The refund_status of alipay.trade.fastpay.refund.query.
pub const REFUND_SUCCESS: &str = "REFUND_SUCCESS";

/// After the answer to alipay.trade.fastpay.refund.query: 10000 with
/// [`REFUND_SUCCESS`] is a success; anything else (the refund not found
/// yet included) queries and resends again, never a failure.
pub fn refund_query_answer(reply: Reply<'_>, refund_status: Option<&str>) -> RefundStep {
    match reply.code() {
        Some(Code::Success) if refund_status == Some(REFUND_SUCCESS) => RefundStep::Success,
        _ => RefundStep::Query,
    }
}

// ---------- what the cashier is told ----------

/// The cashier's action for a trade as the terminal sees it; `None` for
/// SUCCESS (hand over the goods).
pub fn cashier_action(
    status: Status,
    code: Option<&str>,
    sub_code: Option<&str>,
) -> Option<CashierAction> {
    match status {
        Status::Success => None,
        Status::Paying | Status::Unknown | Status::WaitBuyerPay => Some(CashierAction::Wait),
        Status::Closed => Some(CashierAction::NewOutTradeNo),
        Status::Failed => Some(match code.and_then(Code::parse) {
            Some(Code::BusinessFailed) => pay_sub_code(sub_code.unwrap_or_default()).1,
            _ => CashierAction::ContactAcquirer,
        }),
    }
}

/// Whether recovery may assume the switch's own request never left: only
/// when a cancel stopped it before the send (journaled as `never_sent`).
pub fn may_land(kind: Kind, never_sent: bool) -> bool {
    let _ = kind;
    !never_sent
}

// ---------- the tables in docs/ENGINE.md ----------

fn reply_rows() -> Vec<(String, Reply<'static>)> {
    let mut v = vec![("lost answer".to_owned(), Reply::Lost)];
    for c in Code::ALL {
        if c == Code::BusinessFailed {
            for s in [
                sub::ACQ_SYSTEM_ERROR,
                sub::ACQ_TRADE_NOT_EXIST,
                sub::ACQ_TRADE_HAS_SUCCESS,
                sub::ACQ_TRADE_CANCEL_TIME_OUT,
                sub::ACQ_PAYMENT_AUTH_CODE_INVALID,
            ] {
                v.push((
                    format!("40004 {s}"),
                    Reply::Answer {
                        code: Some(c),
                        sub_code: Some(s),
                    },
                ));
            }
        } else {
            v.push((
                c.as_str().to_owned(),
                Reply::Answer {
                    code: Some(c),
                    sub_code: None,
                },
            ));
        }
    }
    v
}

/// The state x outcome table (docs/ENGINE.md, "The policy"), rendered from
/// the functions above.
pub fn state_table_markdown() -> String {
    let mut s = String::new();
    s.push_str("| gateway answer | pay | precreate | cancel (may land) | cancel (never sent) | close | refund |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (name, r) in reply_rows() {
        let cs = cancel_seen(r, None, None);
        let cs_action = cancel_seen(r, Some(cancel_action::CLOSE), Some("N"));
        let fmt_cancel = |may: bool| {
            let a = cancel_next(cs, may, 1);
            let b = cancel_next(cs_action, may, 1);
            if a == b {
                format!("{a:?}")
            } else {
                format!("no action: {a:?}; action close/refund: {b:?}")
            }
        };
        s.push_str(&format!(
            "| {name} | {} | {:?} | {} | {} | {:?} | {:?} / fund_change N: {:?} |\n",
            pay_answer(r, true).as_str(),
            precreate_answer(r, true, true),
            fmt_cancel(true),
            fmt_cancel(false),
            close_answer(r),
            refund_answer(r, Some("Y")),
            refund_answer(r, Some("N")),
        ));
    }
    s.push_str("\n| query shows | resolving (1st / 2nd query) | polling (not last / last) | late-landing watch | QR watch (before / at expiry) | after a refused cancel |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for seen in Seen::ALL {
        s.push_str(&format!(
            "| {seen:?} | {:?} / {:?} | {:?} / {:?} | {:?} | {:?} / {:?} | {} |\n",
            resolve_after_query(seen, 1),
            resolve_after_query(seen, 2),
            poll_after_query(seen, 1, 12),
            poll_after_query(seen, 12, 12),
            watch_after_query(seen),
            qr_after_query(seen, 0, 1),
            qr_after_query(seen, 1, 1),
            if refused_cancel_is_paid(seen) {
                "Final(Success)".to_owned()
            } else {
                format!("{:?}", refused_cancel_after_query(seen, true))
            },
        ));
    }
    s
}

/// The table of the pay sub-codes (docs/PROTOCOL.md §10): next step and
/// cashier action, as docs/ENGINE.md carries it.
pub fn pay_sub_code_table_markdown() -> String {
    let mut s = String::from("| sub_code | description (docs/PROTOCOL.md §10) | next step | cashier_action |\n| --- | --- | --- | --- |\n");
    for d in protocol::codes::PAY_SUB_CODES {
        let (step, action) = pay_sub_code(d.sub_code);
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            d.sub_code,
            d.description,
            step.as_str(),
            action.as_str()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_reply() -> impl Strategy<Value = Reply<'static>> {
        let subs: Vec<&'static str> = protocol::codes::PAY_SUB_CODES
            .iter()
            .map(|d| d.sub_code)
            .chain([
                sub::ACQ_TRADE_NOT_EXIST,
                sub::ACQ_TRADE_CANCEL_TIME_OUT,
                "ACQ.SOMETHING_NEW",
            ])
            .collect();
        prop_oneof![
            Just(Reply::Lost),
            (
                prop::option::of(prop::sample::select(Code::ALL.to_vec())),
                prop::option::of(prop::sample::select(subs))
            )
                .prop_map(|(code, sub_code)| Reply::Answer { code, sub_code }),
        ]
    }

    #[test]
    fn every_pay_sub_code_has_a_step_and_an_action() {
        for d in protocol::codes::PAY_SUB_CODES {
            let (step, action) = pay_sub_code(d.sub_code);
            let r = Reply::answer("40004", Some(d.sub_code));
            assert_eq!(pay_answer(r, true), step, "{}", d.sub_code);
            match d.sub_code {
                sub::ACQ_SYSTEM_ERROR | sub::ACQ_TRADE_HAS_SUCCESS => {
                    assert_eq!(step, PayStep::Resolve);
                    assert_eq!(action, CashierAction::Wait);
                }
                _ => {
                    assert_eq!(step, PayStep::Fail, "{}", d.sub_code);
                    assert_eq!(
                        cashier_action(Status::Failed, Some("40004"), Some(d.sub_code)),
                        Some(action)
                    );
                    assert_ne!(action, CashierAction::Wait, "{}", d.sub_code);
                }
            }
        }
        assert_eq!(
            pay_sub_code(sub::ACQ_PAYMENT_AUTH_CODE_INVALID).1,
            CashierAction::RescanCode
        );
        assert_eq!(
            pay_sub_code(sub::ACQ_BUYER_BALANCE_NOT_ENOUGH).1,
            CashierAction::OtherPaymentMethod
        );
        assert_eq!(
            pay_sub_code(sub::ACQ_SELLER_BEEN_BLOCKED).1,
            CashierAction::ContactAcquirer
        );
    }

    #[test]
    fn the_seed_pay_codes() {
        assert_eq!(
            pay_answer(Reply::answer("10000", None), true),
            PayStep::Success
        );
        assert_eq!(
            pay_answer(Reply::answer("10003", None), true),
            PayStep::Poll
        );
        assert_eq!(
            pay_answer(Reply::answer("20000", Some(sub::ISP_UNKNOW_ERROR)), true),
            PayStep::Resolve
        );
        assert_eq!(pay_answer(Reply::Lost, true), PayStep::Resolve);
        assert_eq!(
            pay_answer(Reply::answer("99999", None), true),
            PayStep::Resolve
        );
        // An answer not tied to the request is never believed.
        assert_eq!(
            pay_answer(Reply::answer("10000", None), false),
            PayStep::Resolve
        );
        assert_eq!(
            pay_answer(Reply::answer("40004", Some(sub::ACQ_PAYMENT_FAIL)), false),
            PayStep::Resolve
        );
    }

    #[test]
    fn a_cancel_proves_closed_only_with_its_action() {
        let ok = Reply::answer("10000", None);
        assert_eq!(cancel_seen(ok, None, Some("N")), CancelSeen::NotFound);
        assert_eq!(
            cancel_seen(ok, Some("close"), Some("N")),
            CancelSeen::Closed
        );
        assert_eq!(cancel_seen(ok, Some("refund"), None), CancelSeen::Closed);
        assert_eq!(cancel_seen(ok, Some("close"), Some("Y")), CancelSeen::Retry);
        let ne = Reply::answer("40004", Some(sub::ACQ_TRADE_NOT_EXIST));
        assert_eq!(cancel_seen(ne, None, None), CancelSeen::NotFound);
        assert_eq!(
            cancel_next(CancelSeen::NotFound, true, 0),
            CancelStep::ClosedAndWatch
        );
        assert_eq!(
            cancel_next(CancelSeen::NotFound, false, 0),
            CancelStep::Closed
        );
        assert_eq!(
            cancel_next(CancelSeen::Retry, true, 1),
            CancelStep::Retry { unknown: false }
        );
        assert_eq!(
            cancel_next(CancelSeen::Retry, true, 2),
            CancelStep::Retry { unknown: true }
        );
    }

    #[test]
    fn refund_ceiling() {
        let m = Money::from_fen;
        assert!(refund_admissible(Status::Success, m(100), m(0), m(0), m(100)).is_ok());
        assert!(refund_admissible(Status::Success, m(100), m(60), m(0), m(40)).is_ok());
        assert_eq!(
            refund_admissible(Status::Success, m(100), m(60), m(30), m(11)),
            Err(RefundRefusal::Ceiling {
                asked: m(11),
                available: m(10)
            })
        );
        assert!(matches!(
            refund_admissible(Status::Closed, m(100), m(0), m(0), m(1)),
            Err(RefundRefusal::NotPaid(Status::Closed))
        ));
    }

    #[test]
    fn notifications() {
        let facts = |status| NotifyFacts {
            app_id_ok: true,
            seller_ok: true,
            amount_ok: true,
            status,
        };
        let held = |status| {
            Some(Held {
                status,
                cancel_pending: false,
            })
        };
        assert_eq!(
            on_notification(held(Status::WaitBuyerPay), facts(NotifiedStatus::Paid)),
            NotifyStep::Apply(Status::Success)
        );
        assert_eq!(
            on_notification(held(Status::Closed), facts(NotifiedStatus::Paid)),
            NotifyStep::IncidentAndUndo
        );
        assert_eq!(
            on_notification(held(Status::Failed), facts(NotifiedStatus::Paid)),
            NotifyStep::IncidentAndUndo
        );
        assert_eq!(
            on_notification(None, facts(NotifiedStatus::Paid)),
            NotifyStep::Orphan
        );
        let mut f = facts(NotifiedStatus::Paid);
        f.amount_ok = false;
        assert_eq!(
            on_notification(held(Status::WaitBuyerPay), f),
            NotifyStep::Incident(IncidentKind::AmountMismatch)
        );
        f.amount_ok = true;
        f.seller_ok = false;
        assert_eq!(
            on_notification(held(Status::WaitBuyerPay), f),
            NotifyStep::Incident(IncidentKind::WrongSellerId)
        );
    }

    #[test]
    fn schedules() {
        assert_eq!(watch_check_at(1000, &[5, 30], 0), Some(1005));
        assert_eq!(watch_check_at(1000, &[5, 30], 1), Some(1030));
        assert_eq!(watch_check_at(1000, &[5, 30], 2), None);
        let after = [60_000, 300_000];
        assert_eq!(qr_check_at(0, 7_200_000, &after, 0), Some(60_000));
        assert_eq!(qr_check_at(0, 7_200_000, &after, 1), Some(300_000));
        assert_eq!(qr_check_at(0, 7_200_000, &after, 2), Some(7_200_000));
        assert_eq!(qr_check_at(0, 7_200_000, &after, 3), None);
        // A QR that expires in two minutes: 1 min, then expiry.
        assert_eq!(qr_check_at(0, 120_000, &after, 1), Some(120_000));
    }

    #[test]
    fn docs_carry_the_policy_tables() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ENGINE.md"))
                .expect("docs/ENGINE.md");
        let state = state_table_markdown();
        let subs = pay_sub_code_table_markdown();
        // For whoever changes the policy: the tables as they must stand.
        let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/policy-tables.md");
        let _ = std::fs::write(out, format!("{state}\n{subs}"));
        assert!(
            doc.contains(&state),
            "docs/ENGINE.md must contain the policy table exactly as policy renders it:\n{state}"
        );
        assert!(
            doc.contains(&subs),
            "docs/ENGINE.md must contain the sub-code table exactly as policy renders it:\n{subs}"
        );
    }

    proptest! {
        /// Whatever the gateway answers, a pay answer not tied to its
        /// request never makes a trade SUCCESS or FAILED.
        #[test]
        fn untied_answers_are_never_believed(r in any_reply()) {
            prop_assert_eq!(pay_answer(r, false), PayStep::Resolve);
            prop_assert_ne!(precreate_answer(r, false, true), PrecreateStep::WaitBuyer);
            prop_assert_eq!(query_seen(r, Some("TRADE_SUCCESS"), false) == Seen::Paid, false);
        }

        /// Only a cancel that names its action (or a definite refusal) ends
        /// the cancel loop without a watch while the pay may still land.
        #[test]
        fn a_cancel_without_proof_keeps_watching(r in any_reply(), fails in 0u32..5) {
            let cs = cancel_seen(r, None, None);
            let step = cancel_next(cs, true, fails);
            prop_assert_ne!(step, CancelStep::Closed);
        }

        /// 40004 is never an unknown outcome except for the two sub-codes
        /// docs/PROTOCOL.md §10 says to query; a lost answer is never final.
        #[test]
        fn only_definite_answers_are_final(r in any_reply()) {
            let step = pay_answer(r, true);
            if r == Reply::Lost {
                prop_assert_eq!(step, PayStep::Resolve);
            }
            if let Reply::Answer { code: Some(Code::BusinessFailed), sub_code } = r {
                let resolve = matches!(sub_code, Some(sub::ACQ_SYSTEM_ERROR) | Some(sub::ACQ_TRADE_HAS_SUCCESS));
                prop_assert_eq!(step == PayStep::Resolve, resolve);
            }
            let a = cashier_action(Status::Failed, Some("40004"), match r { Reply::Answer{sub_code, ..} => sub_code, _ => None });
            prop_assert!(a.is_some());
        }

        /// The refund ceiling never lets the refunded sum pass the total.
        #[test]
        fn ceiling_holds(total in 1u64..10_000_000, refunded in 0u64..10_000_000, in_flight in 0u64..10_000_000, amount in 1u64..10_000_000) {
            let m = Money::from_fen;
            if refund_admissible(Status::Success, m(total), m(refunded), m(in_flight), m(amount)).is_ok() {
                prop_assert!(refunded + in_flight + amount <= total);
            }
        }
    }
}
