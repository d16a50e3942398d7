//! The trade flows: the only writer of trade and refund state, in three
//! layers.
//!
//! - `cell`: the per-trade slot. A change is applied to a copy, committed
//!   to the journal (retried with back-off while the journal fails), and only
//!   then published; waiters; eviction once final.
//! - [`policy`]: the money rules as pure functions from (state, gateway
//!   answer) to the next step. No I/O; unit-, property- and model-tested.
//! - one driver per operation, each a set of [`Flows`] methods: `pay`
//!   ([`Flows::pay`]), `precreate` (with the QR watch, [`Flows::precreate`]),
//!   `cancel` (cancel and close, [`Flows::cancel`], [`Flows::close`]),
//!   `watch` (the late-landing watch and the undo of a late payment),
//!   `refund` ([`Flows::refund`]), `notified` ([`Flows::notified`]),
//!   `recovery` ([`Flows::recover`]) and `relay` (final QR results to the
//!   merchant). Drivers only send, commit and wait; every decision comes
//!   from [`policy`].
//! - [`paylog`]: the recent barcode pays of each terminal, for the
//!   heartbeat.
//!
//! Guarantees:
//! - every change is durable before it is visible and before the next
//!   request (cancel, retry) is sent; "about to send" is journaled before
//!   each pay, precreate, cancel, close and refund;
//! - a pay request is sent at most once per out_trade_no, and never after a
//!   cancel or close of that trade was accepted: the send guard is taken
//!   before the trade is visible to anyone, and a cancel that comes before
//!   the send stops it (CLOSED, journaled, nothing sent);
//! - status changes go through [`Trade::transition`] (final states never
//!   change); while a cancel is in doubt only its answer decides the trade;
//! - a CLOSED trade whose own request may still land is watched and a late
//!   payment is undone, so that what the terminal was told stays true;
//! - every flow runs in its own task: a terminal hanging up never stops it.

pub mod policy;

mod cancel;
mod cell;
mod notified;
mod pay;
pub mod paylog;
mod precreate;
mod recovery;
mod refund;
mod relay;
mod watch;

pub use relay::relay_destination_refused;
pub use watch::undo_request_no;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use protocol::{AuthCode, Money, OutRequestNo, OutTradeNo, Scene, Subject, TimeoutExpress};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::config::{Config, TerminalConfig};
use crate::gateway::{Gateway, Outcome};
use crate::merchants::Registry;
use crate::metrics::Metrics;
use crate::store::{Event, Store, StoreError, Write};
use crate::trade::{now_ms, Status, Trade};

pub(crate) use cell::{RefundSlot, Slot};

/// Why a flow request was refused.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No trade (or refund) by that number that the asking terminal may
    /// see: never created, created by a terminal of another sub-merchant,
    /// or outside its merchant's number space (HTTP 404 `not_found`).
    #[error("no such trade")]
    NotFound,
    /// The out_trade_no or out_request_no was already used for a different
    /// request (HTTP 409 `conflict`); the sentence says which.
    #[error("{0}")]
    Conflict(String),
    /// The trade's state forbids the operation: a cancel or close of a paid
    /// trade, a refund of a trade that is not paid (HTTP 409 `trade_state`).
    #[error("{0}")]
    NotAllowed(String),
    /// A field of the request is refused by the money rules (e.g. a refund
    /// above what is still refundable).
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault (`refund_amount`, `out_trade_no`,
        /// `notify_url`).
        field: &'static str,
        /// Why it is refused.
        message: String,
    },
    /// The gateway's circuit breaker is open: new payments are refused for
    /// the given number of milliseconds (queries, cancels and refunds still
    /// go out).
    #[error("the gateway is failing; new payments are refused for {0} ms")]
    CircuitOpen(u128),
    /// Shutdown has started: new trades are refused (running flows go on
    /// until the grace period ends).
    #[error("the switch is shutting down")]
    ShuttingDown,
    /// The switch holds as many trades in memory as it may.
    #[error("the switch is at its limit of {0} trades in memory")]
    Busy(usize),
    /// The journal cannot be written: nothing was sent.
    #[error("the journal cannot be written: {0}")]
    JournalUnavailable(StoreError),
    /// The journal's queue is full: nothing was sent.
    #[error("the journal is behind (its queue is full)")]
    JournalBusy,
    /// The journal could not be read (or a journaled trade vanished)
    /// while the request was being served.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A validated barcode payment (`POST /v1/pay`, docs/API.md §1), as the API
/// hands it to [`Flows::pay`]. Every other field goes with the terminal into
/// the request's fingerprint: a repeat with the same out_trade_no must carry
/// the same values.
#[derive(Debug, Clone)]
pub struct PayOrder {
    /// The terminal's own trade number (the gateway's is derived from it
    /// in the merchant's number space).
    pub out_trade_no: OutTradeNo,
    /// The buyer's payment code as scanned (never journaled in clear).
    pub auth_code: AuthCode,
    /// The amount to charge, in yuan with two decimals.
    pub total_amount: Money,
    /// The order title shown to the buyer.
    pub subject: Subject,
    /// `bar_code` or `wave_code`.
    pub scene: Scene,
    /// A longer description of the order, passed to the gateway as is.
    pub body: Option<String>,
    /// The cashier's id, passed to the gateway as is.
    pub operator_id: Option<String>,
    /// How long the buyer has to pay (`5m`, `2h`...), passed to the gateway.
    pub timeout_express: Option<TimeoutExpress>,
    /// The gateway's `goods_detail` array, passed through unchanged.
    pub goods_detail: Option<serde_json::Value>,
}

/// A validated QR precreate (`POST /v1/precreate`, docs/API.md §1), as the
/// API hands it to [`Flows::precreate`].
#[derive(Debug, Clone)]
pub struct PrecreateOrder {
    /// The terminal's own trade number.
    pub out_trade_no: OutTradeNo,
    /// The amount to charge, in yuan with two decimals.
    pub total_amount: Money,
    /// The order title shown to the buyer.
    pub subject: Subject,
    /// How long the QR code may be paid (`5m`, `2h`...); the switch closes
    /// the trade at its expiry (`policy.qr_default_timeout` when absent).
    pub timeout_express: Option<TimeoutExpress>,
    /// A longer description of the order, passed to the gateway as is.
    pub body: Option<String>,
    /// The cashier's id, passed to the gateway as is.
    pub operator_id: Option<String>,
    /// The gateway's `goods_detail` array, passed through unchanged.
    pub goods_detail: Option<serde_json::Value>,
    /// Where the final result is relayed: the merchant's registered relay
    /// URL or a URL under it (checked by the flow); None: the registered one.
    pub notify_url: Option<String>,
}

/// A validated refund request (`POST /v1/trades/{no}/refunds`,
/// docs/API.md §1), as the API hands it to [`Flows::refund`].
#[derive(Debug, Clone)]
pub struct RefundOrder {
    /// The refund's number, unique within its trade: a repeat with the same
    /// number is the same refund (idempotent here and at the gateway).
    pub out_request_no: OutRequestNo,
    /// The amount to return, in yuan; at most what is still refundable.
    pub refund_amount: Money,
    /// The reason passed to the gateway, if any.
    pub refund_reason: Option<String>,
}

/// How long the journal is reported failing after its last failed commit
/// (new payments answer 503 `journal_unavailable` meanwhile; one new payment
/// per interval is let through as a probe).
const JOURNAL_PROBE_MS: i64 = 1_000;

/// The switch's flows over one store and one gateway: the trade and refund
/// cache, the drivers of every operation, readiness and drain. One per
/// switch, shared as `Arc<Flows>` by the API, the notification edge, the
/// heartbeats and the background jobs. The only writer of trade state.
pub struct Flows {
    /// This value's own `Arc`, for tasks started from `&self`.
    me: Weak<Flows>,
    cfg: Arc<Config>,
    store: Arc<dyn Store>,
    gw: Arc<Gateway>,
    metrics: Arc<Metrics>,
    /// Terminals and merchants (smid, store and terminal ids of a trade).
    registry: Arc<Registry>,
    app_id: String,
    trades: DashMap<String, Arc<Slot>>,
    refunds: DashMap<(String, String), Arc<RefundSlot>>,
    in_flight: AtomicUsize,
    /// Bounds the relay POSTs in flight ([`relay::RELAYS_IN_FLIGHT`]).
    relay_permits: tokio::sync::Semaphore,
    idle: Notify,
    /// Set at the grace deadline: background loops stop at their next wait.
    stopping: AtomicBool,
    stop_notify: Notify,
    /// Set when shutdown starts: new trades are refused.
    closing: AtomicBool,
    /// When a journal commit last failed (0: never, or it works again).
    journal_failed_ms: AtomicI64,
    /// Trades by status (initialised from the journal, kept by `update`).
    by_status: [AtomicI64; 6],
    /// Recent barcode pays per terminal, for the heartbeat.
    pay_log: paylog::PayLog,
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

/// The idempotency fingerprint of a request: `h1:` + HMAC-SHA256 under the
/// switch's fingerprint key of the request's content. A pay request holds
/// the buyer's auth code: an unkeyed hash of it in the journal could be
/// searched back (the codes are short and structured), a keyed one cannot.
/// A journal written before holds the unkeyed SHA-256; it still matches,
/// and is never stored again.
#[derive(Debug, Clone)]
pub(crate) struct Fingerprint {
    keyed: String,
    /// The request's content, for a journaled unkeyed fingerprint (hashed
    /// only then: the hot path computes one HMAC).
    text: String,
}

impl Fingerprint {
    fn of(key: &crate::config::FingerprintKey, v: &serde_json::Value) -> Fingerprint {
        use hmac::Mac as _;
        let text = v.to_string();
        let keyed = match hmac::Hmac::<Sha256>::new_from_slice(&key.0) {
            Ok(mut m) => {
                m.update(text.as_bytes());
                format!("h1:{}", hex::encode(m.finalize().into_bytes()))
            }
            // A 32-byte key is always accepted by HMAC.
            Err(_) => String::from("h1:"),
        };
        Fingerprint { keyed, text }
    }

    /// What the journal keeps.
    pub(crate) fn stored(&self) -> String {
        self.keyed.clone()
    }

    /// Whether a journaled fingerprint is of the same request.
    pub(crate) fn matches(&self, journaled: &str) -> bool {
        if journaled.starts_with("h1:") {
            return journaled == self.keyed;
        }
        journaled == hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

/// Whether a terminal may see a trade: its creator, or a terminal of the same sub-merchant.
/// `creator_smid` is the sub-merchant id of the terminal that created `t`
/// (None: no sub-merchant, then only the creator sees it).
pub fn visible_to(t: &Trade, term: &TerminalConfig, creator_smid: Option<&str>) -> bool {
    t.terminal == term.key_id || (creator_smid.is_some() && creator_smid == term.smid.as_deref())
}

/// A gateway answer as the journal keeps it: scrubbed of anything shaped
/// like a buyer's payment code and of echoed sign strings
/// ([`protocol::scrub`]).
fn answer_detail<T: serde::Serialize>(method: &str, o: &Outcome<T>) -> serde_json::Value {
    let mut v = match o {
        Outcome::Answer(a) => json!({"method": method, "answer": a}),
        Outcome::Unknown(r) => json!({"method": method, "unknown": r}),
    };
    protocol::scrub::scrub_json(&mut v);
    v
}

/// A gateway `sub_msg` as the journal and the terminal see it (scrubbed).
pub(crate) fn scrubbed(m: &Option<String>) -> Option<String> {
    m.as_deref().map(|m| protocol::scrub::scrub(m).into_owned())
}

/// The biz_content naming a trade by its (gateway) out_trade_no: query,
/// cancel and close.
fn trade_ref_biz(out_trade_no: &str) -> String {
    protocol::biz::to_biz_content(&protocol::biz::TradeRefBiz {
        out_trade_no: Some(out_trade_no.to_owned()),
        ..Default::default()
    })
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

impl Flows {
    fn fingerprint(&self, v: &serde_json::Value) -> Fingerprint {
        Fingerprint::of(&self.cfg.server.fingerprint_key, v)
    }

    /// The flows over `store` and `gw`, with an empty cache (call
    /// [`Flows::init_counts`] and [`Flows::recover`] before serving; the
    /// server's start does both).
    pub fn new(
        cfg: Arc<Config>,
        store: Arc<dyn Store>,
        gw: Arc<Gateway>,
        metrics: Arc<Metrics>,
        registry: Arc<Registry>,
    ) -> Arc<Flows> {
        Arc::new_cyclic(|me| Flows {
            me: me.clone(),
            app_id: cfg.gateway.app_id.clone(),
            cfg,
            store,
            gw,
            metrics,
            registry,
            trades: DashMap::new(),
            refunds: DashMap::new(),
            in_flight: AtomicUsize::new(0),
            relay_permits: tokio::sync::Semaphore::new(relay::RELAYS_IN_FLIGHT),
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
            stop_notify: Notify::new(),
            closing: AtomicBool::new(false),
            journal_failed_ms: AtomicI64::new(0),
            by_status: Default::default(),
            pay_log: paylog::PayLog::default(),
        })
    }

    fn self_ref(&self) -> Option<Arc<Flows>> {
        self.me.upgrade()
    }

    /// The switch's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The metrics registry, shared (background jobs that set gauges).
    pub fn metrics_arc(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The switch's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Recent barcode pays per terminal (the heartbeat's `trade_info`).
    pub fn pay_log(&self) -> &paylog::PayLog {
        &self.pay_log
    }

    /// The merchant registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The gateway client (merchant onboarding).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gw
    }

    /// The journal.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
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

    /// Trades held in memory (in flight, waited on, or final for less than
    /// the eviction grace).
    pub fn cached_trades(&self) -> usize {
        self.trades.len()
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

    /// Sleeps until `at_ms` (wall clock); false when the switch is stopping.
    pub(crate) async fn pause_until(&self, at_ms: i64) -> bool {
        let wait = u64::try_from(at_ms.saturating_sub(now_ms())).unwrap_or(0);
        self.pause(Duration::from_millis(wait)).await
    }

    /// Whether the journal failed within the last second (`/readyz`).
    pub fn journal_failing(&self) -> bool {
        let at = self.journal_failed_ms.load(Ordering::Acquire);
        at != 0 && now_ms() - at < JOURNAL_PROBE_MS
    }

    /// Whether the journal took its last commit (`/readyz`).
    pub async fn journal_ready(&self) -> bool {
        if self.journal_failing() {
            return false;
        }
        tokio::time::timeout(Duration::from_secs(5), self.store.commit(vec![]))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }

    /// Whether the gateway's circuit breaker is open (`/readyz`, metrics).
    pub fn gateway_breaker_open(&self) -> bool {
        self.gw.breaker_open()
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

    /// Loads the status counts from the journal (at start, before any
    /// trade is served; adds to the counts in memory).
    ///
    /// # Errors
    /// A [`StoreError`] when the journal cannot be read (or the blocking
    /// task that reads it fails).
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

    /// Sets the status counts to the journal's (several nodes: the others'
    /// trades change the counts too; the lease keeper calls this).
    pub(crate) fn recount(&self, counts: crate::store::StatusCounts) {
        let mut by = [0i64; 6];
        for (name, n) in counts {
            if let Some(i) =
                Status::parse(&name).and_then(|st| Status::ALL.iter().position(|x| *x == st))
            {
                by[i] = i64::try_from(n).unwrap_or(i64::MAX);
            }
        }
        for (i, n) in by.into_iter().enumerate() {
            self.by_status[i].store(n, Ordering::Relaxed);
        }
    }

    /// Cached trades (tests): the same number as [`Flows::cached_trades`].
    pub fn cached(&self) -> usize {
        self.trades.len()
    }

    fn terminal_smid(&self, key: &str) -> Option<String> {
        self.registry.smid_of(key)
    }

    /// `GET /v1/trades/{no}`: the trade as the journal (or the cache) holds
    /// it, if `term` may see it; `no` is the terminal's out_trade_no.
    ///
    /// # Errors
    /// [`FlowError::NotFound`] when there is no such trade, `term` may not
    /// see it, or `no` lies outside its merchant's number space;
    /// [`FlowError::Store`] when the journal cannot be read.
    pub async fn get(&self, term: &TerminalConfig, no: &str) -> Result<Trade, FlowError> {
        Ok(self.visible_slot(term, no).await?.1)
    }

    /// The gateway's out_trade_no of a terminal's number (its merchant's own
    /// number space: `merchants::numbers`).
    fn gateway_no(&self, term: &TerminalConfig, no: &str) -> Result<String, FlowError> {
        let smid = self.registry.onboarded_smid(&term.key_id);
        crate::merchants::numbers::gateway_out_trade_no(smid.as_deref(), no).map_err(|e| {
            FlowError::Invalid {
                field: "out_trade_no",
                message: e.to_string(),
            }
        })
    }

    async fn visible_slot(
        &self,
        term: &TerminalConfig,
        no: &str,
    ) -> Result<(Arc<Slot>, Trade), FlowError> {
        // A number this terminal's merchant cannot own is nobody's here.
        let gw_no = self.gateway_no(term, no).map_err(|_| FlowError::NotFound)?;
        let slot = self.load_trade(&gw_no).await?.ok_or(FlowError::NotFound)?;
        let t = slot.current().await.ok_or(FlowError::NotFound)?;
        if !visible_to(&t, term, self.terminal_smid(&t.terminal).as_deref()) {
            return Err(FlowError::NotFound);
        }
        Ok((slot, t))
    }

    /// Admission of a new trade: refused while closing, while the circuit
    /// is open, and while the journal fails (but for one probe a second).
    fn admit_new(&self) -> Result<(), FlowError> {
        if self.closing() {
            return Err(FlowError::ShuttingDown);
        }
        if let Err(rem) = self.gw.admit_new_trade() {
            return Err(FlowError::CircuitOpen(rem.as_millis()));
        }
        let cap = self.cfg.server.max_trades_in_memory;
        if self.trades.len() >= cap {
            self.metrics.inc("payswitch_busy_refusals_total", &[]);
            return Err(FlowError::Busy(cap));
        }
        let at = self.journal_failed_ms.load(Ordering::Acquire);
        if at != 0 {
            let now = now_ms();
            if now - at < JOURNAL_PROBE_MS
                || self
                    .journal_failed_ms
                    .compare_exchange(at, now, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return Err(FlowError::JournalUnavailable(StoreError::Db(
                    "recent journal commits failed".into(),
                )));
            }
        }
        Ok(())
    }

    /// Before a new pay or precreate: the state of a cached trade with this
    /// out_trade_no (the same request, or a 409), else admission of a new
    /// trade. When admission refuses, a repeat of a trade the journal holds
    /// still gets its state. `Ok(None)`: go on and create the trade (a trade
    /// only in the journal is then met by the unique insert).
    async fn existing_or_admit(
        &self,
        no: &str,
        kind: crate::trade::Kind,
        fp: &Fingerprint,
        wait: Duration,
    ) -> Result<Option<Trade>, FlowError> {
        let cached = self.trades.get(no).map(|s| s.clone());
        if let Some(slot) = cached {
            if let Some(t) = slot.current().await {
                check_same(&t, kind, fp)?;
                return Ok(Some(self.settled(&slot, wait).await));
            }
        }
        let Err(e) = self.admit_new() else {
            return Ok(None);
        };
        if let Ok(Some(slot)) = self.load_trade(no).await {
            if let Some(t) = slot.current().await {
                check_same(&t, kind, fp)?;
                return Ok(Some(self.settled(&slot, wait).await));
            }
        }
        Err(e)
    }
}

fn check_same(t: &Trade, kind: crate::trade::Kind, fp: &Fingerprint) -> Result<(), FlowError> {
    if t.kind != kind || !fp.matches(&t.fingerprint) {
        return Err(FlowError::Conflict(format!(
            "out_trade_no {} was already used for a different request",
            t.terminal_out_trade_no()
        )));
    }
    Ok(())
}

/// A step boundary of a flow. With the `failpoints` feature (tests only,
/// never in release builds) `FAILPOINTS=<name>=return` makes the process
/// abort right there, as a crash at that instant would.
#[cfg(feature = "failpoints")]
pub(crate) fn boundary(name: &'static str) {
    if fail::eval(name, |_| ()).is_some() {
        tracing::error!(failpoint = name, "failpoint: aborting the process");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn boundary(_name: &'static str) {}

/// Every failpoint boundary name, for the crash matrix
/// (`engine/tests/crash.rs`): with the `failpoints` feature,
/// `FAILPOINTS=<name>=return` aborts the process at that step.
pub const BOUNDARIES: [&str; 9] = [
    "pay_after_send_committed",
    "pay_after_send",
    "pay_after_answer_committed",
    "precreate_after_send_committed",
    "cancel_after_send_committed",
    "cancel_after_send",
    "cancel_after_answer_committed",
    "refund_after_send_committed",
    "refund_after_send",
];
