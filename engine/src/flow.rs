//! The trade flows: the only writer of trade and refund state.
//!
//! Policies (seed 002 section 7, DESIGN.md):
//! - pay 10000: SUCCESS. 10003: PAYING, query every `poll_interval` up to
//!   `poll_count` times, then cancel: CLOSED (or SUCCESS when a query shows it).
//! - 20000, ACQ.SYSTEM_ERROR, time-out, connection error: query at once,
//!   retry the query once, then cancel; a cancel without a definite answer
//!   makes the trade UNKNOWN, and the same task keeps cancelling (with
//!   back-off) until the gateway answers.
//! - 40004: FAILED with sub_code / sub_msg as received; ACQ.TRADE_HAS_SUCCESS
//!   is confirmed by a query first.
//!
//! Guarantees:
//! - every change is committed to the journal before it is visible (the
//!   per-trade mutex holds the committed state; terminals read it there) and
//!   before the next request (cancel, retry) is sent; "about to send pay" and
//!   "about to send cancel" are journaled before the send;
//! - a pay request is sent at most once per out_trade_no: duplicates (same
//!   content) wait for or read the first; different content is a conflict;
//! - status changes go through [`Trade::transition`] (final states never
//!   change); while a cancel is in doubt only its answer decides the trade;
//! - every flow runs in its own task: a terminal hanging up never stops it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use protocol::biz::{
    to_biz_content, ExtendParams, PayBiz, PrecreateBiz, RefundBiz, RefundQueryBiz, SubMerchant,
    TradeRefBiz,
};
use protocol::codes::sub;
use protocol::response::{
    CancelResponse, CloseResponse, PayResponse, PrecreateResponse, QueryResponse,
    RefundQueryResponse, RefundResponse,
};
use protocol::{AuthCode, Method, Money, OutRequestNo, OutTradeNo, Scene, Subject, TimeoutExpress};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Mutex, Notify};
use tracing::Instrument;

use crate::config::{Config, TerminalConfig};
use crate::gateway::{Gateway, Outcome};
use crate::metrics::Metrics;
use crate::store::{Event, Store, StoreError, Write};
use crate::trade::{now_ms, Kind, Phase, Refund, RefundStatus, Status, Trade};

/// Why a flow request was refused.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("no such trade")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("the gateway is failing; new payments are refused for {0} ms")]
    CircuitOpen(u128),
    #[error("the switch is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether cancel or close has anything to undo: a paid trade is refused
/// (SUCCESS is final; reverse it with a refund), another final trade is
/// answered as it stands.
fn still_open(t: &Trade) -> Result<bool, FlowError> {
    if t.status == Status::Success {
        return Err(FlowError::NotAllowed(
            "the trade is paid (SUCCESS, final); reverse it with a refund".into(),
        ));
    }
    Ok(!t.status.is_final())
}

/// A validated barcode payment.
#[derive(Debug, Clone)]
pub struct PayOrder {
    pub out_trade_no: OutTradeNo,
    pub auth_code: AuthCode,
    pub total_amount: Money,
    pub subject: Subject,
    pub scene: Scene,
    pub body: Option<String>,
    pub operator_id: Option<String>,
    pub timeout_express: Option<TimeoutExpress>,
    pub goods_detail: Option<serde_json::Value>,
}

/// A validated QR precreate.
#[derive(Debug, Clone)]
pub struct PrecreateOrder {
    pub out_trade_no: OutTradeNo,
    pub total_amount: Money,
    pub subject: Subject,
    pub timeout_express: Option<TimeoutExpress>,
    pub notify_url: Option<String>,
}

/// A validated refund request.
#[derive(Debug, Clone)]
pub struct RefundOrder {
    pub out_request_no: OutRequestNo,
    pub refund_amount: Money,
    pub refund_reason: Option<String>,
}

pub(crate) struct Slot {
    state: Arc<Mutex<Trade>>,
    tx: watch::Sender<Trade>,
    cancel_running: Arc<Mutex<()>>,
    /// Held while this process's pay or precreate request is on the wire: a cancel or
    /// close waits for it, so it can never overtake the payment it undoes
    /// (a cancel that reached the gateway first would leave the late
    /// payment open there).
    send_in_flight: Arc<Mutex<()>>,
}

pub(crate) struct RefundSlot {
    state: Arc<Mutex<Refund>>,
    tx: watch::Sender<Refund>,
}

/// What a query told us.
enum Seen {
    Paid(Box<QueryResponse>),
    Closed(Box<QueryResponse>),
    Waiting,
    NotExist,
    Unknown,
}

/// The switch's flows over one store and one gateway.
pub struct Flows {
    pub(crate) cfg: Arc<Config>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) gw: Arc<Gateway>,
    pub(crate) metrics: Arc<Metrics>,
    app_id: String,
    pub(crate) trades: DashMap<String, Arc<Slot>>,
    pub(crate) refunds: DashMap<(String, String), Arc<RefundSlot>>,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Set at the grace deadline: background loops stop at their next wait.
    stopping: AtomicBool,
    stop_notify: Notify,
    /// Set when shutdown starts: new trades are refused.
    closing: AtomicBool,
    /// Final precreated trades whose result goes to the merchant's URL.
    relay_tx: tokio::sync::mpsc::UnboundedSender<String>,
    relay_rx: parking_lot::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    /// Trades by status (initialised from the journal, kept by `update`).
    by_status: [AtomicI64; 6],
}

struct TaskGuard<'a>(&'a Flows);
impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub(crate) fn ev(t: &Trade, kind: &str, detail: serde_json::Value) -> Write {
    Write::Event(Event {
        app_id: t.app_id.clone(),
        out_trade_no: t.out_trade_no.clone(),
        at_ms: now_ms(),
        kind: kind.to_owned(),
        detail: detail.to_string(),
    })
}

fn fingerprint(v: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// Whether a terminal may see a trade: its creator, or a terminal of the same sub-merchant.
pub fn visible_to(t: &Trade, term: &TerminalConfig, creator_smid: Option<&str>) -> bool {
    t.terminal == term.key_id || (creator_smid.is_some() && creator_smid == term.smid.as_deref())
}

fn status_of(q: &QueryResponse) -> Seen {
    if q.code == "10000" {
        match q.trade_status.as_deref() {
            Some("TRADE_SUCCESS") | Some("TRADE_FINISHED") => Seen::Paid(Box::new(q.clone())),
            Some("TRADE_CLOSED") => Seen::Closed(Box::new(q.clone())),
            Some("WAIT_BUYER_PAY") => Seen::Waiting,
            _ => Seen::Unknown,
        }
    } else if q.sub_code.as_deref() == Some(sub::ACQ_TRADE_NOT_EXIST) {
        Seen::NotExist
    } else {
        Seen::Unknown
    }
}

fn apply_query(t: &mut Trade, q: &QueryResponse) {
    if q.trade_no.is_some() {
        t.trade_no.clone_from(&q.trade_no);
    }
    if q.buyer_logon_id.is_some() {
        t.buyer_logon_id.clone_from(&q.buyer_logon_id);
    }
    if q.receipt_amount.is_some() {
        t.receipt_amount = q.receipt_amount;
    }
    if q.send_pay_date.is_some() && t.gmt_payment.is_none() {
        t.gmt_payment.clone_from(&q.send_pay_date);
    }
}

fn answer_detail<T: serde::Serialize>(method: &str, o: &Outcome<T>) -> serde_json::Value {
    match o {
        Outcome::Answer(a) => json!({"method": method, "answer": a}),
        Outcome::Unknown(r) => json!({"method": method, "unknown": r}),
    }
}

impl Flows {
    pub fn new(
        cfg: Arc<Config>,
        store: Arc<dyn Store>,
        gw: Arc<Gateway>,
        metrics: Arc<Metrics>,
    ) -> Arc<Flows> {
        let (relay_tx, relay_rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Flows {
            app_id: cfg.gateway.app_id.clone(),
            cfg,
            store,
            gw,
            metrics,
            trades: DashMap::new(),
            refunds: DashMap::new(),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
            stop_notify: Notify::new(),
            closing: AtomicBool::new(false),
            by_status: Default::default(),
            relay_tx,
            relay_rx: parking_lot::Mutex::new(Some(relay_rx)),
        })
    }

    pub(crate) fn spawn<F>(self: &Arc<Self>, no: &str, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let me = self.clone();
        let span = tracing::info_span!("trade", out_trade_no = %no);
        tokio::spawn(
            async move {
                let _g = TaskGuard(&me);
                f.await;
            }
            .instrument(span),
        );
    }

    /// Flows still running.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Graceful drain: refuses new trades at once, lets running flows go on
    /// for up to `grace`, then stops background loops at their next wait
    /// (recovery resumes them at the next start). Returns the number of flows
    /// still running at the end.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.closing.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + grace;
        if self.wait_idle(deadline).await == 0 {
            return 0;
        }
        self.stopping.store(true, Ordering::Release);
        self.stop_notify.notify_waiters();
        // Loops leave at their next wait; a gateway call in progress ends
        // within the request time-out.
        self.wait_idle(tokio::time::Instant::now() + Duration::from_secs(2))
            .await
    }

    async fn wait_idle(&self, deadline: tokio::time::Instant) -> usize {
        loop {
            let notified = self.idle.notified();
            let n = self.in_flight();
            if n == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight();
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Sleeps; false (at once) when the switch is stopping.
    pub(crate) async fn pause(&self, d: Duration) -> bool {
        let stop = self.stop_notify.notified();
        if self.stopping() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop => {}
        }
        !self.stopping()
    }

    /// Trades by status, as kept in memory since the start.
    pub fn status_counts(&self) -> Vec<(Status, i64)> {
        Status::ALL
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, self.by_status[i].load(Ordering::Relaxed)))
            .collect()
    }

    fn count(&self, s: Status, delta: i64) {
        if let Some(i) = Status::ALL.iter().position(|x| *x == s) {
            self.by_status[i].fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Loads the status counts from the journal (at start).
    pub async fn init_counts(&self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let counts = tokio::task::spawn_blocking(move || store.status_counts())
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
        for (name, n) in counts {
            if let Some(st) = Status::parse(&name) {
                self.count(st, i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        Ok(())
    }

    /// Forgets cached trades and refunds that are final, idle for `idle`, and
    /// referenced by nobody else (the journal holds them; the next access
    /// reloads them). Keeps memory flat under long load runs.
    pub fn evict(&self, idle: Duration) {
        let cutoff = now_ms() - i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        self.trades.retain(|_, slot| {
            let t = slot.tx.borrow();
            !(Arc::strong_count(slot) == 1 && t.status.is_final() && t.updated_ms < cutoff)
        });
        self.refunds.retain(|_, slot| {
            let r = slot.tx.borrow();
            !(Arc::strong_count(slot) == 1
                && r.status != RefundStatus::Unknown
                && r.updated_ms < cutoff)
        });
    }

    /// The queue of results to relay to merchants (taken once, by the relay worker).
    pub fn take_relay_queue(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>> {
        self.relay_rx.lock().take()
    }

    /// Cached trades (tests).
    pub fn cached(&self) -> usize {
        self.trades.len()
    }

    // ---------- slots ----------

    pub(crate) async fn load_trade(&self, no: &str) -> Result<Option<Arc<Slot>>, StoreError> {
        if let Some(s) = self.trades.get(no) {
            return Ok(Some(s.clone()));
        }
        // A point read by primary key on the reader connection: a few
        // microseconds from the page cache, cheaper than a thread hand-off.
        let found = self.store.trade(&self.app_id, no)?;
        Ok(found.map(|t| {
            self.trades
                .entry(no.to_owned())
                .or_insert_with(|| Arc::new(Self::slot(t)))
                .clone()
        }))
    }

    pub(crate) fn slot(t: Trade) -> Slot {
        let (tx, _) = watch::channel(t.clone());
        Slot {
            state: Arc::new(Mutex::new(t)),
            tx,
            cancel_running: Arc::new(Mutex::new(())),
            send_in_flight: Arc::new(Mutex::new(())),
        }
    }

    /// Waits until no pay request of this trade is on the wire (bounded by
    /// the gateway's request time-out).
    async fn wait_send_done(slot: &Slot) {
        drop(slot.send_in_flight.lock().await);
    }

    /// Applies `f` to a copy of the trade, commits the copy (and `extra`
    /// events) and only then makes it the trade's state. `f` returning `None`
    /// means no change.
    pub(crate) async fn update<F>(&self, slot: &Slot, f: F) -> Result<Trade, StoreError>
    where
        F: FnOnce(&mut Trade) -> Option<Vec<Write>>,
    {
        let mut g = slot.state.lock().await;
        let mut t = g.clone();
        let before = t.status;
        let Some(mut extra) = f(&mut t) else {
            return Ok(g.clone());
        };
        t.updated_ms = now_ms();
        if t.status.is_final() {
            t.phase = Phase::Idle;
        }
        if t.status != before {
            extra.push(ev(
                &t,
                "state",
                json!({"from": before.as_str(), "to": t.status.as_str()}),
            ));
            tracing::info!(
                from = before.as_str(),
                to = t.status.as_str(),
                "trade state"
            );
        }
        let mut writes = Vec::with_capacity(extra.len() + 1);
        writes.push(Write::Trade(Box::new(t.clone())));
        writes.append(&mut extra);
        self.store.commit(writes).await?;
        if t.status != before {
            self.count(before, -1);
            self.count(t.status, 1);
            if t.status.is_final() && t.merchant_notify_url.is_some() {
                let _ = self.relay_tx.send(t.out_trade_no.clone());
            }
        }
        *g = t.clone();
        slot.tx.send_replace(t.clone());
        Ok(t)
    }

    /// Journals events without a state change (not awaited by the caller's
    /// terminal; ordered before anything committed later).
    pub(crate) fn note(&self, t: &Trade, kind: &str, detail: serde_json::Value) {
        let c = self.store.commit(vec![ev(t, kind, detail)]);
        tokio::spawn(async move {
            if let Err(e) = c.await {
                tracing::error!(error = %e, "journal event lost");
            }
        });
    }

    pub(crate) async fn current(slot: &Slot) -> Trade {
        slot.state.lock().await.clone()
    }

    /// Waits until the trade is settled (final, UNKNOWN, WAIT_BUYER_PAY with
    /// nothing in flight) or `wait` elapses; returns the committed state.
    async fn wait_settled(slot: &Slot, wait: Duration) -> Trade {
        let mut rx = slot.tx.subscribe();
        let first = Self::current(slot).await;
        let settled = |t: &Trade| {
            t.status.is_final()
                || (t.status.is_settled()
                    && !matches!(t.phase, Phase::Sending | Phase::CancelPending))
                || (t.status == Status::Unknown)
        };
        if settled(&first) || wait.is_zero() {
            return first;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let t = rx.borrow_and_update();
                if settled(&t) {
                    return t.clone();
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Self::current(slot).await;
            }
        }
    }

    fn terminal_smid(&self, key: &str) -> Option<String> {
        self.cfg
            .terminals
            .iter()
            .find(|t| t.key_id == key)
            .and_then(|t| t.smid.clone())
    }

    /// A trade visible to `term`, or NotFound.
    pub async fn get(&self, term: &TerminalConfig, no: &str) -> Result<Trade, FlowError> {
        let slot = self.load_trade(no).await?.ok_or(FlowError::NotFound)?;
        let t = Self::current(&slot).await;
        if !visible_to(&t, term, self.terminal_smid(&t.terminal).as_deref()) {
            return Err(FlowError::NotFound);
        }
        Ok(t)
    }

    async fn visible_slot(
        &self,
        term: &TerminalConfig,
        no: &str,
    ) -> Result<(Arc<Slot>, Trade), FlowError> {
        let slot = self.load_trade(no).await?.ok_or(FlowError::NotFound)?;
        let t = Self::current(&slot).await;
        if !visible_to(&t, term, self.terminal_smid(&t.terminal).as_deref()) {
            return Err(FlowError::NotFound);
        }
        Ok((slot, t))
    }

    fn new_trade(
        &self,
        term: &TerminalConfig,
        no: &OutTradeNo,
        kind: Kind,
        total: Money,
        subject: &Subject,
        fp: String,
    ) -> Trade {
        let now = now_ms();
        Trade {
            app_id: self.app_id.clone(),
            out_trade_no: no.as_str().to_owned(),
            kind,
            status: Status::Paying,
            phase: Phase::Sending,
            fingerprint: fp,
            terminal: term.key_id.clone(),
            total_amount: total,
            subject: subject.as_str().to_owned(),
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
            created_ms: now,
            updated_ms: now,
        }
    }

    /// Creates the trade (journaled with "about to send") or returns the
    /// existing one. `Ok((slot, true))` when this call created it. The
    /// caller has looked in the cache and the journal already: a trade not
    /// there can only appear through this map entry.
    async fn create_or_existing(
        &self,
        trade: Trade,
        sending: serde_json::Value,
    ) -> Result<(Arc<Slot>, bool), FlowError> {
        let no = trade.out_trade_no.clone();
        let slot = Arc::new(Self::slot(trade.clone()));
        // Lock before publishing: readers wait until the insert is durable.
        let guard = slot.state.clone().lock_owned().await;
        match self.trades.entry(no.clone()) {
            dashmap::Entry::Occupied(o) => return Ok((o.get().clone(), false)),
            dashmap::Entry::Vacant(v) => {
                v.insert(slot.clone());
            }
        }
        let writes = vec![
            Write::NewTrade(Box::new(trade.clone())),
            ev(&trade, "created", sending),
        ];
        match self.store.commit(writes).await {
            Ok(()) => {}
            Err(StoreError::Exists) => {
                // In the journal but not in the cache (evicted, or from before
                // a restart): this slot becomes that trade.
                let mut guard = guard;
                let existing = match self.store.trade(&self.app_id, &no) {
                    Ok(Some(t)) => t,
                    Ok(None) => {
                        self.trades.remove(&no);
                        return Err(StoreError::Corrupt(format!("trade {no} vanished")).into());
                    }
                    Err(e) => {
                        self.trades.remove(&no);
                        return Err(e.into());
                    }
                };
                *guard = existing.clone();
                slot.tx.send_replace(existing);
                drop(guard);
                return Ok((slot, false));
            }
            Err(e) => {
                self.trades.remove(&no);
                drop(guard);
                return Err(e.into());
            }
        }
        self.count(trade.status, 1);
        drop(guard);
        Ok((slot, true))
    }

    /// Before a new pay or precreate: the state of a cached trade with this
    /// out_trade_no (the same request, or a 409), else admission of a new
    /// trade. When the switch is closing or the circuit is open, a repeat of
    /// a trade the journal holds still gets its state. `Ok(None)`: go on and
    /// create the trade (a trade only in the journal is then met by the
    /// unique insert: no read on the path of a new payment).
    async fn existing_or_admit(
        &self,
        no: &str,
        kind: Kind,
        fp: &str,
        wait: Duration,
    ) -> Result<Option<Trade>, FlowError> {
        let cached = self.trades.get(no).map(|s| s.clone());
        if let Some(slot) = cached {
            let t = Self::current(&slot).await;
            self.check_same(&t, kind, fp)?;
            return Ok(Some(Self::wait_settled(&slot, wait).await));
        }
        let refused = if self.closing() {
            Some(FlowError::ShuttingDown)
        } else {
            self.gw
                .admit_new_trade()
                .err()
                .map(|rem| FlowError::CircuitOpen(rem.as_millis()))
        };
        let Some(e) = refused else {
            return Ok(None);
        };
        if let Some(slot) = self.load_trade(no).await? {
            let t = Self::current(&slot).await;
            self.check_same(&t, kind, fp)?;
            return Ok(Some(Self::wait_settled(&slot, wait).await));
        }
        Err(e)
    }

    fn check_same(&self, t: &Trade, kind: Kind, fp: &str) -> Result<(), FlowError> {
        if t.kind != kind || t.fingerprint != fp {
            return Err(FlowError::Conflict(format!(
                "out_trade_no {} was already used for a different request",
                t.out_trade_no
            )));
        }
        Ok(())
    }

    // ---------- pay ----------

    /// POST /v1/pay: starts (once) the barcode payment and waits up to `wait`.
    pub async fn pay(
        self: &Arc<Self>,
        term: &TerminalConfig,
        o: PayOrder,
        wait: Duration,
    ) -> Result<Trade, FlowError> {
        let fp = fingerprint(&json!({
            "kind": "pay", "terminal": term.key_id, "auth_code": o.auth_code.as_str(),
            "total_amount": o.total_amount.to_wire(), "subject": o.subject.as_str(),
            "scene": o.scene.as_str(), "body": o.body, "operator_id": o.operator_id,
            "timeout_express": o.timeout_express.as_ref().map(|t| t.as_str()),
            "goods_detail": o.goods_detail,
        }));
        if let Some(t) = self
            .existing_or_admit(o.out_trade_no.as_str(), Kind::Pay, &fp, wait)
            .await?
        {
            return Ok(t);
        }
        let trade = self.new_trade(
            term,
            &o.out_trade_no,
            Kind::Pay,
            o.total_amount,
            &o.subject,
            fp.clone(),
        );
        let biz = PayBiz {
            out_trade_no: o.out_trade_no.as_str().to_owned(),
            scene: o.scene.as_str().to_owned(),
            auth_code: o.auth_code.as_str().to_owned(),
            subject: o.subject.as_str().to_owned(),
            total_amount: o.total_amount,
            product_code: Some("FACE_TO_FACE_PAYMENT".into()),
            body: o.body.clone(),
            operator_id: o.operator_id.clone(),
            store_id: term.store_id.clone(),
            terminal_id: term.terminal_id.clone(),
            timeout_express: o.timeout_express.as_ref().map(|t| t.as_str().to_owned()),
            sub_merchant: term.smid.clone().map(|m| SubMerchant { merchant_id: m }),
            extend_params: self.gw.sys_service_provider_id().map(|s| ExtendParams {
                sys_service_provider_id: Some(s.to_owned()),
            }),
            goods_detail: o.goods_detail.clone(),
        };
        let (slot, created) = self
            .create_or_existing(
                trade,
                json!({"kind": "pay", "phase": "pay_sending", "total_amount": o.total_amount.to_wire(),
                       "auth_code_last4": o.auth_code.last4(), "terminal": term.key_id}),
            )
            .await?;
        if !created {
            let t = Self::current(&slot).await;
            self.check_same(&t, Kind::Pay, &fp)?;
            return Ok(Self::wait_settled(&slot, wait).await);
        }
        tracing::info!(out_trade_no = o.out_trade_no.as_str(), amount = %o.total_amount, "pay accepted");
        // Taken before the task starts, so no cancel can slip in before the send.
        let sending = slot.send_in_flight.clone().lock_owned().await;
        let me = self.clone();
        let s2 = slot.clone();
        self.spawn(o.out_trade_no.as_str(), async move {
            me.drive_pay(s2, biz, sending).await
        });
        Ok(Self::wait_settled(&slot, wait).await)
    }

    /// The barcode payment. No notify_url: barcode payments have no
    /// asynchronous notification (seed 002 section 7); they are settled by
    /// their answer and by queries only.
    async fn drive_pay(
        self: Arc<Self>,
        slot: Arc<Slot>,
        biz: PayBiz,
        sending: tokio::sync::OwnedMutexGuard<()>,
    ) {
        let biz_content = to_biz_content(&biz);
        let out = self
            .gw
            .call::<PayResponse>(Method::TradePay, &biz_content, false)
            .await;
        drop(sending);
        let detail = answer_detail("alipay.trade.pay", &out);
        let r = match out {
            Outcome::Answer(r) => r,
            Outcome::Unknown(reason) => {
                tracing::warn!(%reason, "pay outcome unknown; querying");
                if self
                    .apply_answer(&slot, detail, |t| {
                        t.phase = Phase::Resolving;
                        Some(())
                    })
                    .await
                    .is_some()
                {
                    self.resolve_unknown(&slot).await;
                }
                return;
            }
        };
        let sub_code = r.sub_code.clone().unwrap_or_default();
        match r.code.as_str() {
            "10000" => {
                self.apply_answer(&slot, detail, |t| {
                    t.transition(Status::Success).ok()?;
                    t.trade_no.clone_from(&r.trade_no);
                    t.buyer_logon_id.clone_from(&r.buyer_logon_id);
                    t.receipt_amount = r.receipt_amount;
                    t.gmt_payment.clone_from(&r.gmt_payment);
                    t.code = Some(r.code.clone());
                    Some(())
                })
                .await;
            }
            "10003" => {
                let go_on = self
                    .apply_answer(&slot, detail, |t| {
                        t.phase = Phase::Polling;
                        t.trade_no.clone_from(&r.trade_no);
                        Some(())
                    })
                    .await;
                if go_on.is_some() {
                    let n = self.cfg.policy.poll_count;
                    self.poll_then_cancel(&slot, n).await;
                }
            }
            _ if r.code == "20000"
                || sub_code == sub::ACQ_SYSTEM_ERROR
                || sub_code == sub::ACQ_TRADE_HAS_SUCCESS =>
            {
                let go_on = self
                    .apply_answer(&slot, detail, |t| {
                        t.phase = Phase::Resolving;
                        Some(())
                    })
                    .await;
                if go_on.is_some() {
                    self.resolve_unknown(&slot).await;
                }
            }
            _ => {
                self.apply_answer(&slot, detail, |t| {
                    t.transition(Status::Failed).ok()?;
                    t.code = Some(r.code.clone());
                    t.sub_code.clone_from(&r.sub_code);
                    t.sub_msg.clone_from(&r.sub_msg);
                    Some(())
                })
                .await;
            }
        }
    }

    /// Journals a gateway answer and applies `f` to the trade, unless the
    /// trade is final or a cancel is in doubt (then only the cancel's answer
    /// decides). `Some(trade)` when the flow should go on.
    async fn apply_answer<F>(&self, slot: &Slot, detail: serde_json::Value, f: F) -> Option<Trade>
    where
        F: FnOnce(&mut Trade) -> Option<()>,
    {
        let t = self
            .update(slot, |t| {
                if t.phase != Phase::CancelPending && !t.status.is_final() {
                    let mut changed = t.clone();
                    if f(&mut changed).is_some() {
                        *t = changed;
                    }
                }
                Some(vec![ev(t, "gateway_answer", detail)])
            })
            .await
            .ok()?;
        (t.phase != Phase::CancelPending && !t.status.is_final()).then_some(t)
    }

    async fn query(&self, slot: &Slot) -> Seen {
        let t = Self::current(slot).await;
        let biz = to_biz_content(&TradeRefBiz {
            out_trade_no: Some(t.out_trade_no.clone()),
            ..Default::default()
        });
        let out = self
            .gw
            .call::<QueryResponse>(Method::TradeQuery, &biz, false)
            .await;
        self.note(
            &t,
            "gateway_answer",
            answer_detail("alipay.trade.query", &out),
        );
        match out {
            Outcome::Answer(q) => status_of(&q),
            Outcome::Unknown(_) => Seen::Unknown,
        }
    }

    /// Applies a definite query result unless a cancel is in doubt; returns
    /// whether the trade is now final.
    async fn apply_seen(&self, slot: &Slot, seen: &Seen) -> bool {
        let r = self
            .update(slot, |t| {
                if t.phase == Phase::CancelPending || t.status.is_final() {
                    return None;
                }
                match seen {
                    Seen::Paid(q) => {
                        t.transition(Status::Success).ok()?;
                        apply_query(t, q);
                        t.code = Some("10000".into());
                    }
                    Seen::Closed(q) => {
                        t.transition(Status::Closed).ok()?;
                        apply_query(t, q);
                    }
                    _ => return None,
                }
                Some(vec![])
            })
            .await;
        matches!(r, Ok(t) if t.status.is_final())
    }

    fn should_stop(t: &Trade) -> bool {
        t.status.is_final() || t.phase == Phase::CancelPending
    }

    /// Query, retry the query once, then cancel (20000 / time-out policy).
    pub(crate) async fn resolve_unknown(&self, slot: &Slot) {
        for attempt in 0..2 {
            if Self::should_stop(&Self::current(slot).await) {
                return;
            }
            if attempt > 0
                && !self
                    .pause(self.cfg.policy.poll_interval.min(Duration::from_secs(1)))
                    .await
            {
                return;
            }
            match self.query(slot).await {
                s @ (Seen::Paid(_) | Seen::Closed(_)) => {
                    if self.apply_seen(slot, &s).await {
                        return;
                    }
                }
                Seen::Waiting => {
                    let _ = self
                        .update(slot, |t| {
                            if Self::should_stop(t) {
                                return None;
                            }
                            t.phase = Phase::Polling;
                            Some(vec![])
                        })
                        .await;
                    let n = self.cfg.policy.poll_count;
                    return self.poll_then_cancel(slot, n).await;
                }
                Seen::NotExist | Seen::Unknown => {}
            }
        }
        self.cancel_until_definite(slot).await;
    }

    /// 10003: query every interval up to `n` times, then cancel.
    async fn poll_then_cancel(&self, slot: &Slot, n: u32) {
        for _ in 0..n {
            if !self.pause(self.cfg.policy.poll_interval).await {
                return;
            }
            if Self::should_stop(&Self::current(slot).await) {
                return;
            }
            let s = self.query(slot).await;
            if matches!(s, Seen::Paid(_) | Seen::Closed(_)) && self.apply_seen(slot, &s).await {
                return;
            }
        }
        self.cancel_until_definite(slot).await;
    }

    /// Journals "cancel pending", then cancels until the gateway gives a
    /// definite answer. Only that answer decides the trade. One cancel loop
    /// per trade at a time.
    pub(crate) async fn cancel_until_definite(&self, slot: &Slot) {
        let Ok(guard) = slot.cancel_running.clone().try_lock_owned() else {
            return; // another task is cancelling this trade
        };
        if let Some(t) = self.mark_cancel_pending(slot, "cancel_sending").await {
            self.cancel_loop(slot, t, guard).await;
        }
    }

    /// Commits phase CancelPending (before any cancel or close is sent);
    /// `None` when the trade is already final or the journal failed.
    async fn mark_cancel_pending(&self, slot: &Slot, what: &str) -> Option<Trade> {
        let t = self
            .update(slot, |t| {
                if t.status.is_final() || t.phase == Phase::CancelPending {
                    return None;
                }
                t.phase = Phase::CancelPending;
                Some(vec![ev(t, what, json!({}))])
            })
            .await
            .ok()?;
        (!t.status.is_final()).then_some(t)
    }

    async fn cancel_loop(&self, slot: &Slot, t: Trade, _guard: tokio::sync::OwnedMutexGuard<()>) {
        Self::wait_send_done(slot).await;
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        let mut failures = 0u32;
        loop {
            let biz = to_biz_content(&TradeRefBiz {
                out_trade_no: Some(t.out_trade_no.clone()),
                ..Default::default()
            });
            let out = self
                .gw
                .call::<CancelResponse>(Method::TradeCancel, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.cancel", &out);
            let definite = match &out {
                Outcome::Answer(c) if c.code == "10000" && c.retry_flag.as_deref() != Some("Y") => {
                    Some(Status::Closed)
                }
                Outcome::Answer(c) if c.sub_code.as_deref() == Some(sub::ACQ_TRADE_NOT_EXIST) => {
                    Some(Status::Closed)
                }
                Outcome::Answer(c)
                    if c.code == "40004"
                        && c.sub_code.as_deref() != Some(sub::ACQ_SYSTEM_ERROR) =>
                {
                    // The cancel was refused: it did not happen. Learn the truth by query.
                    match self.query(slot).await {
                        Seen::Paid(q) => {
                            let r = self
                                .update(slot, |t| {
                                    t.transition(Status::Success).ok()?;
                                    apply_query(t, &q);
                                    t.code = Some("10000".into());
                                    Some(vec![ev(t, "gateway_answer", detail.clone())])
                                })
                                .await;
                            if r.is_ok() {
                                return;
                            }
                            None
                        }
                        Seen::Closed(_) => Some(Status::Closed),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(st) = definite {
                let _ = self
                    .update(slot, |t| {
                        t.transition(st).ok()?;
                        if let Outcome::Answer(c) = &out {
                            if c.trade_no.is_some() {
                                t.trade_no.clone_from(&c.trade_no);
                            }
                        }
                        Some(vec![ev(t, "gateway_answer", detail.clone())])
                    })
                    .await;
                return;
            }
            failures += 1;
            let to_unknown = failures >= 2;
            let _ = self
                .update(slot, |t| {
                    if to_unknown && t.status != Status::Unknown {
                        t.transition(Status::Unknown).ok()?;
                    }
                    Some(vec![ev(t, "gateway_answer", detail.clone())])
                })
                .await;
            if !self.pause(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
    }

    // ---------- precreate ----------

    /// POST /v1/precreate.
    pub async fn precreate(
        self: &Arc<Self>,
        term: &TerminalConfig,
        o: PrecreateOrder,
    ) -> Result<Trade, FlowError> {
        let fp = fingerprint(&json!({
            "kind": "precreate", "terminal": term.key_id, "total_amount": o.total_amount.to_wire(),
            "subject": o.subject.as_str(), "timeout_express": o.timeout_express.as_ref().map(|t| t.as_str()),
            "notify_url": o.notify_url,
        }));
        let wait = Duration::from_secs(60);
        if let Some(t) = self
            .existing_or_admit(o.out_trade_no.as_str(), Kind::Precreate, &fp, wait)
            .await?
        {
            return Ok(t);
        }
        let trade = self.new_trade(
            term,
            &o.out_trade_no,
            Kind::Precreate,
            o.total_amount,
            &o.subject,
            fp.clone(),
        );
        let mut trade = trade;
        trade.merchant_notify_url.clone_from(&o.notify_url);
        let biz = PrecreateBiz {
            out_trade_no: o.out_trade_no.as_str().to_owned(),
            total_amount: o.total_amount,
            subject: o.subject.as_str().to_owned(),
            body: None,
            operator_id: None,
            store_id: term.store_id.clone(),
            terminal_id: term.terminal_id.clone(),
            timeout_express: o.timeout_express.as_ref().map(|t| t.as_str().to_owned()),
            buyer_id: None,
            sub_merchant: term.smid.clone().map(|m| SubMerchant { merchant_id: m }),
            extend_params: self.gw.sys_service_provider_id().map(|s| ExtendParams {
                sys_service_provider_id: Some(s.to_owned()),
            }),
            goods_detail: None,
        };
        let (slot, created) = self
            .create_or_existing(
                trade,
                json!({"kind": "precreate", "phase": "precreate_sending", "total_amount": o.total_amount.to_wire(),
                       "terminal": term.key_id, "merchant_notify_url": o.notify_url}),
            )
            .await?;
        if !created {
            let t = Self::current(&slot).await;
            self.check_same(&t, Kind::Precreate, &fp)?;
            return Ok(Self::wait_settled(&slot, wait).await);
        }
        let sending = slot.send_in_flight.clone().lock_owned().await;
        let me = self.clone();
        let s2 = slot.clone();
        self.spawn(o.out_trade_no.as_str(), async move {
            let out = me
                .gw
                .call::<PrecreateResponse>(Method::TradePrecreate, &to_biz_content(&biz), true)
                .await;
            drop(sending);
            let detail = answer_detail("alipay.trade.precreate", &out);
            match out {
                Outcome::Answer(r) if r.code == "10000" => {
                    me.apply_answer(&s2, detail, |t| {
                        t.transition(Status::WaitBuyerPay).ok()?;
                        t.phase = Phase::Idle;
                        t.qr_code.clone_from(&r.qr_code);
                        t.code = Some(r.code.clone());
                        Some(())
                    })
                    .await;
                }
                Outcome::Answer(r)
                    if r.code != "20000"
                        && r.sub_code.as_deref() != Some(sub::ACQ_SYSTEM_ERROR) =>
                {
                    me.apply_answer(&s2, detail, |t| {
                        t.transition(Status::Failed).ok()?;
                        t.code = Some(r.code.clone());
                        t.sub_code.clone_from(&r.sub_code);
                        t.sub_msg.clone_from(&r.sub_msg);
                        Some(())
                    })
                    .await;
                }
                _ => {
                    // The QR code never reached the terminal: make sure nobody can pay it.
                    me.note(&Self::current(&s2).await, "gateway_answer", detail);
                    me.cancel_until_definite(&s2).await;
                }
            }
        });
        Ok(Self::wait_settled(&slot, wait).await)
    }

    // ---------- query / cancel / close ----------

    /// GET /v1/trades/{no}?refresh=1: asks the gateway first.
    pub async fn refresh(&self, term: &TerminalConfig, no: &str) -> Result<Trade, FlowError> {
        let (slot, t) = self.visible_slot(term, no).await?;
        if t.status.is_final() || t.phase == Phase::CancelPending {
            return Ok(t);
        }
        let s = self.query(&slot).await;
        self.apply_seen(&slot, &s).await;
        Ok(Self::current(&slot).await)
    }

    /// POST /v1/trades/{no}/cancel.
    pub async fn cancel(
        self: &Arc<Self>,
        term: &TerminalConfig,
        no: &str,
    ) -> Result<Trade, FlowError> {
        let (slot, t) = self.visible_slot(term, no).await?;
        if !still_open(&t)? {
            return Ok(t);
        }
        // Mark "cancel pending" before answering, so the answer is never the
        // state from before the cancel.
        if let Ok(guard) = slot.cancel_running.clone().try_lock_owned() {
            if let Some(t) = self.mark_cancel_pending(&slot, "cancel_sending").await {
                let me = self.clone();
                let s2 = slot.clone();
                self.spawn(no, async move { me.cancel_loop(&s2, t, guard).await });
            }
        }
        Ok(Self::wait_settled(&slot, Duration::from_secs(30)).await)
    }

    /// POST /v1/trades/{no}/close: alipay.trade.close; anything but a clean
    /// close falls back to the cancel policy.
    pub async fn close(
        self: &Arc<Self>,
        term: &TerminalConfig,
        no: &str,
    ) -> Result<Trade, FlowError> {
        let (slot, t) = self.visible_slot(term, no).await?;
        if !still_open(&t)? {
            return Ok(t);
        }
        let Ok(guard) = slot.cancel_running.clone().try_lock_owned() else {
            return Ok(Self::wait_settled(&slot, Duration::from_secs(30)).await);
        };
        let Some(t) = self.mark_cancel_pending(&slot, "close_sending").await else {
            return Ok(Self::wait_settled(&slot, Duration::from_secs(30)).await);
        };
        let me = self.clone();
        let s2 = slot.clone();
        self.spawn(no, async move {
            Self::wait_send_done(&s2).await;
            let biz = to_biz_content(&TradeRefBiz {
                out_trade_no: Some(t.out_trade_no.clone()),
                ..Default::default()
            });
            let out = me
                .gw
                .call::<CloseResponse>(Method::TradeClose, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.close", &out);
            if let Outcome::Answer(c) = &out {
                if c.code == "10000" {
                    let _ = me
                        .update(&s2, |t| {
                            t.transition(Status::Closed).ok()?;
                            Some(vec![ev(t, "gateway_answer", detail)])
                        })
                        .await;
                    return;
                }
            }
            me.note(&t, "gateway_answer", detail);
            // Fall back to cancel (works whether or not the trade exists
            // yet); the trade stays "cancel pending" until it answers.
            me.cancel_loop(&s2, t, guard).await;
        });
        Ok(Self::wait_settled(&slot, Duration::from_secs(30)).await)
    }

    // ---------- notifications ----------

    /// Applies a verified notification once; never moves a trade backwards.
    /// Returns false when the trade is not in the journal (still journaled).
    pub async fn notified(&self, n: &protocol::Notification) -> Result<bool, FlowError> {
        let detail = json!({
            "notify_id": n.notify_id, "trade_status": n.trade_status.map(|s| s.as_str()),
            "trade_no": n.trade_no, "total_amount": n.total_amount.map(|m| m.to_wire()),
            "notify_time": n.notify_time,
        });
        let Some(slot) = self.load_trade(&n.out_trade_no).await? else {
            self.store
                .commit(vec![Write::Event(Event {
                    app_id: self.app_id.clone(),
                    out_trade_no: n.out_trade_no.clone(),
                    at_ms: now_ms(),
                    kind: "notification_unknown_trade".into(),
                    detail: detail.to_string(),
                })])
                .await?;
            return Ok(false);
        };
        use protocol::TradeStatus as TS;
        let target = match n.trade_status {
            Some(TS::TradeSuccess) | Some(TS::TradeFinished) => Some(Status::Success),
            Some(TS::TradeClosed) => Some(Status::Closed),
            _ => None,
        };
        let amount_ok = |t: &Trade| n.total_amount.map_or(true, |a| a == t.total_amount);
        self.update(&slot, |t| {
            let mut apply = target.is_some()
                && !t.status.is_final()
                && t.phase != Phase::CancelPending
                && amount_ok(t);
            if let Some(st) = target {
                apply = apply && t.status.can_move_to(st);
                if apply {
                    let _ = t.transition(st);
                    if st == Status::Success {
                        if n.trade_no.is_some() {
                            t.trade_no.clone_from(&n.trade_no);
                        }
                        t.buyer_logon_id = n.buyer_logon_id.clone().or(t.buyer_logon_id.take());
                        t.receipt_amount = n.receipt_amount.or(t.receipt_amount);
                        t.gmt_payment = n.gmt_payment.clone().or(t.gmt_payment.take());
                        t.code = Some("10000".into());
                    }
                }
            }
            let mut d = detail.clone();
            d["applied"] = json!(apply);
            if !amount_ok(t) {
                d["mismatch"] = json!("total_amount differs from the journal");
            }
            Some(vec![ev(t, "notification", d)])
        })
        .await?;
        Ok(true)
    }

    // ---------- refunds ----------

    async fn load_refund(
        &self,
        no: &str,
        req: &str,
    ) -> Result<Option<Arc<RefundSlot>>, StoreError> {
        let key = (no.to_owned(), req.to_owned());
        if let Some(s) = self.refunds.get(&key) {
            return Ok(Some(s.clone()));
        }
        let found = self.store.refund(&self.app_id, no, req)?;
        Ok(found.map(|r| {
            self.refunds
                .entry(key)
                .or_insert_with(|| Arc::new(Self::refund_slot(r)))
                .clone()
        }))
    }

    pub(crate) fn refund_slot(r: Refund) -> RefundSlot {
        let (tx, _) = watch::channel(r.clone());
        RefundSlot {
            state: Arc::new(Mutex::new(r)),
            tx,
        }
    }

    /// GET /v1/trades/{no}/refunds/{req}: the refund and the trade's refunded total.
    pub async fn get_refund(
        &self,
        term: &TerminalConfig,
        no: &str,
        req: &str,
    ) -> Result<(Refund, Money), FlowError> {
        let (_, t) = self.visible_slot(term, no).await?;
        let slot = self
            .load_refund(no, req)
            .await?
            .ok_or(FlowError::NotFound)?;
        let r = slot.state.lock().await.clone();
        Ok((r, t.refunded_amount))
    }

    /// POST /v1/trades/{no}/refunds.
    pub async fn refund(
        self: &Arc<Self>,
        term: &TerminalConfig,
        no: &str,
        o: RefundOrder,
    ) -> Result<(Refund, Money), FlowError> {
        let (tslot, t) = self.visible_slot(term, no).await?;
        let fp =
            fingerprint(&json!({"amount": o.refund_amount.to_wire(), "reason": o.refund_reason}));
        let req = o.out_request_no.as_str().to_owned();
        let existing = self.load_refund(no, &req).await?;
        let rslot = match existing {
            Some(s) => s,
            None => {
                if t.status != Status::Success {
                    return Err(FlowError::NotAllowed(format!(
                        "only a paid (SUCCESS) trade can be refunded; this one is {}",
                        t.status.as_str()
                    )));
                }
                let now = now_ms();
                let r = Refund {
                    app_id: self.app_id.clone(),
                    out_trade_no: no.to_owned(),
                    out_request_no: req.clone(),
                    refund_amount: o.refund_amount,
                    refund_reason: o.refund_reason.clone(),
                    status: RefundStatus::Unknown,
                    fingerprint: fp.clone(),
                    code: None,
                    sub_code: None,
                    sub_msg: None,
                    created_ms: now,
                    updated_ms: now,
                };
                let slot = Arc::new(Self::refund_slot(r.clone()));
                let guard = slot.state.clone().lock_owned().await;
                match self.refunds.entry((no.to_owned(), req.clone())) {
                    dashmap::Entry::Occupied(o) => {
                        drop(guard);
                        o.get().clone()
                    }
                    dashmap::Entry::Vacant(v) => {
                        v.insert(slot.clone());
                        let w = vec![
                            Write::Refund(Box::new(r.clone())),
                            ev(
                                &t,
                                "refund_sending",
                                json!({"out_request_no": req, "refund_amount": o.refund_amount.to_wire()}),
                            ),
                        ];
                        if let Err(e) = self.store.commit(w).await {
                            self.refunds.remove(&(no.to_owned(), req.clone()));
                            return Err(e.into());
                        }
                        drop(guard);
                        let me = self.clone();
                        let (s2, t2) = (slot.clone(), tslot.clone());
                        self.spawn(no, async move { me.drive_refund(t2, s2).await });
                        slot
                    }
                }
            }
        };
        let r = rslot.state.lock().await.clone();
        if r.fingerprint != fp {
            return Err(FlowError::Conflict(format!(
                "out_request_no {req} was already used with a different amount or reason"
            )));
        }
        let r = Self::wait_refund(&rslot, Duration::from_secs(30)).await;
        let total = Self::current(&tslot).await.refunded_amount;
        Ok((r, total))
    }

    async fn wait_refund(slot: &RefundSlot, wait: Duration) -> Refund {
        let mut rx = slot.tx.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let r = rx.borrow_and_update();
                if r.status != RefundStatus::Unknown {
                    return r.clone();
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return slot.state.lock().await.clone();
            }
        }
    }

    async fn finish_refund(
        &self,
        tslot: &Slot,
        rslot: &RefundSlot,
        st: RefundStatus,
        codes: (Option<String>, Option<String>, Option<String>),
        detail: serde_json::Value,
    ) {
        let mut rg = rslot.state.lock().await;
        if rg.status != RefundStatus::Unknown {
            return;
        }
        let mut r = rg.clone();
        r.status = st;
        r.code = codes.0;
        r.sub_code = codes.1;
        r.sub_msg = codes.2;
        r.updated_ms = now_ms();
        let mut tg = tslot.state.lock().await;
        let mut t = tg.clone();
        if st == RefundStatus::Success {
            t.refunded_amount = t
                .refunded_amount
                .checked_add(r.refund_amount)
                .unwrap_or(t.refunded_amount);
            t.updated_ms = now_ms();
        }
        let writes = vec![
            Write::Refund(Box::new(r.clone())),
            Write::Trade(Box::new(t.clone())),
            ev(
                &t,
                "refund_state",
                json!({"out_request_no": r.out_request_no, "status": st.as_str(), "answer": detail}),
            ),
        ];
        if self.store.commit(writes).await.is_ok() {
            *tg = t.clone();
            tslot.tx.send_replace(t);
            *rg = r.clone();
            rslot.tx.send_replace(r);
        }
    }

    pub(crate) async fn drive_refund(self: Arc<Self>, tslot: Arc<Slot>, rslot: Arc<RefundSlot>) {
        let r = rslot.state.lock().await.clone();
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        loop {
            // Send (or resend, same out_request_no: idempotent at the gateway).
            let biz = to_biz_content(&RefundBiz {
                out_trade_no: Some(r.out_trade_no.clone()),
                trade_no: None,
                refund_amount: r.refund_amount,
                out_request_no: Some(r.out_request_no.clone()),
                refund_reason: r.refund_reason.clone(),
                operator_id: None,
                store_id: None,
                terminal_id: None,
            });
            let out = self
                .gw
                .call::<RefundResponse>(Method::TradeRefund, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.refund", &out);
            match &out {
                Outcome::Answer(a)
                    if a.code == "10000" && a.fund_change.as_deref() == Some("Y") =>
                {
                    return self
                        .finish_refund(
                            &tslot,
                            &rslot,
                            RefundStatus::Success,
                            (Some(a.code.clone()), None, None),
                            detail,
                        )
                        .await;
                }
                Outcome::Answer(a)
                    if a.code == "40004"
                        && a.sub_code.as_deref() != Some(sub::ACQ_SYSTEM_ERROR) =>
                {
                    return self
                        .finish_refund(
                            &tslot,
                            &rslot,
                            RefundStatus::Failed,
                            (Some(a.code.clone()), a.sub_code.clone(), a.sub_msg.clone()),
                            detail,
                        )
                        .await;
                }
                _ => {
                    self.note(&Self::current(&tslot).await, "gateway_answer", detail);
                }
            }
            // fund_change N, 20000, unknown: ask fastpay.refund.query.
            let biz = to_biz_content(&RefundQueryBiz {
                out_trade_no: Some(r.out_trade_no.clone()),
                trade_no: None,
                out_request_no: r.out_request_no.clone(),
            });
            let q = self
                .gw
                .call::<RefundQueryResponse>(Method::TradeFastpayRefundQuery, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.fastpay.refund.query", &q);
            if let Outcome::Answer(a) = &q {
                if a.code == "10000" && a.refund_status.as_deref() == Some("REFUND_SUCCESS") {
                    return self
                        .finish_refund(
                            &tslot,
                            &rslot,
                            RefundStatus::Success,
                            (Some(a.code.clone()), None, None),
                            detail,
                        )
                        .await;
                }
            }
            self.note(&Self::current(&tslot).await, "gateway_answer", detail);
            if !self.pause(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
    }
}
