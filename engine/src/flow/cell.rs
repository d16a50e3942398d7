//! The per-trade cell: apply a change to a copy, commit the copy, then
//! publish it; waiters; eviction once final.
//!
//! Lock protocol (checked by the model in `engine/tests/model.rs`):
//! - `state` is held while a change is applied *and committed*: two changes
//!   of one trade never interleave, and nothing is published before it is
//!   durable (readers see `tx`, the last committed state);
//! - `send_guard` is taken by the creator *before* the trade is visible and
//!   held while this process's pay or precreate request is on the wire: a
//!   cancel or close waits for it, so it can never overtake the payment;
//! - `on_wire` is set under `state` right before the send: a cancel that
//!   takes `state` first stops the send (CLOSED, `never_sent`), a cancel
//!   that takes it after waits for `send_guard`.
//!
//! A commit that fails is retried with back-off (the change stays in
//! memory, unpublished) until it is durable or the switch stops; meanwhile
//! new trades are refused with `journal_unavailable`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{watch, Mutex, Notify, OwnedMutexGuard};

use super::{ev, FlowError, Flows};
use crate::store::{StoreError, Write};
use crate::trade::{now_ms, Phase, Refund, RefundStatus, Status, Trade};

/// How often a terminal's wait re-reads a shared journal for a trade that
/// another node may be driving.
const SHARED_POLL: Duration = Duration::from_millis(50);

pub(crate) struct Slot {
    state: Mutex<Trade>,
    tx: watch::Sender<Trade>,
    /// The trade's creation is durable (a slot whose creation failed is
    /// never seen by anyone).
    durable: AtomicBool,
    pub(super) cancel_running: Arc<Mutex<()>>,
    pub(super) send_guard: Arc<Mutex<()>>,
    /// This process's pay or precreate request has been (or is being) sent.
    on_wire: AtomicBool,
    /// Wakes the running late-landing watch to check at once (a paid
    /// notification); `watch_poke` is set under `state` so that a watch
    /// about to end sees it.
    pub(super) watch_wake: Notify,
    pub(super) watch_poke: AtomicBool,
}

pub(crate) struct RefundSlot {
    pub(super) state: Mutex<Refund>,
    tx: watch::Sender<Refund>,
}

impl Slot {
    fn new(t: Trade, durable: bool) -> Slot {
        let (tx, _) = watch::channel(t.clone());
        Slot {
            state: Mutex::new(t),
            tx,
            durable: AtomicBool::new(durable),
            cancel_running: Arc::new(Mutex::new(())),
            send_guard: Arc::new(Mutex::new(())),
            // A trade read from the journal may have been sent by a process
            // that died: only a trade created here starts as "not sent".
            on_wire: AtomicBool::new(durable),
            watch_wake: Notify::new(),
            watch_poke: AtomicBool::new(false),
        }
    }

    /// The last committed state; `None` for a trade whose creation failed.
    pub(crate) async fn current(&self) -> Option<Trade> {
        if !self.durable.load(Ordering::Acquire) {
            // The creator holds `state` until its insert is durable.
            drop(self.state.lock().await);
            if !self.durable.load(Ordering::Acquire) {
                return None;
            }
        }
        Some(self.tx.borrow().clone())
    }

    /// The committed state without waiting (the caller knows it is durable).
    pub(super) fn published(&self) -> Trade {
        self.tx.borrow().clone()
    }

    /// Waits until no pay or precreate request of this trade is on the wire
    /// (bounded by the gateway's request time-out).
    pub(super) async fn wait_send_done(&self) {
        drop(self.send_guard.lock().await);
    }

    /// Whether this process sent (or is sending) the trade's request.
    pub(super) fn on_wire(&self) -> bool {
        self.on_wire.load(Ordering::Acquire)
    }

    /// Waits until the trade is settled (final, UNKNOWN, WAIT_BUYER_PAY with
    /// nothing in flight) or `wait` elapses; returns the committed state.
    /// What a terminal waits for: a final status, or a settled one with
    /// no request in doubt, or UNKNOWN.
    pub(super) fn is_settled(t: &Trade) -> bool {
        t.status.is_final()
            || (t.status.is_settled() && !matches!(t.phase, Phase::Sending | Phase::CancelPending))
            || (t.status == Status::Unknown)
    }

    pub(crate) async fn wait_settled(&self, wait: Duration) -> Trade {
        let mut rx = self.tx.subscribe();
        let settled = Slot::is_settled;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let t = rx.borrow_and_update();
                if settled(&t) || wait.is_zero() {
                    return t.clone();
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.published();
            }
        }
    }
}

impl RefundSlot {
    pub(super) fn new(r: Refund) -> RefundSlot {
        let (tx, _) = watch::channel(r.clone());
        RefundSlot {
            state: Mutex::new(r),
            tx,
        }
    }

    pub(super) fn published(&self) -> Refund {
        self.tx.borrow().clone()
    }

    pub(super) fn publish(&self, r: Refund) {
        self.tx.send_replace(r);
    }

    pub(super) async fn wait_final(&self, wait: Duration) -> Refund {
        let mut rx = self.tx.subscribe();
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
                return self.published();
            }
        }
    }
}

impl Flows {
    /// The slot of a trade, from the cache or the journal.
    pub(crate) async fn load_trade(&self, no: &str) -> Result<Option<Arc<Slot>>, StoreError> {
        let cached = self.trades.get(no).map(|s| s.clone());
        if let Some(s) = cached {
            self.refresh_shared(&s).await;
            return Ok(Some(s));
        }
        // A point read by primary key on the reader connection: a few
        // microseconds from the page cache, cheaper than a thread hand-off.
        let found = self.store.trade(&self.app_id, no)?;
        Ok(found.map(|t| self.adopt(t)))
    }

    /// Puts a journaled trade in the cache (or returns the cached one).
    pub(super) fn adopt(&self, t: Trade) -> Arc<Slot> {
        self.trades
            .entry(t.out_trade_no.clone())
            .or_insert_with(|| Arc::new(Slot::new(t, true)))
            .clone()
    }

    /// As [`Flows::adopt`], and a cached slot older than `t` (read while
    /// another node drove the trade) is brought up to `t`.
    pub(super) async fn adopt_latest(&self, t: Trade) -> Arc<Slot> {
        let slot = self.adopt(t.clone());
        let mut g = slot.state.lock().await;
        if t.version > g.version {
            self.count(g.status, -1);
            self.count(t.status, 1);
            *g = t.clone();
            slot.tx.send_replace(t);
        }
        drop(g);
        slot
    }

    /// Creates the trade (journaled with its "about to send" event) or
    /// returns the existing one. On creation the send guard is returned,
    /// taken before anyone could see the trade.
    pub(super) async fn create_or_existing(
        &self,
        trade: Trade,
        sending: serde_json::Value,
    ) -> Result<(Arc<Slot>, Option<OwnedMutexGuard<()>>), FlowError> {
        let no = trade.out_trade_no.clone();
        let slot = Arc::new(Slot::new(trade.clone(), false));
        let send = slot
            .send_guard
            .clone()
            .try_lock_owned()
            .expect("a new slot's send guard is free");
        // Lock before publishing: readers wait until the insert is durable.
        let mut guard = slot.state.lock().await;
        match self.trades.entry(no.clone()) {
            dashmap::Entry::Occupied(o) => return Ok((o.get().clone(), None)),
            dashmap::Entry::Vacant(v) => {
                v.insert(slot.clone());
            }
        }
        let writes = vec![
            Write::NewTrade(Box::new(trade.clone())),
            ev(&trade, "created", sending),
        ];
        match self.store.commit(writes).await {
            Ok(()) => {
                self.journal_ok();
                slot.durable.store(true, Ordering::Release);
            }
            Err(StoreError::Exists) => {
                // In the journal but not in the cache (evicted, or from before
                // a restart): this slot becomes that trade.
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
                slot.on_wire.store(true, Ordering::Release);
                slot.durable.store(true, Ordering::Release);
                drop(guard);
                return Ok((slot, None));
            }
            Err(StoreError::Busy) => {
                self.metrics.inc("payswitch_journal_busy_total", &[]);
                self.trades.remove(&no);
                drop(guard);
                return Err(FlowError::JournalBusy);
            }
            Err(e) => {
                self.journal_failed(&e);
                self.trades.remove(&no);
                drop(guard);
                return Err(FlowError::JournalUnavailable(e));
            }
        }
        self.count(trade.status, 1);
        drop(guard);
        Ok((slot, Some(send)))
    }

    /// Marks the trade's request as on the wire, unless a cancel or close
    /// got in first (then the trade is final and nothing may be sent).
    pub(super) async fn begin_send(&self, slot: &Slot) -> bool {
        let g = slot.state.lock().await;
        if g.status.is_final() || g.phase == Phase::CancelPending {
            return false;
        }
        slot.on_wire.store(true, Ordering::Release);
        true
    }

    pub(super) fn journal_ok(&self) {
        if self.journal_failed_ms.load(Ordering::Relaxed) != 0 {
            self.journal_failed_ms.store(0, Ordering::Release);
            tracing::info!("journal commits work again");
        }
    }

    pub(crate) fn journal_failed(&self, e: &StoreError) {
        self.journal_failed_ms.store(now_ms(), Ordering::Release);
        self.metrics.inc("payswitch_journal_failures_total", &[]);
        tracing::error!(error = %e, "journal commit failed");
    }

    /// Commits `writes`, retrying with back-off while the journal fails.
    /// `Err` only when the switch stops or the journal is closed: then
    /// nothing of `writes` is durable and recovery starts from before it.
    pub(super) async fn commit_durable(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut backoff = self.cfg.policy.journal_retry_initial;
        loop {
            match self.store.commit(writes.clone()).await {
                Ok(()) => {
                    self.journal_ok();
                    return Ok(());
                }
                Err(StoreError::Closed) => return Err(StoreError::Closed),
                // Answers, not failures: nothing was applied, retrying changes nothing.
                Err(e @ (StoreError::Stale { .. } | StoreError::Exists)) => return Err(e),
                Err(StoreError::Busy) => {
                    // Behind, not broken: wait for the queue, keep readiness.
                    self.metrics.inc("payswitch_journal_busy_total", &[]);
                    if !self.pause(backoff).await {
                        return Err(StoreError::Busy);
                    }
                    backoff = (backoff * 2).min(self.cfg.policy.journal_retry_max);
                }
                Err(e) => {
                    self.journal_failed(&e);
                    if !self.pause(backoff).await {
                        return Err(e);
                    }
                    backoff = (backoff * 2).min(self.cfg.policy.journal_retry_max);
                }
            }
        }
    }

    /// Applies `f` to a copy of the trade, commits the copy (and `f`'s
    /// events) and only then makes it the trade's state. `f` returning
    /// `None` means no change. A failing journal is retried; `Err` only when
    /// the switch stops meanwhile.
    ///
    /// The copy is the trade's next version ([`Write::TradeNext`]): when
    /// another writer changed the trade first (another node, on a shared
    /// journal), the commit applies nothing, the trade is re-read and `f`
    /// decides again on what is there now.
    pub(crate) async fn update<F>(&self, slot: &Slot, mut f: F) -> Result<Trade, StoreError>
    where
        F: FnMut(&mut Trade) -> Option<Vec<Write>>,
    {
        let mut g = slot.state.lock().await;
        loop {
            let mut t = g.clone();
            let before = t.status;
            let Some(mut extra) = f(&mut t) else {
                return Ok(g.clone());
            };
            t.updated_ms = now_ms();
            t.version = g.version + 1;
            if t.status.is_final() && t.phase != Phase::Watching {
                t.phase = Phase::Idle;
            }
            debug_assert!(
                before.can_move_to(t.status),
                "{} -> {}",
                before.as_str(),
                t.status.as_str()
            );
            debug_assert!(
                t.refunded_amount <= t.total_amount,
                "refunded more than paid"
            );
            if t.status != before {
                extra.push(ev(
                    &t,
                    "state",
                    json!({"from": before.as_str(), "to": t.status.as_str()}),
                ));
            }
            let mut writes = Vec::with_capacity(extra.len() + 2);
            writes.push(Write::TradeNext(Box::new(t.clone())));
            writes.append(&mut extra);
            if t.status != before && t.status.is_final() {
                if let Some(url) = &t.merchant_notify_url {
                    writes.push(self.relay_row(&t, url));
                }
            }
            match self.commit_durable(writes).await {
                Ok(()) => {}
                Err(StoreError::Stale { expected }) => {
                    self.metrics
                        .inc("payswitch_journal_stale_writes_total", &[]);
                    let fresh = self.reread(&t.out_trade_no).await?;
                    tracing::info!(
                        out_trade_no = %t.out_trade_no,
                        expected,
                        found = fresh.version,
                        "trade changed by another writer; deciding again"
                    );
                    self.count(g.status, -1);
                    self.count(fresh.status, 1);
                    *g = fresh.clone();
                    slot.tx.send_replace(fresh);
                    continue;
                }
                Err(e) => return Err(e),
            }
            if t.status != before {
                tracing::info!(
                    from = before.as_str(),
                    to = t.status.as_str(),
                    "trade state"
                );
                self.count(before, -1);
                self.count(t.status, 1);
                if t.status.is_final() && t.merchant_notify_url.is_some() {
                    self.start_relay(&t);
                }
            }
            *g = t.clone();
            slot.tx.send_replace(t.clone());
            return Ok(t);
        }
    }

    /// The journal's current version of a trade (retried while the journal
    /// fails; `Err` only when the switch stops or the trade vanished).
    async fn reread(&self, no: &str) -> Result<Trade, StoreError> {
        let mut backoff = self.cfg.policy.journal_retry_initial;
        loop {
            let store = self.store.clone();
            let (app, key) = (self.app_id.clone(), no.to_owned());
            let r = tokio::task::spawn_blocking(move || store.trade(&app, &key))
                .await
                .map_err(|e| StoreError::Db(e.to_string()))?;
            match r {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => return Err(StoreError::Corrupt(format!("trade {no} vanished"))),
                Err(e) => {
                    self.journal_failed(&e);
                    if !self.pause(backoff).await {
                        return Err(e);
                    }
                    backoff = (backoff * 2).min(self.cfg.policy.journal_retry_max);
                }
            }
        }
    }

    /// On a shared journal, brings a cached trade up to the journal's
    /// version (another node may have changed it). Skipped while a change
    /// of this node is being committed: that change publishes itself.
    pub(crate) async fn refresh_shared(&self, slot: &Slot) {
        if !self.store.shared() {
            return;
        }
        let no = slot.published().out_trade_no;
        let store = self.store.clone();
        let app = self.app_id.clone();
        let Ok(Ok(Some(fresh))) = tokio::task::spawn_blocking(move || store.trade(&app, &no)).await
        else {
            return;
        };
        let Ok(mut g) = slot.state.try_lock() else {
            return;
        };
        if fresh.version > g.version {
            self.count(g.status, -1);
            self.count(fresh.status, 1);
            *g = fresh.clone();
            slot.tx.send_replace(fresh);
        }
    }

    /// Waits up to `wait` for the trade to settle (see [`Slot::wait_settled`]).
    /// On a shared journal another node may be the one driving it: the
    /// journal is read again every [`SHARED_POLL`] meanwhile.
    pub(crate) async fn settled(&self, slot: &Slot, wait: Duration) -> Trade {
        if !self.store.shared() {
            return slot.wait_settled(wait).await;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let t = slot.wait_settled(left.min(SHARED_POLL)).await;
            if left <= SHARED_POLL || Slot::is_settled(&t) {
                return t;
            }
            self.refresh_shared(slot).await;
            let t = slot.published();
            if Slot::is_settled(&t) {
                return t;
            }
        }
    }

    /// Journals events without a state change, in the background (not
    /// awaited by the caller's terminal; retried while the journal fails).
    pub(crate) fn note(&self, t: &Trade, kind: &str, detail: serde_json::Value) {
        self.note_writes(vec![ev(t, kind, detail)]);
    }

    pub(super) fn note_writes(&self, writes: Vec<Write>) {
        let c = self.store.commit(writes.clone());
        let me = self.self_ref();
        tokio::spawn(async move {
            if c.await.is_err() {
                if let Some(me) = me {
                    if let Err(e) = me.commit_durable(writes).await {
                        tracing::error!(error = %e, "journal event lost at shutdown");
                    }
                }
            }
        });
    }

    /// Forgets cached trades and refunds that are final, idle for `idle`,
    /// owe no background work and are referenced by nobody else (the journal
    /// holds them; the next access reloads them).
    ///
    /// On a shared journal a trade nobody here works on (no task holds its
    /// slot) is forgotten too, final or not: another node drives it, and
    /// the next access reads it again from the journal.
    pub fn evict(&self, idle: Duration) {
        let cutoff = now_ms() - i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let shared = self.store.shared();
        self.trades.retain(|_, slot| {
            let t = slot.tx.borrow();
            let unused = Arc::strong_count(slot) == 1 && t.updated_ms < cutoff;
            !(unused && (shared || (t.status.is_final() && t.phase != Phase::Watching)))
        });
        self.refunds.retain(|_, slot| {
            let r = slot.tx.borrow();
            !(Arc::strong_count(slot) == 1
                && r.status != RefundStatus::Unknown
                && r.updated_ms < cutoff)
        });
    }
}
