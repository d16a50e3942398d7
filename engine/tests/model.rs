//! Exhaustive, bounded model checks (our own breadth-first search over small
//! hashable states; no extra crates).
//!
//! 1. [`trade_model`]: ONE barcode trade, driven by the real
//!    `engine::flow::policy` functions, against a modelled gateway ledger for
//!    its out_trade_no, under every combination of the gateway behaviours
//!    `cancel_unknown` ("success" = 10000 without action, "trade_not_exist" =
//!    40004 ACQ.TRADE_NOT_EXIST) and `late_pay_after_cancel` ("lands",
//!    "refused"). The switch side mirrors the drivers (pay.rs, cancel.rs,
//!    watch.rs, notified.rs, refund.rs, recovery.rs): every driver step is one
//!    atomic model step (apply + commit + publish under the cell's lock), a
//!    crash can happen between any two steps (everything not journaled is
//!    lost; recovery resumes from the journaled phase).
//! 2. [`cell_model`]: the cell's lock protocol (cell.rs): a pay task, a
//!    cancel task and a reader as small step machines over shared lock and
//!    flag state; every interleaving.
//!
//! The model found four bugs in the engine as first written (traces in the
//! comments of the tests named after them). All are fixed; for three the
//! former code stays a switch of the model, and a test asserts that the
//! checker still finds it, so the checker is shown able to catch them.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

use engine::flow::policy::{
    self, cancel_action, trade_status, CancelSeen, CancelStep, CloseStep, Held, NotifiedStatus,
    NotifyFacts, NotifyStep, PayStep, QueryStep, RefundStep, Reply, Seen, UndoStep, WatchStep,
};
use engine::trade::{Kind, Phase, Status};
use protocol::codes::sub;
use protocol::Money;

// ---------------------------------------------------------------------------
// A generic bounded BFS with parent pointers (for traces).
// ---------------------------------------------------------------------------

struct Explored {
    states: usize,
    transitions: usize,
    depth: usize,
    /// The first violation found: its message and the trace leading to it.
    violation: Option<(String, Vec<String>)>,
}

/// Breadth-first search from `init` up to `depth` steps. `succ` lists the
/// successors of a state with the label of the event; `check` checks a state,
/// `check_step` a transition (both return a violation message).
fn bfs<S, E>(
    init: S,
    depth: usize,
    mut succ: impl FnMut(&S, &mut Vec<(E, S)>),
    mut check: impl FnMut(&S) -> Option<String>,
    check_step: impl Fn(&S, &E, &S) -> Option<String>,
) -> Explored
where
    S: Clone + Eq + Hash,
    E: Debug + Clone,
{
    let mut index: HashMap<S, usize> = HashMap::new();
    // (state, parent, event)
    let mut nodes: Vec<(S, usize, Option<E>)> = vec![(init.clone(), usize::MAX, None)];
    index.insert(init, 0);
    let mut frontier: VecDeque<(usize, usize)> = VecDeque::from([(0, 0)]);
    let mut transitions = 0;
    let mut max_depth = 0;
    let mut buf = Vec::new();
    let trace = |nodes: &Vec<(S, usize, Option<E>)>, mut i: usize, last: Option<&E>| {
        let mut t = Vec::new();
        if let Some(e) = last {
            t.push(format!("{e:?}"));
        }
        while i != 0 {
            let (_, p, e) = &nodes[i];
            t.push(format!("{:?}", e.as_ref().expect("event")));
            i = *p;
        }
        t.reverse();
        t
    };
    if let Some(m) = check(&nodes[0].0) {
        return Explored {
            states: 1,
            transitions: 0,
            depth: 0,
            violation: Some((m, vec![])),
        };
    }
    while let Some((i, d)) = frontier.pop_front() {
        if d >= depth {
            continue;
        }
        buf.clear();
        let s = nodes[i].0.clone();
        succ(&s, &mut buf);
        for (e, n) in buf.drain(..) {
            transitions += 1;
            if let Some(m) = check_step(&s, &e, &n).or_else(|| check(&n)) {
                let t = trace(&nodes, i, Some(&e));
                return Explored {
                    states: nodes.len(),
                    transitions,
                    depth: d + 1,
                    violation: Some((m, t)),
                };
            }
            if let std::collections::hash_map::Entry::Vacant(v) = index.entry(n.clone()) {
                v.insert(nodes.len());
                nodes.push((n, i, Some(e)));
                frontier.push_back((nodes.len() - 1, d + 1));
                max_depth = max_depth.max(d + 1);
            }
        }
    }
    Explored {
        states: nodes.len(),
        transitions,
        depth: max_depth,
        violation: None,
    }
}

// ---------------------------------------------------------------------------
// Model 1: one trade, the real policy, a modelled gateway.
// ---------------------------------------------------------------------------

/// The trade's total, in fen; terminal refunds are of 1 fen each.
const TOTAL: u8 = 2;
/// poll_count in the model (the engine's default is 12; it is config).
const POLL_COUNT: u32 = 2;
/// late_landing_checks_ms in the model (the engine's default has 4).
const WATCH_OFFSETS_MS: [u64; 2] = [5_000, 30_000];
/// watch.rs MAX_UNDOS (private there).
const MAX_UNDOS: u8 = 3;
/// Crashes per run (each one restarts the switch with recovery).
const MAX_CRASHES: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum CancelUnknown {
    /// 10000 without `action` (the gateway's documented answer).
    Success,
    /// 40004 ACQ.TRADE_NOT_EXIST.
    TradeNotExist,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum LatePay {
    /// A pay that reaches the gateway after such a cancel is booked.
    Lands,
    /// It is refused (40004 ACQ.TRADE_HAS_CLOSE), nothing booked.
    Refused,
}

/// What the model lets happen (the `bug_*` switches reach the paths of the
/// violations this model found; the main test leaves them off).
#[derive(Clone, Copy, Debug)]
struct Ctx {
    cancel_unknown: CancelUnknown,
    late: LatePay,
    /// Recovery's first update (phase Resolving) is its own step, so a
    /// terminal's cancel can come before it (the listeners are up by then).
    bug_recovery_race: bool,
    /// Eviction of a final trade, then a repeat of its pay (a fresh slot
    /// meets the journal's unique insert).
    bug_evict_then_repeat: bool,
    /// Any watch query may be lost, the last check's too (off: the
    /// gateway answers at least the last check).
    bug_watch_lost_checks: bool,
    /// Crashes allowed.
    crashes: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Gw {
    NotBooked,
    Waiting,
    Paid,
    Closed,
}

/// The gateway's ledger for the one out_trade_no.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Ledger {
    st: Gw,
    /// The buyer paid at some point.
    ever_paid: bool,
    /// Refunded (by refund or by a cancel with action=refund), fen.
    refunded: u8,
    /// Refund out_request_nos applied: bit 1, 2 the terminal's, bit 3 the
    /// late-landing undo's (`LL<out_trade_no>`).
    refund_ids: u8,
    /// The action of the cancel that closed it (repeats answer the same).
    cancel_act: Option<&'static str>,
    /// A cancel found nothing booked (for `late_pay_after_cancel`).
    cancelled_unknown: bool,
    /// Past the 24 h cancel limit.
    past_24h: bool,
    /// Notifications the gateway has sent (any can be delivered again, in
    /// any order).
    note_paid: bool,
    note_closed: bool,
    /// Pay requests the gateway processed.
    pays: u8,
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            st: Gw::NotBooked,
            ever_paid: false,
            refunded: 0,
            refund_ids: 0,
            cancel_act: None,
            cancelled_unknown: false,
            past_24h: false,
            note_paid: false,
            note_closed: false,
            pays: 0,
        }
    }
    fn pay(&mut self) {
        self.st = Gw::Paid;
        self.ever_paid = true;
        self.note_paid = true;
    }
    fn close(&mut self) {
        self.st = Gw::Closed;
        self.note_closed = true;
    }
    /// The money the gateway took from the buyer and still holds.
    fn kept(&self) -> u8 {
        if self.ever_paid {
            TOTAL - self.refunded
        } else {
            0
        }
    }
}

/// The pay request on the network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Wire {
    Unsent,
    /// Sent, not yet at the gateway: it can land at any later step.
    InFlight,
    /// Landed, or died on the way.
    Gone,
}

/// The trade as the journal holds it (and as it is published).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Jt {
    status: Status,
    phase: Phase,
    never_sent: bool,
    has_watch: bool,
    checks: u8,
    undone: u8,
    refunded: u8,
    refunding: u8,
    refunds: u8,
}

impl Hash for Jt {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.status.hash(h);
        (self.phase as u8).hash(h);
        (
            self.never_sent,
            self.has_watch,
            self.checks,
            self.undone,
            self.refunded,
            self.refunding,
            self.refunds,
        )
            .hash(h);
    }
}

/// A new trade as `new_trade` builds it (PAYING, Sending).
const FRESH: Jt = Jt {
    status: Status::Paying,
    phase: Phase::Sending,
    never_sent: false,
    has_watch: false,
    checks: 0,
    undone: 0,
    refunded: 0,
    refunding: 0,
    refunds: 0,
};

/// Trade::transition: the one-way rule, and Idle once final (unless watching).
fn transition(t: &mut Jt, to: Status) -> Option<()> {
    if !t.status.can_move_to(to) {
        return None;
    }
    t.status = to;
    if to.is_final() && t.phase != Phase::Watching {
        t.phase = Phase::Idle;
    }
    Some(())
}

/// Trade::needs_recovery.
fn needs_recovery(t: &Jt) -> bool {
    matches!(
        t.status,
        Status::Paying | Status::Unknown | Status::WaitBuyerPay
    ) || matches!(t.phase, Phase::CancelPending | Phase::Watching)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum PayT {
    None,
    /// Created, send guard held, begin_send not yet done.
    BeforeSend,
    /// Sent, waiting for the answer (send guard held).
    OnWire,
    /// Recovery's first update (phase Resolving) not yet done.
    Recover,
    /// resolve_unknown, queries done.
    Resolving(u32),
    /// poll_then_cancel, polls done.
    Polling(u32),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum CancelT {
    None,
    /// close_then_cancel: the close is next.
    Close,
    /// cancel_loop, cancels without a definite answer so far (capped).
    Loop(u32),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum WatchT {
    None,
    Run {
        check_now: bool,
    },
    /// undo_late_landing: cancelling.
    Undo,
    /// undo_by_refund.
    UndoRefund,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct St {
    gw: Ledger,
    wire: Wire,
    /// None: the switch holds no trade for this out_trade_no.
    jt: Option<Jt>,
    /// The cell's `state` holds a FRESH trade, not the journaled one (see
    /// `stale_slot_after_repeat_overwrites_a_final_trade`).
    stale: bool,
    /// The slot is in the cache.
    cached: bool,
    /// This process sent the pay (in memory).
    on_wire: bool,
    pay: PayT,
    cancel: CancelT,
    watch: WatchT,
    /// What the terminal was last told.
    told: Option<Status>,
    /// alipay.trade.pay requests sent, ever.
    sends: u8,
    crashes: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Q {
    /// The query answers as the ledger stands.
    True,
    Lost,
}

/// How a cancel / close / refund request goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Call {
    /// Processed, answered.
    Answered,
    /// Processed, answer lost.
    EffectLost,
    /// Never processed (lost on the way there).
    NoEffectLost,
    /// 40004 ACQ.SYSTEM_ERROR, not processed.
    SystemError,
}

/// What the gateway does with the pay when it lands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum PayEff {
    /// Paid, 10000.
    Paid10000,
    /// Paid, 10000 naming another total_amount (not tied).
    PaidUntied,
    /// WAIT_BUYER_PAY (password), 10003.
    Waiting10003,
    /// Paid, 20000.
    Paid20000,
    /// Nothing booked, 40004 ACQ.SYSTEM_ERROR.
    NoneSystemError,
    /// Paid, 40004 ACQ.TRADE_HAS_SUCCESS.
    PaidHasSuccess,
    /// Nothing booked, 40004 ACQ.PAYMENT_AUTH_CODE_INVALID.
    NoneAuthCodeInvalid,
    /// Closed, 40004 ACQ.BUYER_BALANCE_NOT_ENOUGH.
    ClosedBalance,
}

const PAY_EFFS: [PayEff; 8] = [
    PayEff::Paid10000,
    PayEff::PaidUntied,
    PayEff::Waiting10003,
    PayEff::Paid20000,
    PayEff::NoneSystemError,
    PayEff::PaidHasSuccess,
    PayEff::NoneAuthCodeInvalid,
    PayEff::ClosedBalance,
];
const CALLS: [Call; 4] = [
    Call::Answered,
    Call::EffectLost,
    Call::NoEffectLost,
    Call::SystemError,
];
const QS: [Q; 2] = [Q::True, Q::Lost];

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Ev {
    TermPay,
    TermRepeat,
    TermCancel,
    TermClose,
    TermRefund,
    TermGet,
    BeginSend,
    /// The pay lands; `to_driver`: its answer reaches the waiting driver.
    Land(PayEff, bool),
    /// The driver's pay call times out (the request may still land).
    PayTimeout,
    /// The pay request dies on the way (never lands).
    Expire,
    Recover,
    PayQuery(Q),
    CancelCall(Call, Q),
    CloseCall(Call),
    WatchQuery(Q),
    WatchWindowPassed,
    UndoCancel(Call),
    UndoRefund(Call),
    RefundCall(Call, Q),
    /// A notification (`paid`: TRADE_SUCCESS, else TRADE_CLOSED).
    Notify {
        paid: bool,
        amount_ok: bool,
    },
    BuyerPays,
    GwExpires,
    Day,
    Evict,
    Crash,
}

// ----- the gateway -----

/// (code, sub_code, action): the answer strings.
type Answer = (&'static str, Option<&'static str>, Option<&'static str>);

fn reply(a: Answer) -> Reply<'static> {
    Reply::answer(a.0, a.1)
}

fn gw_query(gw: &Ledger, q: Q) -> Seen {
    if q == Q::Lost {
        return policy::query_seen(Reply::Lost, None, true);
    }
    let ok = Reply::answer("10000", None);
    match gw.st {
        Gw::NotBooked => policy::query_seen(
            Reply::answer("40004", Some(sub::ACQ_TRADE_NOT_EXIST)),
            None,
            true,
        ),
        Gw::Waiting => policy::query_seen(ok, Some(trade_status::WAIT_BUYER_PAY), true),
        Gw::Paid => policy::query_seen(ok, Some(trade_status::TRADE_SUCCESS), true),
        Gw::Closed => policy::query_seen(ok, Some(trade_status::TRADE_CLOSED), true),
    }
}

/// alipay.trade.cancel as the simulator (and, where documented, the gateway) does it.
fn gw_cancel(ctx: &Ctx, gw: &mut Ledger) -> Answer {
    if let Some(a) = gw.cancel_act {
        return ("10000", None, Some(a));
    }
    if gw.st == Gw::NotBooked {
        gw.cancelled_unknown = true;
        return match ctx.cancel_unknown {
            CancelUnknown::Success => ("10000", None, None),
            CancelUnknown::TradeNotExist => ("40004", Some(sub::ACQ_TRADE_NOT_EXIST), None),
        };
    }
    if gw.past_24h {
        return ("40004", Some(sub::ACQ_TRADE_CANCEL_TIME_OUT), None);
    }
    match gw.st {
        Gw::Waiting => {
            gw.close();
            gw.cancel_act = Some(cancel_action::CLOSE);
            ("10000", None, gw.cancel_act)
        }
        Gw::Paid if gw.refunded == 0 => {
            gw.refunded = TOTAL;
            gw.close();
            gw.cancel_act = Some(cancel_action::REFUND);
            ("10000", None, gw.cancel_act)
        }
        Gw::Closed if !gw.ever_paid => ("10000", None, Some(cancel_action::CLOSE)),
        _ => ("40004", Some(sub::ACQ_REASON_TRADE_REFUND_FEE_ERR), None),
    }
}

fn gw_close(gw: &mut Ledger) -> Answer {
    match gw.st {
        Gw::Waiting => {
            gw.close();
            ("10000", None, None)
        }
        Gw::NotBooked => ("40004", Some(sub::ACQ_TRADE_NOT_EXIST), None),
        _ => ("40004", Some(sub::ACQ_TRADE_STATUS_ERROR), None),
    }
}

/// alipay.trade.refund of `amount` with out_request_no bit `id`;
/// (code, sub_code, fund_change).
fn gw_refund(gw: &mut Ledger, id: u8, amount: u8) -> Answer {
    if gw.refund_ids & (1 << id) != 0 {
        return ("10000", None, Some("N"));
    }
    if gw.st == Gw::Paid && TOTAL - gw.refunded >= amount {
        gw.refund_ids |= 1 << id;
        gw.refunded += amount;
        if gw.refunded == TOTAL {
            gw.close();
        }
        return ("10000", None, Some("Y"));
    }
    ("40004", Some(sub::ACQ_TRADE_STATUS_ERROR), None)
}

/// Runs a gateway call under `call`; `None` is a lost answer.
fn call_gw(call: Call, gw: &mut Ledger, f: impl FnOnce(&mut Ledger) -> Answer) -> Option<Answer> {
    match call {
        Call::Answered => Some(f(gw)),
        Call::EffectLost => {
            f(gw);
            None
        }
        Call::NoEffectLost => None,
        Call::SystemError => Some(("40004", Some(sub::ACQ_SYSTEM_ERROR), None)),
    }
}

// ----- the switch -----

impl St {
    fn init() -> St {
        St {
            gw: Ledger::new(),
            wire: Wire::Unsent,
            jt: None,
            stale: false,
            cached: false,
            on_wire: false,
            pay: PayT::None,
            cancel: CancelT::None,
            watch: WatchT::None,
            told: None,
            sends: 0,
            crashes: 0,
        }
    }

    fn t(&self) -> Jt {
        self.jt.expect("trade")
    }

    /// Flows::update: apply `f` to a copy of the cell's state, commit,
    /// publish. `f` returning None: no change, nothing committed.
    fn update(&mut self, f: impl FnOnce(&mut Jt) -> Option<()>) -> Jt {
        let base = if self.stale { FRESH } else { self.t() };
        let mut t = base;
        if f(&mut t).is_none() {
            return self.t();
        }
        if t.status.is_final() && t.phase != Phase::Watching {
            t.phase = Phase::Idle;
        }
        self.jt = Some(t);
        self.stale = false;
        t
    }

    /// load_trade: a trade not in the cache is adopted from the journal.
    fn load(&mut self) {
        if !self.cached {
            self.cached = true;
            self.stale = false;
        }
    }

    fn send_guard_held(&self) -> bool {
        matches!(self.pay, PayT::BeforeSend | PayT::OnWire)
    }

    /// mark_cancel_pending (reading `on_wire` under the lock, as the
    /// protocol says). Returns whether "cancel pending" was committed.
    fn mark_cancel_pending(&mut self) -> bool {
        let on_wire = self.on_wire;
        let mut pending = false;
        self.update(|t| {
            if t.status.is_final() || t.phase == Phase::CancelPending {
                return None;
            }
            if t.phase == Phase::Sending && !on_wire {
                transition(t, Status::Closed)?;
                t.never_sent = true;
                return Some(());
            }
            t.phase = Phase::CancelPending;
            pending = true;
            Some(())
        });
        pending
    }

    /// cancel_until_definite.
    fn cancel_until_definite(&mut self) {
        if self.cancel != CancelT::None {
            return;
        }
        if self.mark_cancel_pending() {
            self.cancel = CancelT::Loop(0);
        }
    }

    fn should_stop(&self) -> bool {
        let t = self.t();
        t.status.is_final() || t.phase == Phase::CancelPending
    }

    /// apply_seen.
    fn apply_seen(&mut self, to: Status) {
        self.update(|t| {
            if t.phase == Phase::CancelPending || t.status.is_final() {
                return None;
            }
            transition(t, to)
        });
    }

    /// The pay driver gets its answer (drive_pay after the call).
    fn pay_answered(&mut self, r: Reply<'_>, tied: bool) {
        let step = policy::pay_answer(r, tied);
        let definite = matches!(r, Reply::Answer { .. }) && tied;
        let t = self.update(|t| {
            if t.phase != Phase::CancelPending && !t.status.is_final() {
                let mut c = *t;
                let ok = match (step, definite) {
                    (PayStep::Success, true) => transition(&mut c, Status::Success),
                    (PayStep::Poll, _) => {
                        c.phase = Phase::Polling;
                        Some(())
                    }
                    (PayStep::Fail, true) => transition(&mut c, Status::Failed),
                    _ => {
                        c.phase = Phase::Resolving;
                        Some(())
                    }
                };
                if ok.is_some() {
                    *t = c;
                }
            }
            Some(()) // the answer is journaled in any case
        });
        // The send guard is dropped here.
        self.pay = PayT::None;
        if t.phase == Phase::CancelPending || t.status.is_final() {
            return;
        }
        match step {
            PayStep::Poll => self.pay = PayT::Polling(0),
            PayStep::Resolve => self.pay = PayT::Resolving(0),
            PayStep::Success | PayStep::Fail => {}
        }
    }

    /// Flows::notified, for a verified notification.
    fn notified(&mut self, paid: bool, amount_ok: bool) {
        let Some(held) = self.jt else {
            return; // orphan
        };
        self.load();
        let facts = NotifyFacts {
            app_id_ok: true,
            seller_ok: true,
            amount_ok,
            status: if paid {
                NotifiedStatus::Paid
            } else {
                NotifiedStatus::Closed
            },
        };
        let h = |t: &Jt| Held {
            status: t.status,
            cancel_pending: t.phase == Phase::CancelPending,
        };
        let step = policy::on_notification(Some(h(&held)), facts);
        match step {
            NotifyStep::Orphan | NotifyStep::Incident(_) => {}
            NotifyStep::IncidentAndUndo => {
                // watch_now
                self.update(|t| {
                    if !t.status.is_final() || t.phase == Phase::Watching {
                        return None;
                    }
                    t.phase = Phase::Watching;
                    t.has_watch = true;
                    t.checks = 0;
                    Some(())
                });
                // start_watch(check_now). A second run_watch next to a
                // running one is folded into the running one.
                match self.watch {
                    WatchT::None | WatchT::Run { .. } => {
                        self.watch = WatchT::Run { check_now: true }
                    }
                    WatchT::Undo | WatchT::UndoRefund => {}
                }
            }
            NotifyStep::Journal | NotifyStep::Apply(_) => {
                self.update(|t| {
                    if let NotifyStep::Apply(st) = step {
                        if policy::on_notification(Some(h(t)), facts) == step {
                            let _ = transition(t, st);
                        }
                    }
                    Some(()) // the notification event is journaled
                });
            }
        }
    }

    /// One round of cancel_loop (the cancel, and the query after a refused one).
    fn cancel_round(&mut self, ctx: &Ctx, call: Call, q: Q, failures: u32) {
        let t = self.t();
        if t.status.is_final() {
            self.cancel = CancelT::None;
            return;
        }
        let may_land = policy::may_land(Kind::Pay, t.never_sent);
        let seen = match call_gw(call, &mut self.gw, |g| gw_cancel(ctx, g)) {
            Some(a) => policy::cancel_seen(reply(a), a.2, Some("N")),
            None => CancelSeen::Retry,
        };
        let mut failures = failures;
        if seen == CancelSeen::Retry {
            failures = (failures + 1).min(policy::CANCEL_FAILURES_TO_UNKNOWN + 1);
        }
        let mut step = policy::cancel_next(seen, may_land, failures);
        if step == CancelStep::Query {
            let seen = gw_query(&self.gw, q);
            if policy::refused_cancel_is_paid(seen) {
                self.update(|t| transition(t, Status::Success));
                self.cancel = CancelT::None;
                return;
            }
            step = policy::refused_cancel_after_query(seen, may_land);
        }
        match step {
            CancelStep::Closed | CancelStep::ClosedAndWatch => {
                let watch = step == CancelStep::ClosedAndWatch;
                self.update(|t| {
                    transition(t, Status::Closed)?;
                    if watch {
                        t.phase = Phase::Watching;
                        t.has_watch = true;
                        t.checks = 0;
                        t.undone = 0;
                    }
                    Some(())
                });
                self.cancel = CancelT::None;
                if watch && self.watch == WatchT::None {
                    self.watch = WatchT::Run { check_now: false };
                }
            }
            CancelStep::Retry { unknown } => {
                self.update(|t| {
                    if unknown && t.status != Status::Unknown {
                        transition(t, Status::Unknown)?;
                    }
                    Some(())
                });
                self.cancel = CancelT::Loop(failures);
            }
            CancelStep::Query => unreachable!("resolved above"),
        }
    }

    fn quiescent(&self) -> bool {
        match self.jt {
            None => false,
            Some(t) => {
                self.pay == PayT::None
                    && self.cancel == CancelT::None
                    && self.watch == WatchT::None
                    && t.refunding == 0
                    && self.wire != Wire::InFlight
                    && !matches!(t.phase, Phase::Watching | Phase::CancelPending)
            }
        }
    }
}

fn successors(ctx: &Ctx, s: &St, out: &mut Vec<(Ev, St)>) {
    let mut push = |e: Ev, f: &dyn Fn(&mut St)| {
        let mut n = *s;
        f(&mut n);
        if n != *s {
            out.push((e, n));
        }
    };
    let exists = s.jt.is_some();

    // ---- the terminal ----
    if !exists {
        push(Ev::TermPay, &|n| {
            n.jt = Some(FRESH);
            n.cached = true;
            n.pay = PayT::BeforeSend;
        });
    } else {
        // A repeat never sends: a cached slot answers its state; an
        // uncached one meets the journal's unique insert (create_or_existing
        // keeps the fresh trade in `state`: the stale slot).
        let repeat_stale = !s.cached && ctx.bug_evict_then_repeat;
        push(Ev::TermRepeat, &|n| {
            if !n.cached {
                n.cached = true;
                n.stale = repeat_stale;
            }
        });
        push(Ev::TermGet, &|n| {
            n.load();
            n.told = Some(n.t().status);
        });
        let t = s.t();
        if !t.status.is_final() {
            push(Ev::TermCancel, &|n| {
                n.load();
                if n.cancel == CancelT::None && n.mark_cancel_pending() {
                    n.cancel = CancelT::Loop(0);
                }
            });
            push(Ev::TermClose, &|n| {
                n.load();
                if n.cancel == CancelT::None && n.mark_cancel_pending() {
                    n.cancel = CancelT::Close;
                }
            });
        }
        if t.status == Status::Success && t.refunding == 0 && t.refunds < TOTAL {
            push(Ev::TermRefund, &|n| {
                n.load();
                n.update(|t| {
                    policy::refund_admissible(
                        t.status,
                        Money::from_fen(TOTAL.into()),
                        Money::from_fen(t.refunded.into()),
                        Money::from_fen(t.refunding.into()),
                        Money::from_fen(1),
                    )
                    .ok()?;
                    t.refunding += 1;
                    t.refunds += 1;
                    Some(())
                });
            });
        }
        if ctx.bug_evict_then_repeat
            && s.cached
            && t.status.is_final()
            && t.phase != Phase::Watching
            && s.pay == PayT::None
            && s.cancel == CancelT::None
            && s.watch == WatchT::None
            && t.refunding == 0
        {
            push(Ev::Evict, &|n| {
                n.cached = false;
                n.stale = false;
            });
        }
    }

    // ---- the pay driver ----
    match s.pay {
        PayT::None => {}
        PayT::BeforeSend => push(Ev::BeginSend, &|n| {
            let t = n.t();
            if t.status.is_final() || t.phase == Phase::CancelPending {
                n.pay = PayT::None; // a cancel came first: nothing is sent
                return;
            }
            n.on_wire = true;
            n.sends += 1;
            n.wire = Wire::InFlight;
            n.pay = PayT::OnWire;
        }),
        PayT::OnWire => push(Ev::PayTimeout, &|n| n.pay_answered(Reply::Lost, true)),
        PayT::Recover => push(Ev::Recover, &|n| {
            n.update(|t| {
                t.phase = Phase::Resolving;
                Some(())
            });
            n.pay = PayT::Resolving(0);
        }),
        PayT::Resolving(done) => {
            for q in QS {
                push(Ev::PayQuery(q), &|n| {
                    if n.should_stop() {
                        n.pay = PayT::None;
                        return;
                    }
                    let seen = gw_query(&n.gw, q);
                    match policy::resolve_after_query(seen, done + 1) {
                        QueryStep::Final(st) => {
                            n.apply_seen(st);
                            n.pay = PayT::None;
                        }
                        QueryStep::Poll => {
                            n.update(|t| {
                                if t.status.is_final() || t.phase == Phase::CancelPending {
                                    return None;
                                }
                                t.phase = Phase::Polling;
                                Some(())
                            });
                            n.pay = PayT::Polling(0);
                        }
                        QueryStep::Again => n.pay = PayT::Resolving(done + 1),
                        QueryStep::Cancel => {
                            n.pay = PayT::None;
                            n.cancel_until_definite();
                        }
                    }
                });
            }
        }
        PayT::Polling(done) => {
            for q in QS {
                push(Ev::PayQuery(q), &|n| {
                    if n.should_stop() {
                        n.pay = PayT::None;
                        return;
                    }
                    let seen = gw_query(&n.gw, q);
                    match policy::poll_after_query(seen, done + 1, POLL_COUNT) {
                        QueryStep::Final(st) => {
                            n.apply_seen(st);
                            n.pay = PayT::None;
                        }
                        QueryStep::Again | QueryStep::Poll if done + 1 < POLL_COUNT => {
                            n.pay = PayT::Polling(done + 1)
                        }
                        _ => {
                            n.pay = PayT::None;
                            n.cancel_until_definite();
                        }
                    }
                });
            }
        }
    }

    // ---- the pay request on the network ----
    if s.wire == Wire::InFlight {
        push(Ev::Expire, &|n| n.wire = Wire::Gone);
        for eff in PAY_EFFS {
            for to_driver in [true, false] {
                if to_driver && s.pay != PayT::OnWire {
                    continue;
                }
                push(Ev::Land(eff, to_driver), &|n| {
                    n.wire = Wire::Gone;
                    n.gw.pays += 1;
                    let refused = n.gw.cancelled_unknown && ctx.late == LatePay::Refused;
                    let (a, tied): (Answer, bool) = if refused || n.gw.st != Gw::NotBooked {
                        (("40004", Some(sub::ACQ_TRADE_HAS_CLOSE), None), true)
                    } else {
                        match eff {
                            PayEff::Paid10000 => {
                                n.gw.pay();
                                (("10000", None, None), true)
                            }
                            PayEff::PaidUntied => {
                                n.gw.pay();
                                (("10000", None, None), false)
                            }
                            PayEff::Waiting10003 => {
                                n.gw.st = Gw::Waiting;
                                (("10003", None, None), true)
                            }
                            PayEff::Paid20000 => {
                                n.gw.pay();
                                (("20000", Some(sub::ISP_UNKNOW_ERROR), None), true)
                            }
                            PayEff::NoneSystemError => {
                                (("40004", Some(sub::ACQ_SYSTEM_ERROR), None), true)
                            }
                            PayEff::PaidHasSuccess => {
                                n.gw.pay();
                                (("40004", Some(sub::ACQ_TRADE_HAS_SUCCESS), None), true)
                            }
                            PayEff::NoneAuthCodeInvalid => (
                                ("40004", Some(sub::ACQ_PAYMENT_AUTH_CODE_INVALID), None),
                                true,
                            ),
                            PayEff::ClosedBalance => {
                                n.gw.close();
                                (
                                    ("40004", Some(sub::ACQ_BUYER_BALANCE_NOT_ENOUGH), None),
                                    true,
                                )
                            }
                        }
                    };
                    if n.pay == PayT::OnWire {
                        if to_driver {
                            n.pay_answered(reply(a), tied);
                        } else {
                            n.pay_answered(Reply::Lost, true);
                        }
                    }
                });
            }
        }
    }

    // ---- the cancel task (waits for the send guard) ----
    if !s.send_guard_held() {
        match s.cancel {
            CancelT::None => {}
            CancelT::Close => {
                for call in CALLS {
                    push(Ev::CloseCall(call), &|n| {
                        let r = match call_gw(call, &mut n.gw, gw_close) {
                            Some(a) => reply(a),
                            None => Reply::Lost,
                        };
                        if policy::close_answer(r) == CloseStep::Closed {
                            n.update(|t| transition(t, Status::Closed));
                            n.cancel = CancelT::None;
                        } else {
                            n.cancel = CancelT::Loop(0);
                        }
                    });
                }
            }
            CancelT::Loop(failures) => {
                for call in CALLS {
                    for q in QS {
                        push(Ev::CancelCall(call, q), &|n| {
                            n.cancel_round(ctx, call, q, failures)
                        });
                    }
                }
            }
        }
    }

    // ---- the late-landing watch ----
    if let Some(t) = s.jt {
        match s.watch {
            WatchT::None => {}
            WatchT::Run { check_now } => {
                let window = !check_now
                    && policy::watch_check_at(0, &WATCH_OFFSETS_MS, t.checks.into()).is_none();
                if t.phase != Phase::Watching || !t.has_watch {
                    push(Ev::WatchWindowPassed, &|n| n.watch = WatchT::None);
                } else if window {
                    // Time assumption: the window outlasts any request.
                    if s.wire != Wire::InFlight {
                        push(Ev::WatchWindowPassed, &|n| {
                            n.update(|t| {
                                t.phase = Phase::Idle;
                                Some(())
                            });
                            n.watch = WatchT::None;
                        });
                    }
                } else {
                    let last = usize::from(t.checks) + 1 == WATCH_OFFSETS_MS.len();
                    if check_now || !last || s.wire != Wire::InFlight {
                        // Every check may go unanswered, the last one too: an
                        // unanswered check is repeated, never used up.
                        let qs: &[Q] = &QS;
                        let _ = ctx.bug_watch_lost_checks;
                        for &q in qs {
                            push(Ev::WatchQuery(q), &|n| {
                                let seen = gw_query(&n.gw, q);
                                match policy::watch_after_query(seen) {
                                    // An extra check (check_now, from a paid
                                    // notification) does not use up a scheduled one.
                                    WatchStep::Continue => {
                                        if !check_now {
                                            n.update(|t| {
                                                t.checks += 1;
                                                Some(())
                                            });
                                        }
                                        n.watch = WatchT::Run { check_now: false };
                                    }
                                    // No answer: the same check is repeated.
                                    WatchStep::Retry => {}
                                    WatchStep::Done => {
                                        n.update(|t| {
                                            t.phase = Phase::Idle;
                                            Some(())
                                        });
                                        n.watch = WatchT::None;
                                    }
                                    WatchStep::Undo if t.undone >= MAX_UNDOS => {
                                        n.update(|t| {
                                            t.phase = Phase::Idle;
                                            Some(())
                                        });
                                        n.watch = WatchT::None;
                                    }
                                    WatchStep::Undo => n.watch = WatchT::Undo,
                                }
                            });
                        }
                    }
                }
            }
            WatchT::Undo => {
                for call in CALLS {
                    push(Ev::UndoCancel(call), &|n| {
                        let step = match call_gw(call, &mut n.gw, |g| gw_cancel(ctx, g)) {
                            Some(a) => policy::undo_after_cancel(
                                reply(a),
                                policy::cancel_seen(reply(a), a.2, Some("N")),
                            ),
                            None => UndoStep::Retry,
                        };
                        match step {
                            UndoStep::Done => {
                                n.update(|t| {
                                    t.undone += 1;
                                    Some(())
                                });
                                n.watch = WatchT::Run { check_now: true };
                            }
                            UndoStep::Refund => n.watch = WatchT::UndoRefund,
                            UndoStep::Retry => {}
                        }
                    });
                }
            }
            WatchT::UndoRefund => {
                for call in CALLS {
                    push(Ev::UndoRefund(call), &|n| {
                        if let Some(a) = call_gw(call, &mut n.gw, |g| gw_refund(g, 3, TOTAL)) {
                            if policy::refund_answer(reply(a), a.2) != RefundStep::Failed
                                && a.0 == "10000"
                            {
                                n.update(|t| {
                                    t.undone += 1;
                                    Some(())
                                });
                                n.watch = WatchT::Run { check_now: true };
                            }
                        }
                    });
                }
            }
        }

        // ---- the refund driver (the journal's UNKNOWN refund) ----
        if t.refunding > 0 {
            let id = t.refunds;
            for call in CALLS {
                for q in QS {
                    push(Ev::RefundCall(call, q), &|n| {
                        let mut step = match call_gw(call, &mut n.gw, |g| gw_refund(g, id, 1)) {
                            Some(a) => policy::refund_answer(reply(a), a.2),
                            None => RefundStep::Query,
                        };
                        if step == RefundStep::Query {
                            let r = match q {
                                Q::Lost => Reply::Lost,
                                Q::True => Reply::answer("10000", None),
                            };
                            let applied = n.gw.refund_ids & (1 << id) != 0;
                            step = policy::refund_query_answer(
                                r,
                                (q == Q::True && applied).then_some(policy::REFUND_SUCCESS),
                            );
                            if step != RefundStep::Success {
                                return; // query again later
                            }
                        }
                        n.update(|t| {
                            t.refunding -= 1;
                            if step == RefundStep::Success && t.refunded < TOTAL {
                                t.refunded += 1;
                            }
                            Some(())
                        });
                    });
                }
            }
        }

        // ---- crash, and recovery from the journal ----
        if s.crashes < ctx.crashes {
            push(Ev::Crash, &|n| {
                n.crashes += 1;
                n.on_wire = false;
                n.stale = false;
                n.pay = PayT::None;
                n.cancel = CancelT::None;
                n.watch = WatchT::None;
                let t = n.t();
                n.cached = needs_recovery(&t) || t.refunding > 0;
                if !needs_recovery(&t) {
                    return;
                }
                if t.phase == Phase::Watching {
                    n.watch = WatchT::Run { check_now: false };
                } else if t.phase == Phase::CancelPending {
                    n.cancel = CancelT::Loop(0);
                } else if ctx.bug_recovery_race {
                    n.pay = PayT::Recover;
                } else {
                    n.update(|t| {
                        t.phase = Phase::Resolving;
                        Some(())
                    });
                    n.pay = PayT::Resolving(0);
                }
            });
        }
    }

    // ---- notifications (the gateway's, repeated and reordered; and
    // mismatched ones, which may come at any time) ----
    if exists {
        for paid in [true, false] {
            let sent = if paid {
                s.gw.note_paid
            } else {
                s.gw.note_closed
            };
            if sent {
                push(
                    Ev::Notify {
                        paid,
                        amount_ok: true,
                    },
                    &|n| n.notified(paid, true),
                );
            }
            push(
                Ev::Notify {
                    paid,
                    amount_ok: false,
                },
                &|n| n.notified(paid, false),
            );
        }
    }

    // ---- the buyer and the gateway's clock ----
    if s.gw.st == Gw::Waiting {
        push(Ev::BuyerPays, &|n| n.gw.pay());
        push(Ev::GwExpires, &|n| n.gw.close());
    }
    if s.gw.st != Gw::NotBooked && !s.gw.past_24h {
        push(Ev::Day, &|n| n.gw.past_24h = true);
    }
}

/// Invariants of one state.
fn check_state(s: &St) -> Option<String> {
    if s.sends > 1 || s.gw.pays > 1 {
        return Some(format!(
            "two payments for one out_trade_no: {} pay requests sent, {} processed",
            s.sends, s.gw.pays
        ));
    }
    let t = s.jt?;
    if t.refunded > TOTAL {
        return Some("refunded more than the total".into());
    }
    if s.quiescent() {
        if !t.status.is_final() {
            return Some(format!(
                "nothing runs any more but the trade is {}",
                t.status.as_str()
            ));
        }
        let sw_kept = if t.status == Status::Success {
            TOTAL - t.refunded
        } else {
            0
        };
        if sw_kept != s.gw.kept() || (t.status == Status::Success && !s.gw.ever_paid) {
            return Some(format!(
                "the terminal is told {} (switch keeps {sw_kept} fen) but the gateway keeps {} fen of the buyer's money ({:?})",
                t.status.as_str(),
                s.gw.kept(),
                s.gw.st
            ));
        }
        if let Some(told) = s.told {
            if told.is_final() && told != t.status {
                return Some(format!(
                    "the terminal was told {} but the trade ended {}",
                    told.as_str(),
                    t.status.as_str()
                ));
            }
        }
    }
    None
}

/// Invariants of one transition.
fn check_step(a: &St, e: &Ev, b: &St) -> Option<String> {
    if let (Some(x), Some(y)) = (a.jt, b.jt) {
        if !x.status.can_move_to(y.status) || (x.status.is_final() && y.status != x.status) {
            return Some(format!(
                "the status moved {} -> {} (journaled)",
                x.status.as_str(),
                y.status.as_str()
            ));
        }
    }
    if let Ev::Notify {
        amount_ok: false, ..
    } = e
    {
        if a.jt != b.jt {
            return Some("a notification with a mismatched amount changed the trade".into());
        }
    }
    None
}

/// Kinds of state reached (counted per transition into them), so that the
/// check cannot pass by exploring nothing interesting.
#[derive(Default, Debug)]
struct Coverage {
    late_landing_undone: usize,
    stopped_before_send: usize,
    success_refunded: usize,
    closed_by_cancel_refund: usize,
    failed: usize,
    quiescent: usize,
}

fn run_trade_model_cov(ctx: Ctx, depth: usize) -> (Explored, Coverage) {
    let mut cov = Coverage::default();
    let e = bfs(
        St::init(),
        depth,
        |s, out| successors(&ctx, s, out),
        |s: &St| {
            if let Some(t) = s.jt {
                cov.late_landing_undone += usize::from(t.undone > 0);
                cov.stopped_before_send += usize::from(t.never_sent);
                cov.success_refunded +=
                    usize::from(t.status == Status::Success && t.refunded == TOTAL);
                cov.closed_by_cancel_refund += usize::from(
                    t.status == Status::Closed && s.gw.cancel_act == Some(cancel_action::REFUND),
                );
                cov.failed += usize::from(t.status == Status::Failed);
                cov.quiescent += usize::from(s.quiescent());
            }
            check_state(s)
        },
        check_step,
    );
    (e, cov)
}

fn run_trade_model(ctx: Ctx, depth: usize) -> Explored {
    run_trade_model_cov(ctx, depth).0
}

fn report(name: &str, ctx: &Ctx, e: &Explored) {
    println!(
        "{name}: {ctx:?}: {} states, {} transitions, depth {}",
        e.states, e.transitions, e.depth
    );
}

fn assert_no_violation(name: &str, e: &Explored) {
    if let Some((m, trace)) = &e.violation {
        panic!(
            "{name}: VIOLATION: {m}\ntrace ({} steps):\n  {}",
            trace.len(),
            trace.join("\n  ")
        );
    }
}

/// The depth bound of the trade model (events per run). Every counter of
/// the model is bounded, so the reachable space is finite: at this bound the
/// search reaches its fixpoint (the deepest new state is found well before
/// it), i.e. the check is exhaustive, not merely bounded.
const TRADE_DEPTH: usize = 40;

#[test]
fn trade_model() {
    let mut total = 0;
    for cancel_unknown in [CancelUnknown::Success, CancelUnknown::TradeNotExist] {
        for late in [LatePay::Lands, LatePay::Refused] {
            let ctx = base_ctx(cancel_unknown, late);
            let (e, cov) = run_trade_model_cov(ctx, TRADE_DEPTH);
            report("trade_model", &ctx, &e);
            println!("  reached: {cov:?}");
            assert_no_violation("trade_model", &e);
            assert!(
                cov.stopped_before_send > 0 && cov.success_refunded > 0,
                "{cov:?}"
            );
            assert!(cov.closed_by_cancel_refund > 0 && cov.failed > 0, "{cov:?}");
            assert!(cov.quiescent > 100, "{cov:?}");
            if late == LatePay::Lands {
                assert!(cov.late_landing_undone > 0, "{cov:?}");
            }
            assert!(
                e.depth < TRADE_DEPTH,
                "fixpoint not reached within the bound"
            );
            assert!(e.states > 4_000, "explored too little: {}", e.states);
            total += e.states;
        }
    }
    println!("trade_model: {total} states in all, depth bound {TRADE_DEPTH}");
}

/// The engine as it is (no former bug switched on), up to MAX_CRASHES crashes.
fn base_ctx(cancel_unknown: CancelUnknown, late: LatePay) -> Ctx {
    Ctx {
        cancel_unknown,
        late,
        bug_recovery_race: false,
        bug_evict_then_repeat: false,
        bug_watch_lost_checks: false,
        crashes: MAX_CRASHES,
    }
}

/// The trade model with one `bug_*` switch on (the engine's code as it was
/// before the fix), in every behaviour combination: the checker must find the
/// violation in at least one of them (so it would catch the bug again).
fn former_bug_is_found(name: &str, f: impl Fn(&mut Ctx)) {
    let mut found = 0;
    for cancel_unknown in [CancelUnknown::Success, CancelUnknown::TradeNotExist] {
        for late in [LatePay::Lands, LatePay::Refused] {
            let mut ctx = base_ctx(cancel_unknown, late);
            f(&mut ctx);
            let e = run_trade_model(ctx, TRADE_DEPTH);
            report(name, &ctx, &e);
            if let Some((msg, trace)) = &e.violation {
                println!(
                    "{name}: found as expected: {msg}\n  trace: {}",
                    trace.join(", ")
                );
                found += 1;
            }
        }
    }
    assert!(
        found > 0,
        "{name}: the model no longer finds the former bug"
    );
}

/// The trade model with one `bug_*` switch on, every behaviour combination.
fn trade_model_with(name: &str, f: impl Fn(&mut Ctx)) {
    for cancel_unknown in [CancelUnknown::Success, CancelUnknown::TradeNotExist] {
        for late in [LatePay::Lands, LatePay::Refused] {
            let mut ctx = base_ctx(cancel_unknown, late);
            f(&mut ctx);
            let e = run_trade_model(ctx, TRADE_DEPTH);
            report(name, &ctx, &e);
            assert_no_violation(name, &e);
        }
    }
}

/// Bug (recovery.rs with cancel.rs `mark_cancel_pending`): after a crash
/// between the pay's send and its answer the journal still says PAYING /
/// Sending, and the new process's slot has `on_wire == false`. Recovery's
/// first update (phase Resolving) runs in a spawned task, after the
/// listeners are up; a terminal cancel that takes the lock before it sees
/// `phase == Sending && !on_wire` and closes the trade as `never_sent`, so
/// `may_land` is false and no late-landing watch starts. Trace
/// (cancel_unknown = success, late_pay_after_cancel = lands):
///   TermPay, BeginSend, Crash, TermCancel (CLOSED, never_sent),
///   Land(Paid10000) -> the terminal holds CLOSED, the gateway holds the
///   buyer's 2 fen, nothing watches.
/// The same race also lets recovery's `phase = Resolving` overwrite the
/// `Watching` phase a fast cancel loop committed (update forces Idle), which
/// stops that watch.
/// Fixed in the engine (a slot read from the journal starts `on_wire`, and
/// recovery's first update leaves a final or cancel-pending trade alone);
/// the model keeps the former code as a switch and must still find it.
#[test]
fn recovery_race_cancel_closes_a_sent_pay_as_never_sent() {
    former_bug_is_found("recovery_race", |c| c.bug_recovery_race = true);
}

/// Bug (cell.rs `create_or_existing`, the `StoreError::Exists` arm): a
/// repeat of a pay whose trade is in the journal but not in the cache
/// (evicted, or final before a restart) makes a fresh slot whose `tx` is
/// replaced by the journaled trade but whose `state` mutex keeps the *fresh*
/// PAYING / Sending trade. The next `update` on that slot starts from the
/// fresh copy and commits it. Trace (any behaviour):
///   TermPay, BeginSend, Land(Paid10000, answered) (SUCCESS), Evict,
///   TermRepeat (stale slot), Notify{paid, amount ok} (policy: Journal ->
///   update commits the fresh trade) -> the journal moves SUCCESS -> PAYING.
/// Also: a refund of that SUCCESS trade is refused (NotPaid(Paying)), and a
/// paid notification for a CLOSED one starts no watch.
/// Fix: `*guard = existing.clone()` before publishing it.
/// Fixed in the engine (`*guard = existing`); the model keeps the former
/// code as a switch and must still find it.
#[test]
fn stale_slot_after_repeat_overwrites_a_final_trade() {
    former_bug_is_found("evict_then_repeat", |c| c.bug_evict_then_repeat = true);
}

/// Weakness (watch.rs `run_watch` with `policy::watch_after_query`): a
/// watch query without an answer (Seen::Unknown) is `Continue` and uses up a
/// check like a definite ACQ.TRADE_NOT_EXIST, so a gateway that does not
/// answer the last checks ends the window with a late payment undone by
/// nobody. Trace (cancel_unknown = success, late = lands):
///   TermPay, BeginSend, TermCancel (cancel pending), PayTimeout,
///   CancelCall(answered: 10000 without action -> CLOSED + watch),
///   Land(Paid10000), WatchQuery(Lost), WatchQuery(Lost), WatchWindowPassed
///   -> told CLOSED, the gateway keeps 2 fen.
/// (The main model assumes the last check is answered.) A paid
/// notification's extra `check_now` query also uses up a scheduled check.
/// Fixed: an unanswered watch query is `WatchStep::Retry` (the check is
/// repeated, not used up), and an extra check does not use up a scheduled
/// one; this runs the model with every check possibly unanswered.
#[test]
fn lost_watch_queries_do_not_use_up_the_window() {
    trade_model_with("watch_lost_checks", |c| c.bug_watch_lost_checks = true);
}

// ---------------------------------------------------------------------------
// Model 2: the cell's lock protocol.
// ---------------------------------------------------------------------------

/// A version of the trade in the cell (what `state`, `tx` and the journal hold).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum V {
    /// PAYING / Sending, as created.
    Fresh,
    /// CLOSED, never_sent (a cancel stopped the pay before its send).
    ClosedNeverSent,
    /// phase CancelPending.
    CancelPending,
    /// The pay's answer applied (SUCCESS).
    Answered,
}

impl V {
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
    fn is_final(self) -> bool {
        matches!(self, V::ClosedNeverSent | V::Answered)
    }
}

const DONE: u8 = 99;
const P: u8 = 0; // the pay task (creator)
const C: u8 = 1; // a terminal's cancel
const R: u8 = 2; // a reader (GET)

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Cell {
    pc: [u8; 3],
    /// Who holds `state` / `send_guard`.
    state_lock: Option<u8>,
    send_guard: Option<u8>,
    in_map: bool,
    durable: bool,
    on_wire: bool,
    /// The `state` mutex's content, `tx` (published), the journal's versions.
    mem: V,
    tx: V,
    committed: u8,
    /// A change committed but not yet published (per task).
    pending: [Option<V>; 3],
    /// The cancel's read of `on_wire`.
    c_on_wire: bool,
    pay_sent: bool,
    pay_done: bool,
    /// The pay task ended without sending.
    pay_never: bool,
    cancel_sent: bool,
    never_sent_closed: bool,
}

#[derive(Clone, Copy, Debug)]
struct CellCtx {
    /// `mark_cancel_pending` reads `on_wire` before it takes `state` (as
    /// cancel.rs does); off: it reads it under `state` (as the protocol says).
    pre_read_on_wire: bool,
    /// The creator's commit may fail.
    commit_may_fail: bool,
}

fn cell_init() -> Cell {
    Cell {
        pc: [0; 3],
        state_lock: None,
        send_guard: None,
        in_map: false,
        durable: false,
        on_wire: false,
        mem: V::Fresh,
        tx: V::Fresh,
        committed: 0,
        pending: [None; 3],
        c_on_wire: false,
        pay_sent: false,
        pay_done: false,
        pay_never: false,
        cancel_sent: false,
        never_sent_closed: false,
    }
}

/// (task, pc) as the event label.
type CellEv = (&'static str, u8);

fn cell_successors(ctx: &CellCtx, s: &Cell, out: &mut Vec<(CellEv, Cell)>) {
    let names = ["pay", "cancel", "reader"];
    for task in [P, C, R] {
        let pc = s.pc[task as usize];
        if pc == DONE {
            continue;
        }
        let mut alts: Vec<Cell> = Vec::new();
        let mut n = *s;
        let lock = |n: &mut Cell| -> bool {
            if n.state_lock.is_some() {
                return false; // blocked
            }
            n.state_lock = Some(task);
            true
        };
        let go = |n: &mut Cell, pc: u8| n.pc[task as usize] = pc;
        match (task, pc) {
            // ---- the pay task: create_or_existing, drive_pay ----
            (P, 0) => {
                n.send_guard = Some(P); // try_lock on a new slot: free
                go(&mut n, 1);
            }
            (P, 1) => {
                if lock(&mut n) {
                    go(&mut n, 2);
                }
            }
            (P, 2) => {
                n.in_map = true;
                go(&mut n, 3);
            }
            (P, 3) => {
                if ctx.commit_may_fail {
                    let mut f = n;
                    f.in_map = false;
                    f.state_lock = None;
                    f.send_guard = None;
                    f.pay_never = true;
                    f.pc[0] = DONE;
                    alts.push(f);
                }
                n.committed |= V::Fresh.bit();
                n.durable = true;
                go(&mut n, 4);
            }
            (P, 4) => {
                n.state_lock = None;
                go(&mut n, 5);
            }
            (P, 5) => {
                if lock(&mut n) {
                    go(&mut n, 6);
                }
            }
            (P, 6) => {
                // begin_send
                n.state_lock = None;
                if n.mem.is_final() || n.mem == V::CancelPending {
                    n.pay_never = true;
                    go(&mut n, 12);
                } else {
                    n.on_wire = true;
                    go(&mut n, 7);
                }
            }
            (P, 7) => {
                n.pay_sent = true;
                go(&mut n, 8);
            }
            (P, 8) => {
                n.pay_done = true;
                go(&mut n, 9);
            }
            (P, 9) => {
                if lock(&mut n) {
                    go(&mut n, 10);
                }
            }
            (P, 10) => {
                // apply_answer: commit (the answer is journaled either way)
                let v = if n.mem == V::CancelPending || n.mem.is_final() {
                    n.mem
                } else {
                    V::Answered
                };
                n.committed |= v.bit();
                n.pending[0] = Some(v);
                go(&mut n, 11);
            }
            (P, 11) => {
                let v = n.pending[0].take().expect("pending");
                n.mem = v;
                n.tx = v;
                n.state_lock = None;
                go(&mut n, 12);
            }
            (P, 12) => {
                n.send_guard = None;
                go(&mut n, DONE);
            }
            // ---- the cancel: visible_slot, mark_cancel_pending, cancel_loop ----
            (C, 0) | (R, 0) => {
                let next = if n.in_map { 1 } else { DONE };
                go(&mut n, next);
            }
            (C, 1) | (R, 1) => {
                // Slot::current
                if n.durable {
                    go(&mut n, 4);
                } else if lock(&mut n) {
                    go(&mut n, 2);
                }
            }
            (C, 2) | (R, 2) => {
                n.state_lock = None;
                go(&mut n, 3);
            }
            (C, 3) | (R, 3) => {
                let next = if n.durable { 4 } else { DONE };
                go(&mut n, next);
            }
            (C, 4) | (R, 4) => {
                // reads tx (checked by the invariant: committed)
                if task == R || n.tx.is_final() {
                    go(&mut n, DONE);
                } else {
                    go(&mut n, 5);
                }
            }
            (C, 5) => {
                n.c_on_wire = n.on_wire;
                go(&mut n, 6);
            }
            (C, 6) => {
                if lock(&mut n) {
                    if !ctx.pre_read_on_wire {
                        n.c_on_wire = n.on_wire;
                    }
                    go(&mut n, 7);
                }
            }
            (C, 7) => {
                if n.mem.is_final() || n.mem == V::CancelPending {
                    n.state_lock = None;
                    go(&mut n, DONE);
                } else {
                    let v = if n.mem == V::Fresh && !n.c_on_wire {
                        n.never_sent_closed = true;
                        V::ClosedNeverSent
                    } else {
                        V::CancelPending
                    };
                    n.committed |= v.bit();
                    n.pending[1] = Some(v);
                    go(&mut n, 8);
                }
            }
            (C, 8) => {
                let v = n.pending[1].take().expect("pending");
                n.mem = v;
                n.tx = v;
                n.state_lock = None;
                let next = if v == V::CancelPending { 9 } else { DONE };
                go(&mut n, next);
            }
            (C, 9) => {
                // wait_send_done
                if n.send_guard.is_none() {
                    n.send_guard = Some(C);
                    go(&mut n, 10);
                }
            }
            (C, 10) => {
                n.send_guard = None;
                go(&mut n, 11);
            }
            (C, 11) => {
                if !n.tx.is_final() {
                    n.cancel_sent = true;
                }
                go(&mut n, DONE);
            }
            _ => unreachable!("task {task} pc {pc}"),
        }
        if n != *s {
            alts.push(n);
        }
        for a in alts {
            out.push(((names[task as usize], pc), a));
        }
    }
}

fn cell_check(s: &Cell) -> Option<String> {
    if s.pay_sent && s.never_sent_closed {
        return Some("the pay was sent, yet a cancel closed the trade as never_sent".into());
    }
    if s.cancel_sent && !(s.pay_done || s.pay_never) {
        return Some("a cancel was sent while the pay it undoes was unsent or on the wire".into());
    }
    for task in [C, R] {
        // A task that has read tx (pc 4 done, pc > 4 or DONE after reading).
        let pc = s.pc[task as usize];
        if pc == 4 && s.committed & s.tx.bit() == 0 {
            return Some(format!(
                "a reader can see {:?}, which is not committed",
                s.tx
            ));
        }
    }
    None
}

fn run_cell_model(ctx: CellCtx) -> Explored {
    bfs(
        cell_init(),
        200,
        |s, out| cell_successors(&ctx, s, out),
        cell_check,
        |_, _, _| None,
    )
}

#[test]
fn cell_model() {
    let ctx = CellCtx {
        pre_read_on_wire: false,
        commit_may_fail: true,
    };
    let e = run_cell_model(ctx);
    println!(
        "cell_model: {ctx:?}: {} states, {} transitions (every interleaving of pay, cancel, reader), longest schedule {}",
        e.states, e.transitions, e.depth
    );
    assert_no_violation("cell_model", &e);
    assert!(e.states > 300, "explored too little: {}", e.states);
}

/// Bug (cancel.rs `mark_cancel_pending`): it reads `slot.on_wire()`
/// *before* `update` takes `state`, so the protocol's "on_wire is read under
/// state" does not hold. Trace (task, step): pay 0-5 (send guard, state,
/// insert, commit, release, lock for begin_send); cancel 0,1,4 (visible,
/// durable, reads PAYING), cancel 5 (reads on_wire = false); pay 6 (begin_send:
/// not final, not CancelPending -> on_wire = true, unlock), pay 7 (the pay is
/// SENT); cancel 6,7 (takes state: phase Sending && !on_wire(stale) -> CLOSED,
/// never_sent). The trade is CLOSED with never_sent (may_land false, no
/// watch) while its pay is on the wire and can take the buyer's money.
/// Fix: read `on_wire` inside the `update` closure.
/// Fixed in the engine (`on_wire` is read inside the `update` closure, under
/// the lock); the model keeps the former code as a switch and must still
/// find it.
#[test]
fn cancel_reads_on_wire_before_taking_state() {
    let ctx = CellCtx {
        pre_read_on_wire: true,
        commit_may_fail: true,
    };
    let e = run_cell_model(ctx);
    println!(
        "cell_model (on_wire read before the lock): {} states",
        e.states
    );
    assert!(
        e.violation.is_some(),
        "the cell model no longer finds the former on_wire race"
    );
}
